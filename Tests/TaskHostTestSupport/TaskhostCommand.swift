import Foundation

/// The `taskhost` executable run once, as a user runs it.
public enum TaskhostCommand {
    /// What a run printed and how it ended.
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `taskhost arguments` in `directory` with `TASKHOST_STATE_DIR` set to
    /// `stateDirectory` (and `environment` added), and waits for it to exit.
    public static func run(
        _ arguments: [String], in directory: String, stateDirectory: String, environment: [String: String] = [:]
    ) throws -> Result {
        let process = start(arguments, in: directory, stateDirectory: stateDirectory, environment: environment)
        let outPath = stateDirectory + "/.out-" + UUID().uuidString, errPath = outPath + ".err"
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try process.run()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    /// A `taskhost arguments` process, configured but not started.
    public static func start(
        _ arguments: [String], in directory: String, stateDirectory: String, environment added: [String: String] = [:]
    ) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestSupport.taskhostPath)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        environment["TASKHOST_STATE_DIR"] = stateDirectory
        environment.merge(added) { $1 }
        process.environment = environment
        return process
    }
}
