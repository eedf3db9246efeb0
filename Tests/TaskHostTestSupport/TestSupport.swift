import Foundation
package import TaskHostIPC
package import TaskHostManifest
package import TaskHostPlugins
package import TaskHostStore

/// Paths of the build products the integration tests load, and small helpers
/// shared by the test suites.
package enum TestSupport {
    /// The directory holding `taskhost`, `taskhost-worker`, the plugins and the test bundle.
    package static let buildDirectory: String = {
        var candidates: [String] = []
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append((executable as NSString).deletingLastPathComponent)
        }
        candidates.append(repository + "/.build/debug")
        for directory in candidates where FileManager.default.isExecutableFile(atPath: directory + "/taskhost-worker") {
            return directory
        }
        fatalError("cannot find taskhost-worker in \(candidates); run the tests with `swift test`")
    }()

    /// The repository's root.
    package static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    package static var workerPath: String { buildDirectory + "/taskhost-worker" }
    package static var taskhostPath: String { buildDirectory + "/taskhost" }
    package static var faultyTasks: String { buildDirectory + "/libFaultyTasks.so" }
    package static var sampleTasks: String { buildDirectory + "/libBackgroundTasks.so" }
    package static var mismatchedPlugin: String { buildDirectory + "/libMismatchedPlugin.so" }
    package static var crashingConstructor: String { buildDirectory + "/libCrashingConstructor.so" }
    package static var hangingConstructor: String { buildDirectory + "/libHangingConstructor.so" }
    package static var cPushCounter: String { buildDirectory + "/libCPushCounter.so" }
    package static var cFaultyTasks: String { buildDirectory + "/libCFaultyTasks.so" }

    /// A C task (`"Abi": "c"`) calling `symbol` in `library`.
    package static func cTask(
        _ name: String, _ symbol: String, signature: CSignature = .default, library: String = cFaultyTasks,
        triggers: [TriggerDeclaration] = [.application], timeLimit: Duration = .seconds(30), grace: Duration = .seconds(5)
    ) -> TaskDeclaration {
        TaskDeclaration(
            name: name, entryPoint: symbol, abi: .c(signature: signature), library: library, triggers: triggers,
            timeLimit: timeLimit, cancellationGracePeriod: grace, capabilities: [], position: SourcePosition(line: 1, column: 1))
    }

    /// A fresh temporary directory.
    package static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "taskhost-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A fresh store in a temporary state directory.
    package static func store() throws -> SQLiteTaskStore {
        try SQLiteTaskStore(stateDirectory: StateDirectory(path: temporaryDirectory()))
    }

    /// A task declaration for `entryPoint` in `library`.
    package static func task(
        _ name: String, _ entryPoint: String, library: String = faultyTasks, triggers: [TriggerDeclaration] = [.application],
        timeLimit: Duration = .seconds(30), grace: Duration = .seconds(5)
    ) -> TaskDeclaration {
        TaskDeclaration(
            name: name, entryPoint: entryPoint, library: library, triggers: triggers, timeLimit: timeLimit,
            cancellationGracePeriod: grace, capabilities: [], position: SourcePosition(line: 1, column: 1))
    }

    /// An app declaring `tasks`.
    package static func app(_ tasks: [TaskDeclaration], name: String = "com.example.tests") -> AppManifest {
        AppManifest(path: "manifest.json", identity: AppIdentity(name: name, version: "1"), tasks: tasks)
    }

    /// A registry of `tasks` in one app.
    package static func registry(_ tasks: [TaskDeclaration], app name: String = "com.example.tests") -> TaskRegistry {
        let manifest = app(tasks, name: name)
        return TaskRegistry(tasks.map { RegisteredTask(app: manifest, task: $0, libraryPath: $0.library) })
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
    package static func eventually(timeout: Duration = .seconds(120), _ condition: () throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try condition()
    }
}

/// A deterministic generator (SplitMix64), so a failure can be replayed from its seed.
package struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
