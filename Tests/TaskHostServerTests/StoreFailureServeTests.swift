import Foundation
import GRDB
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

/// `taskhost serve` and a store that fails: damaged or emptied at start
/// (refused), or failing while it serves (logged, a line per class and interval).
@Suite(.serialized) struct StoreFailureServeTests {
    /// Runs `taskhost serve` on `stateDirectory` until it exits (at most `timeout`);
    /// nil when it was still running (then it is killed).
    static func serveUntilExit(stateDirectory: String, timeout: Duration = .seconds(60)) async throws -> (
        status: Int32, stdout: String, stderr: String
    )? {
        let directory = TestSupport.temporaryDirectory()
        let process = TaskHostCommand.start(["serve", "--port", "0"], in: directory, stateDirectory: stateDirectory)
        let outPath = directory + "/serve.out"
        let errPath = directory + "/serve.err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try process.run()
        guard await TestSupport.eventually(timeout: timeout, { !process.isRunning }) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        return (
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        )
    }

    @Test func serveRefusesADamagedStoreNamingTheFileAndWhatToDo() async throws {
        let state = TestSupport.temporaryDirectory()
        let path = try StoreDamage.corruptedStore(in: state)
        let result = try #require(try await Self.serveUntilExit(stateDirectory: state), "serve ran on a damaged store")
        #expect(result.status != 0)
        #expect(result.stderr.contains("the store \(path) is damaged") && result.stderr.contains("quick_check"), "\(result.stderr)")
        #expect(result.stderr.contains("restore the database from a backup") && result.stderr.contains(".recover"), "\(result.stderr)")
        #expect(!result.stdout.contains("listening"), "\(result.stdout)")
    }

    @Test func serveRefusesAnEmptyDatabaseFile() async throws {
        let state = TestSupport.temporaryDirectory()
        let path = StateDirectory(path: state).databasePath
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        let result = try #require(try await Self.serveUntilExit(stateDirectory: state), "serve ran on an empty database file")
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(path) exists but is empty (0 bytes)") && result.stderr.contains("rm \(path)"), "\(result.stderr)")
    }

    /// Another process holds the database's write lock past the busy timeout
    /// (10 s): the push is answered 503 and serve logs one line for it.
    @Test func aPushTheStoreCannotTakeIsAnswered503AndLogged() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Echo", "FaultyTasks.AsyncEchoTask", "")])
        let (store, channel, token) = try ServeProcessTests.prepare(directory, task: "Echo")
        _ = store
        let server = try ServeProcess(manifest: manifest, stateDirectory: directory, arguments: ["--no-dispatch"])
        defer { _ = server.terminate() }
        #expect(await ServeProcessTests.push(port: server.port, channel: channel.id, token: token, content: "before") == 200)

        // The write lock, held on a thread of its own until released.
        let locked = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let holder = Thread {
            do {
                let queue = try DatabaseQueue(path: StateDirectory(path: directory).databasePath)
                try queue.inTransaction(.immediate) { _ in
                    locked.signal()
                    release.wait()
                    return .rollback
                }
            } catch {
                Issue.record("cannot hold the write lock: \(error)")
                locked.signal()
            }
        }
        holder.start()
        locked.wait()
        let status = await ServeProcessTests.push(port: server.port, channel: channel.id, token: token, content: "locked out")
        release.signal()
        #expect(status == 503)
        let logged = await TestSupport.eventually(timeout: .seconds(40)) {
            server.errors.contains("store failures answered 500/503: 1 failure(s) (busy) in the last 10 s; first: ")
        }
        #expect(logged, "\(server.errors)")
        #expect(server.errors.components(separatedBy: "store failures answered").count == 2, "one line: \(server.errors)")
        #expect(await ServeProcessTests.push(port: server.port, channel: channel.id, token: token, content: "after") == 200)
    }
}
