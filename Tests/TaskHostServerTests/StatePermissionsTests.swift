import Foundation
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

/// Whatever the umask, what `taskhost serve` creates in its state directory
/// is its owner's alone: directories 0700, files without group or other bits
/// (staged plugin libraries: without group or other write bits).
@Suite(.serialized) struct StatePermissionsTests {
    /// `taskhost arguments` under `umask 000`, started in `directory` on `state`.
    static func underUmask000(_ arguments: [String], in directory: String, state: String) -> ChildProcess {
        let process = TaskHostCommand.start(arguments, in: directory, stateDirectory: state)
        process.arguments = ["-c", "umask 000; exec \"$0\" \"$@\"", TestSupport.taskhostPath] + arguments
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        return process
    }

    @Test func underUmask000EverythingServeCreatesIsPrivate() async throws {
        let directory = TestSupport.temporaryDirectory()
        let state = directory + "/state"  // serve creates it
        let outPath = directory + "/serve.out"
        let errPath = directory + "/serve.err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let serve = Self.underUmask000(["serve", "--port", "0", "--plugins-poll", "0.1"], in: directory, state: state)
        serve.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        serve.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try serve.run()
        defer {
            kill(serve.processIdentifier, SIGTERM)
            serve.waitUntilExit()
        }
        func errors() -> String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }
        let listening = await TestSupport.eventually {
            ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "").contains("listening on")
                && FileManager.default.fileExists(atPath: state + "/plugins")
        }
        try #require(listening, "serve did not start: \(errors())")

        // A plugin dropped in (the folder is the user's, made with the test's
        // umask), staged by serve, and run once: hosts/, work/ and the copy.
        let folder = state + "/plugins/probe"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data(contentsOf: URL(fileURLWithPath: TestSupport.faultyTasks)).write(to: URL(fileURLWithPath: folder + "/libProbe.so"))
        try """
        {"Identity": {"Name": "com.test.probe", "Version": "1.0"}, "BackgroundTasks": [
         {"Name": "Slow", "TaskEntryPoint": "FaultyTasks.SlowTask", "Library": "Probe", "Triggers": [{"Type": "Application"}]}]}
        """.write(toFile: folder + "/manifest.json", atomically: false, encoding: .utf8)
        let store = try SQLiteTaskStore(path: StateDirectory(path: state).databasePath)
        #expect(try await TestSupport.eventually(timeout: .seconds(30)) { try store.plugins().first?.state == .active }, "\(errors())")
        let trigger = Self.underUmask000(["trigger", "Slow", "--arg", "ms=10"], in: directory, state: state)
        try trigger.run()
        trigger.waitUntilExit()
        #expect(trigger.terminationStatus == 0)
        #expect(
            try await TestSupport.eventually {
                try store.setting(app: "com.test.probe", key: "SlowTask")?.value.description == "finished after 10 ms"
            },
            "\(errors())")

        for created in ["", "/plugins", "/plugin-versions", "/hosts", "/work", "/taskhost.sqlite", "/taskhost.sqlite-wal", "/host.lock"] {
            #expect(FileManager.default.fileExists(atPath: state + created), "serve did not create \(created); the walk would not see it")
        }
        // Staged libraries stay readable (the sandbox user loads them through
        // a descriptor) but not writable; their directories are private.
        #expect(StoreDamage.looseEntries(under: state, skipping: [folder], readable: state + "/plugin-versions") == [])
        let staged = try #require(try store.plugins().first?.stagedPath)
        #expect(StoreDamage.mode(staged + "/libProbe.so").map { $0 & 0o022 } == 0)
        for file in ["/taskhost.sqlite", "/taskhost.sqlite-wal", "/taskhost.sqlite-shm"] {
            #expect(StoreDamage.mode(state + file) == 0o600, "\(file)")
        }
    }
}
