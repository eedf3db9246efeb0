import Foundation
package import TaskHostIPC

/// An app's manifest: its identity and the background tasks it declares.
///
/// ```json
/// {
///   "Identity": { "Name": "com.example.rawpush", "Version": "1.0.0" },
///   "BackgroundTasks": [
///     { "Name": "SampleBackgroundTask",
///       "TaskEntryPoint": "BackgroundTasks.SampleBackgroundTask",
///       "Library": "BackgroundTasks",
///       "Triggers": [ { "Type": "PushNotification" } ] }
///   ]
/// }
/// ```
package struct AppManifest: Sendable, Equatable {
    /// The file the manifest was read from, as given.
    package var path: String
    /// The app's identity; settings are scoped by its name.
    package var identity: AppIdentity
    /// The declared tasks, in file order.
    package var tasks: [TaskDeclaration]

    /// Creates a manifest (``load(path:)`` reads one from a file).
    package init(path: String, identity: AppIdentity, tasks: [TaskDeclaration]) {
        self.path = path
        self.identity = identity
        self.tasks = tasks
    }

    /// The directory holding the manifest: relative library paths start here.
    package var directory: String {
        (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
    }

    /// The task declared with `name`.
    package func task(named name: String) -> TaskDeclaration? {
        tasks.first { $0.name == name }
    }
}

/// Who the app is.
package struct AppIdentity: Sendable, Equatable {
    /// A reverse-DNS name such as `com.example.rawpush`.
    package var name: String
    /// The app's version, free-form.
    package var version: String?

    /// Creates an identity.
    package init(name: String, version: String? = nil) {
        self.name = name
        self.version = version
    }
}

/// How the host calls a task's code: the manifest's `"Abi"`.
package enum TaskABI: Sendable, Equatable {
    /// `"Abi": "swift"` (the default): a `BackgroundTask` class, named by
    /// `TaskEntryPoint`, run through the library's `taskhost_plugin_v1` descriptor.
    case swift
    /// `"Abi": "c"`: a plain C function, named by `Symbol`, called through
    /// libffi with the parameters its `Signature` lists (`taskhost_c_task.h`).
    case c(signature: CSignature)

    /// The manifest's spelling: `swift` or `c`.
    package var name: String {
        switch self {
        case .swift: "swift"
        case .c: "c"
        }
    }
}

/// One `BackgroundTasks` entry.
package struct TaskDeclaration: Sendable, Equatable {
    /// The task's name, unique in the manifest; what `taskhost run` takes.
    package var name: String
    /// What the host calls: `Module.Class`, the Swift class that implements
    /// the task (`TaskEntryPoint`); for a C task (``abi`` is ``TaskABI/c(signature:)``),
    /// the C function's symbol (`Symbol`).
    package var entryPoint: String
    /// How the host calls ``entryPoint``: a Swift class or a C function.
    package var abi: TaskABI
    /// The library that holds the class: a name (`BackgroundTasks` finds
    /// `libBackgroundTasks.so`) or a path relative to the manifest.
    package var library: String
    /// What starts the task.
    package var triggers: [TriggerDeclaration]
    /// How long an instance may run before it is canceled with
    /// `ExecutionTimeExceeded`.
    package var timeLimit: Duration
    /// How long a canceled instance has to finish before it is killed.
    package var cancellationGracePeriod: Duration
    /// What the task may do beyond the default sandbox.
    package var capabilities: [Capability]
    /// Resource limits of each instance.
    package var limits: ResourceLimits
    /// What must hold for a trigger of the task to run (`"Conditions"`); in
    /// manifest order, without duplicates. A trigger fired while one does not
    /// hold waits in the queue's `waiting` state.
    package var conditions: [TaskCondition]
    /// Where the entry starts in the manifest.
    package var position: SourcePosition
    /// How long a push waits, while a listener that claims is connected to
    /// the app (`GET /listen/v1/APP?claim=true`), for that listener to claim it
    /// before it is dispatched (`"ClaimWindowMs"`, default 100 ms; zero:
    /// listeners only observe, the push is dispatched at once).
    package var claimWindow: Duration = TaskDeclaration.defaultClaimWindow

    /// The default claim window: 100 ms.
    package static let defaultClaimWindow: Duration = .milliseconds(100)

    /// Creates a declaration. For a C task, `entryPoint` is the symbol and
    /// `abi` is ``TaskABI/c(signature:)``.
    package init(
        name: String, entryPoint: String, abi: TaskABI = .swift, library: String, triggers: [TriggerDeclaration],
        timeLimit: Duration = AppManifest.defaultTimeLimit, cancellationGracePeriod: Duration = AppManifest.defaultGracePeriod,
        capabilities: [Capability] = [], limits: ResourceLimits = ResourceLimits(), conditions: [TaskCondition] = [],
        position: SourcePosition = SourcePosition(line: 1, column: 1)
    ) {
        self.name = name
        self.entryPoint = entryPoint
        self.abi = abi
        self.library = library
        self.triggers = triggers
        self.timeLimit = timeLimit
        self.cancellationGracePeriod = cancellationGracePeriod
        self.capabilities = capabilities
        self.limits = limits
        self.conditions = conditions
        self.position = position
    }

    /// The C symbol to call, for a C task; `nil` for a Swift task.
    package var symbol: String? {
        if case .c = abi { return entryPoint }
        return nil
    }

    /// How to call the C function, for a C task; `nil` for a Swift task.
    package var cSignature: CSignature? {
        if case .c(let signature) = abi { return signature }
        return nil
    }

    /// What the task runs, as messages name it: `BackgroundTasks.Sample` or
    /// `C function on_push: int32 (instance, host)`.
    package var entryPointDescription: String {
        switch abi {
        case .swift: entryPoint
        case .c(let signature): "C function \(entryPoint): \(signature)"
        }
    }
}

/// Per-instance resource limits (the manifest's `Limits`), enforced with
/// rlimits in the worker before the plugin loads.
package struct ResourceLimits: Sendable, Equatable {
    /// CPU seconds; `nil`: the time limit plus the grace period, rounded up.
    package var cpuSeconds: Int?
    /// Writable memory (heap, anonymous mappings), in MiB.
    package var memoryMB: Int
    /// Open descriptors.
    package var openFiles: Int
    /// Processes and threads of the sandbox user.
    package var processes: Int
    /// Largest file the task may write, in MiB.
    package var fileSizeMB: Int

    /// The defaults: 1 GiB of memory, 256 files, 128 processes, 64 MiB files.
    package init(cpuSeconds: Int? = nil, memoryMB: Int = 1024, openFiles: Int = 256, processes: Int = 128, fileSizeMB: Int = 64) {
        self.cpuSeconds = cpuSeconds
        self.memoryMB = memoryMB
        self.openFiles = openFiles
        self.processes = processes
        self.fileSizeMB = fileSizeMB
    }
}

/// What starts a task.
package enum TriggerDeclaration: Sendable, Equatable, CustomStringConvertible {
    /// A raw push notification on one of the task's channels.
    case pushNotification
    /// `taskhost trigger` or `taskhost run`, from the app itself.
    case application
    /// A timer: every `intervalMinutes`, or once after it when `oneShot`.
    case time(intervalMinutes: Int, oneShot: Bool)
    /// A Web Push message on one of the task's subscriptions.
    case webPush

    /// The trigger as the manifest spells its type, with its parameters.
    package var description: String {
        switch self {
        case .pushNotification: "PushNotification"
        case .application: "Application"
        case .time(let minutes, let oneShot): "Time(every \(minutes) min\(oneShot ? ", once" : ""))"
        case .webPush: "WebPush"
        }
    }
}

/// Permissions a task may declare.
package enum Capability: String, Sendable, CaseIterable {
    /// The task may open network connections (Windows' `internetClient`).
    case internetClient
}
