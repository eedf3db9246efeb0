import Foundation
import Synchronization
package import TaskHostManifest

/// A task the host can run: its declaration, its app, and its library.
package struct RegisteredTask: Sendable, Equatable {
    /// The manifest that declares the task.
    package var app: AppManifest
    /// The task's declaration in that manifest.
    package var task: TaskDeclaration
    /// The resolved path of the task's library.
    package var libraryPath: String
    /// The drop-in plugin folder it comes from; `nil` for the root manifest's tasks.
    package var plugin: String?

    /// Creates a registration.
    package init(app: AppManifest, task: TaskDeclaration, libraryPath: String, plugin: String? = nil) {
        self.app = app
        self.task = task
        self.libraryPath = libraryPath
        self.plugin = plugin
    }
}

/// The tasks a running host knows, by app and name. Safe to read from any
/// thread, and replaceable while the host runs.
package final class TaskRegistry: Sendable {
    private let tasks: Mutex<[String: RegisteredTask]>
    private let parked = Mutex<Set<String>>([])
    /// Disabled tasks whose triggers are parked, by app.
    private let parkedTasks = Mutex<[String: Set<String>]>([:])
    /// Bumped by each change of the registered tasks; and who to tell.
    private let changes = Mutex<(generation: Int, observers: [@Sendable () -> Void])>((0, []))

    /// A registry holding `tasks`.
    package init(_ tasks: [RegisteredTask] = []) {
        self.tasks = Mutex(Dictionary(tasks.map { (Self.key($0.app.identity.name, $0.task.name), $0) }) { first, _ in first })
    }

    /// Registers every task of `manifest`, resolving their libraries; throws
    /// the manifest's problems when a library cannot be found.
    package static func load(manifest: AppManifest, resolver: LibraryResolver) throws(ManifestError) -> TaskRegistry {
        var registered: [RegisteredTask] = []
        var problems: [ManifestProblem] = []
        for task in manifest.tasks {
            switch resolver.resolve(task.library, manifestDirectory: manifest.directory) {
            case .success(let path): registered.append(RegisteredTask(app: manifest, task: task, libraryPath: path))
            case .failure(let notFound):
                problems.append(ManifestProblem(position: task.position, task: task.name, message: notFound.description))
            }
        }
        guard problems.isEmpty else { throw ManifestError(file: manifest.path, problems: problems) }
        return TaskRegistry(registered)
    }

    private static func key(_ app: String, _ task: String) -> String { app + "\u{0}" + task }

    /// The task `task` of `app`.
    package func lookup(app: String, task: String) -> RegisteredTask? {
        tasks.withLock { $0[Self.key(app, task)] }
    }

    /// Registers `tasks` as plugin `plugin`'s, replacing what it registered before.
    package func replace(plugin: String, with tasks: [RegisteredTask]) {
        self.tasks.withLock { registered in
            registered = registered.filter { $0.value.plugin != plugin }
            for task in tasks { registered[Self.key(task.app.identity.name, task.task.name)] = task }
        }
        changed()
    }

    /// Unregisters plugin `plugin`'s tasks and returns them.
    @discardableResult
    package func remove(plugin: String) -> [RegisteredTask] {
        let removed = tasks.withLock { registered in
            let removed = registered.values.filter { $0.plugin == plugin }
            registered = registered.filter { $0.value.plugin != plugin }
            return removed
        }
        if !removed.isEmpty { changed() }
        return removed
    }

    /// A number that changes whenever tasks are registered or unregistered
    /// (the dispatcher unparks the triggers of tasks registered since it last looked).
    package var generation: Int { changes.withLock { $0.generation } }

    /// Calls `observer` after each change of the registered tasks (it must
    /// not block: it runs on the thread that changed them).
    package func observeChanges(_ observer: @escaping @Sendable () -> Void) {
        changes.withLock { $0.observers.append(observer) }
    }

    private func changed() {
        let observers = changes.withLock { changes in
            changes.generation += 1
            return changes.observers
        }
        for observer in observers { observer() }
    }

    /// Whether plugin `plugin` has tasks registered.
    package func hasTasks(ofPlugin plugin: String) -> Bool {
        tasks.withLock { $0.values.contains { $0.plugin == plugin } }
    }

    /// Whether an app other than plugin `plugin` registered tasks under `identity`.
    package func identityInUse(_ identity: String, byOtherThan plugin: String) -> RegisteredTask? {
        tasks.withLock { registered in
            registered.values.first { $0.app.identity.name == identity && $0.plugin != plugin }
        }
    }

    /// Apps whose triggers wait in the queue rather than run or dead-letter:
    /// the identities of plugins that are disabled or quarantined.
    package var parkedApps: Set<String> { parked.withLock { $0 } }

    /// Whether the triggers of `task` of `app` wait in the queue rather than
    /// run or dead-letter: its app is parked, or the task is disabled.
    package func isParked(app: String, task: String) -> Bool {
        parkedApps.contains(app) || parkedTasks.withLock { $0[app]?.contains(task) == true }
    }

    /// The disabled tasks of `app` whose triggers are parked (replacing the previous set).
    package func setParkedTasks(_ app: String, _ names: Set<String>) {
        parkedTasks.withLock { $0[app] = names.isEmpty ? nil : names }
    }

    /// Parks (or unparks) the triggers of app `identity`.
    package func setParked(_ identity: String, _ isParked: Bool) {
        parked.withLock { if isParked { $0.insert(identity) } else { $0.remove(identity) } }
    }

    /// Every registered task, by app then name.
    package var all: [RegisteredTask] {
        tasks.withLock { Array($0.values) }.sorted { ($0.app.identity.name, $0.task.name) < ($1.app.identity.name, $1.task.name) }
    }
}
