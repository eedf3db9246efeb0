import Foundation

/// The `taskhost` executable run once, as a user runs it.
package enum TaskHostCommand {
    /// What a run printed and how it ended.
    package struct Result: Sendable {
        package var status: Int32
        package var stdout: String
        package var stderr: String
    }

    /// Runs `taskhost arguments` in `directory` with `TASKHOST_STATE_DIR` set to
    /// `stateDirectory` (and `environment` added), and waits for it to exit.
    package static func run(
        _ arguments: [String], in directory: String, stateDirectory: String, environment: [String: String] = [:]
    ) throws -> Result {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let outPath = stateDirectory + "/.out-" + UUID().uuidString
        let errPath = outPath + ".err"
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        let process = start(arguments, in: directory, stateDirectory: stateDirectory, environment: environment)
        process.standardOutputDestination = .file(outPath)
        process.standardErrorDestination = .file(errPath)
        try process.run()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: process.readBlocking(.output),
            stderr: process.readBlocking(.error))
    }

    /// A `taskhost arguments` process, configured but not started (a
    /// ``ChildProcess``: set its outputs, then `run()` it).
    package static func start(
        _ arguments: [String], in directory: String, stateDirectory: String, environment added: [String: String] = [:]
    ) -> ChildProcess {
        ChildProcess(
            TestSupport.taskhostPath, arguments: arguments,
            overrides: ["TASKHOST_STATE_DIR": stateDirectory].merging(added) { $1 }, workingDirectory: directory)
    }
}
