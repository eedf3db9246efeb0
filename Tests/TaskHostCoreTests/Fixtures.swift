import Foundation
@testable import TaskHostCore

/// Paths of the build products the integration tests load, and helpers to
/// write manifests and state directories for them.
enum Fixtures {
    /// The directory holding `taskhost-worker`, the plugins and this test bundle.
    static let buildDirectory: String = {
        var candidates: [String] = []
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append((executable as NSString).deletingLastPathComponent)
        }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        candidates.append(repository + "/.build/debug")
        for directory in candidates where FileManager.default.isExecutableFile(atPath: directory + "/taskhost-worker") {
            return directory
        }
        fatalError("cannot find taskhost-worker in \(candidates); run the tests with `swift test`")
    }()

    static var workerPath: String { buildDirectory + "/taskhost-worker" }
    static var faultyTasks: String { buildDirectory + "/libFaultyTasks.so" }
    static var sampleTasks: String { buildDirectory + "/libBackgroundTasks.so" }
    static var mismatchedPlugin: String { buildDirectory + "/libMismatchedPlugin.so" }

    /// A fresh temporary directory.
    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "taskhost-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A task declaration for `entryPoint` in `library`.
    static func task(
        _ name: String, _ entryPoint: String, library: String = faultyTasks, timeLimit: Duration = .seconds(30),
        grace: Duration = .seconds(5)
    ) -> TaskDeclaration {
        TaskDeclaration(
            name: name, entryPoint: entryPoint, library: library, triggers: [.application], timeLimit: timeLimit,
            cancellationGracePeriod: grace, capabilities: [], position: SourcePosition(line: 1, column: 1))
    }

    static func app(_ tasks: [TaskDeclaration], name: String = "com.example.tests") -> AppManifest {
        AppManifest(path: "manifest.json", identity: AppIdentity(name: name, version: "1"), tasks: tasks)
    }

    /// A runner over a fresh store.
    static func runner() throws -> TaskRunner {
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: temporaryDirectory()))
        return TaskRunner(store: store, workerPath: workerPath)
    }
}

extension TaskRunner {
    /// Runs `task` (declared alone in its app) and returns the record.
    func run(_ task: TaskDeclaration, trigger: TriggerEvent = .application(), cancellation: InstanceCancellation? = nil)
        async throws -> InstanceRecord
    {
        try await run(
            app: Fixtures.app([task]), task: task, libraryPath: task.library, trigger: trigger, cancellation: cancellation)
    }
}
