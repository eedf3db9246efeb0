import Foundation
import TaskHostTestSupport

/// `taskhost serve` as a separate process, so tests can kill it.
final class ServeProcess: @unchecked Sendable {
    /// The `serve` child (or its launcher); `Process`'s names work on it.
    let process: ChildProcess
    let stateDirectory: String
    let outPath: String
    let errPath: String
    private(set) var port = 0

    /// Starts `taskhost serve --port 0` in `stateDirectory` and waits until it
    /// listens; without `manifest`, it runs the drop-in plugins only. With a
    /// `launcher` (e.g. `prlimit --nofile=256:256`), that command runs it.
    /// `environment` is set on top of the test process's environment.
    init(
        manifest: String?, stateDirectory: String, arguments: [String] = [], launcher: [String] = [], environment: [String: String] = [:]
    ) throws {
        self.stateDirectory = stateDirectory
        outPath = stateDirectory + "/serve-\(UUID().uuidString).out"
        errPath = outPath + ".err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let serve = ["serve", "--port", "0", "--state-dir", stateDirectory] + (manifest.map { ["--manifest", $0] } ?? []) + arguments
        process = try ChildProcess.start(
            launcher.first ?? TestSupport.taskhostPath,
            arguments: launcher.isEmpty ? serve : Array(launcher.dropFirst()) + [TestSupport.taskhostPath] + serve,
            overrides: environment,
            workingDirectory: stateDirectory, output: .file(outPath), error: .file(errPath))
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let line = output.split(separator: "\n").first(where: { $0.hasPrefix("taskhost: listening on http://") }),
                let port = line.split(separator: ":").last.flatMap({ Int($0) })
            {
                self.port = port
                return
            }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        process.terminate()
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "serve did not start: \(errors)"])
    }

    /// Runs the `taskhost` CLI against `stateDirectory` (except `push`, which
    /// talks HTTP); returns its status, standard output and standard error.
    static func taskhost(_ arguments: [String], stateDirectory: String) throws -> (status: Int32, out: String, err: String) {
        let process = try ChildProcess.start(
            TestSupport.taskhostPath, arguments: arguments + (arguments.first == "push" ? [] : ["--state-dir", stateDirectory]),
            workingDirectory: stateDirectory, output: .pipe, error: .pipe)
        let stdout = process.readBlocking(.output)
        let stderr = process.readBlocking(.error)
        process.waitUntilExit()
        return (process.terminationStatus, stdout, stderr)
    }

    var output: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    /// Kills the server without warning, as a crash or power loss would.
    func kill9() {
        process.signal(SIGKILL)
        process.waitUntilExit()
    }

    /// Asks for a graceful shutdown; returns the exit status, or nil if it did not exit within `timeout`.
    func terminate(timeout: TimeInterval = 20) -> Int32? {
        process.signal(SIGTERM)
        guard process.waitBlocking(timeout: timeout) != nil else {
            process.signal(SIGKILL)
            return nil
        }
        return process.terminationStatus
    }

    /// Writes a manifest for tasks in the faulty-tasks fixture library.
    static func manifest(in directory: String, _ tasks: [(name: String, entryPoint: String, extra: String)]) throws -> String {
        let entries = tasks.map { task in
            """
            {"Name": "\(task.name)", "TaskEntryPoint": "\(task.entryPoint)", "Library": "\(TestSupport.faultyTasks)",
             "Triggers": [{"Type": "PushNotification"}]\(task.extra)}
            """
        }
        let path = directory + "/manifest.json"
        try """
        {"Identity": {"Name": "com.example.tests"}, "BackgroundTasks": [\(entries.joined(separator: ",\n"))]}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
