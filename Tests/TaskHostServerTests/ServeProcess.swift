import Foundation
import TaskHostTestSupport

/// `taskhost serve` as a separate process, so tests can kill it.
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let stateDirectory: String
    let outPath: String
    let errPath: String
    private(set) var port = 0

    /// Starts `taskhost serve --port 0` in `stateDirectory` and waits until it
    /// listens; without `manifest`, it runs the drop-in plugins only. With a
    /// `launcher` (e.g. `prlimit --nofile=256:256`), that command runs it.
    init(manifest: String?, stateDirectory: String, arguments: [String] = [], launcher: [String] = []) throws {
        self.stateDirectory = stateDirectory
        outPath = stateDirectory + "/serve-\(UUID().uuidString).out"
        errPath = outPath + ".err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let serve = ["serve", "--port", "0", "--state-dir", stateDirectory] + (manifest.map { ["--manifest", $0] } ?? []) + arguments
        process.executableURL = URL(fileURLWithPath: launcher.first ?? TestSupport.taskhostPath)
        process.arguments = launcher.isEmpty ? serve : Array(launcher.dropFirst()) + [TestSupport.taskhostPath] + serve
        process.currentDirectoryURL = URL(fileURLWithPath: stateDirectory)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try process.run()
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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestSupport.taskhostPath)
        process.arguments = arguments + (arguments.first == "push" ? [] : ["--state-dir", stateDirectory])
        process.currentDirectoryURL = URL(fileURLWithPath: stateDirectory)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stdout, stderr)
    }

    var output: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    /// Kills the server without warning, as a crash or power loss would.
    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Asks for a graceful shutdown; returns the exit status, or nil if it did not exit within `timeout`.
    func terminate(timeout: TimeInterval = 20) -> Int32? {
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
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
