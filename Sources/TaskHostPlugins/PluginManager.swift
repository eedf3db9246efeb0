import Foundation
package import Logging
import Synchronization
import TaskHostConcurrency
package import TaskHostIsolation
import TaskHostManifest
import TaskHostShared
package import TaskHostStore

/// Keeps the task registry in step with the drop-in plugins directory.
///
/// Each folder of the directory is a plugin: a `manifest.json` and its
/// libraries. A folder that appears is installed once its files have stopped
/// changing for one poll: it is copied ("staged") into the state directory,
/// its manifest is validated, its libraries are loaded in a sandboxed
/// scanner process and its entry points checked, and its tasks are
/// registered under its manifest's identity. A folder that changes is
/// installed again as a new version (instances already running keep the old
/// copy); a folder that is removed has its tasks unregistered and their
/// running instances canceled with `Uninstall`. A plugin that cannot be used
/// is quarantined with its reason until one of its files changes; a task
/// that crashes too often (``CrashPolicy``) is disabled alone (its triggers
/// parked, the plugin's other tasks running on) until
/// `taskhost plugins enable PLUGIN/TASK`. States live in the store, so they
/// survive a restart and the CLI can read and change them.
package final class PluginManager: Sendable {
    /// Where to look, and how.
    package struct Configuration: Sendable {
        /// The drop-in directory.
        package var directory: String
        /// Where versions in use are copied.
        package var stagingDirectory: String
        /// How often the directory is looked at.
        package var pollInterval: Duration
        /// When a crashing plugin is disabled.
        package var crashPolicy: CrashPolicy

        /// Creates a configuration.
        package init(
            directory: String, stagingDirectory: String, pollInterval: Duration = .seconds(1), crashPolicy: CrashPolicy = CrashPolicy()
        ) {
            self.directory = directory
            self.stagingDirectory = stagingDirectory
            self.pollInterval = pollInterval
            self.crashPolicy = crashPolicy
        }
    }

    struct State {
        /// Each folder's fingerprint at the previous scan.
        var seen: [String: String] = [:]
        /// Recent crashes, by task.
        var crashes: [CrashingTask: [ContinuousClock.Instant]] = [:]
        /// The disabled tasks each registered plugin was registered without.
        var disabledWhenRegistered: [String: Set<String>] = [:]
        var scannedOnce = false
    }

    /// A task of a plugin, whose crashes are counted.
    struct CrashingTask: Hashable {
        var plugin: String
        var task: String
    }

    package let configuration: Configuration
    let store: any PluginStateStore & DisabledTaskStore & TriggerQueueStore
    let registry: TaskRegistry
    private let checker: ManifestChecker
    private let reservedIdentity: String?
    private let onUninstall: @Sendable (_ identity: String) -> Void
    let logger: Logger
    let state = Mutex(State())
    /// Serializes scans and crash accounting against each other.
    let scanLock = Mutex(())
    /// Where scans and crash-loop disablements run: they block (scanner
    /// processes, store writes, the scan lock), so not on the cooperative pool.
    let executor = BlockingExecutor(name: "taskhost-plugins", maxThreads: 1)

    /// Creates a manager.
    ///
    /// - Parameters:
    ///   - inspector: loads candidate libraries in a scanner process.
    ///   - reservedIdentity: the root manifest's identity, which no plugin may take.
    ///   - onUninstall: cancels the running instances of a removed plugin's app.
    package init(
        configuration: Configuration, store: any PluginStateStore & DisabledTaskStore & TriggerQueueStore, registry: TaskRegistry,
        inspector: PluginInspector,
        reservedIdentity: String?, logger: Logger = Logger(label: "taskhost.plugins"),
        onUninstall: @escaping @Sendable (_ identity: String) -> Void
    ) {
        var configuration = configuration
        let here = FileManager.default.currentDirectoryPath
        configuration.directory = LibraryResolver.absolute(configuration.directory, relativeTo: here)
        configuration.stagingDirectory = LibraryResolver.absolute(configuration.stagingDirectory, relativeTo: here)
        self.configuration = configuration
        self.store = store
        self.registry = registry
        // A plugin's libraries are looked for in its own folder only.
        self.checker = ManifestChecker(resolver: LibraryResolver(searchPaths: []), inspector: inspector)
        self.reservedIdentity = reservedIdentity
        self.logger = logger
        self.onUninstall = onUninstall
    }

    /// Scans every poll interval until the calling task is canceled, calling
    /// `afterScan` after each look. Scans block (they run scanner processes),
    /// so they run on the manager's executor, not on Swift's cooperative pool.
    package func run(afterScan: @escaping @Sendable () -> Void = {}) async {
        while !Task.isCancelled {
            await executor.run { [self] in
                scan()
                afterScan()
            }
            try? await Task.sleep(for: configuration.pollInterval)
        }
    }

    /// Looks at the directory once and installs, replaces, removes, or
    /// re-enables plugins as needed.
    package func scan() {
        scanLock.withLock { _ in
            do {
                try PrivateFiles.createDirectory(configuration.directory)
            } catch {
                logger.error("cannot create the plugins directory", metadata: ["path": "\(configuration.directory)", "error": "\(error)"])
                return
            }
            let records: [String: PluginRecord]
            do {
                records = Dictionary(try store.plugins().map { ($0.name, $0) }) { first, _ in first }
            } catch {
                logger.error("cannot read plugin states", metadata: ["error": "\(error)"])
                return
            }
            let folders = PluginFolder.list(in: configuration.directory)
            let firstScan = state.withLock { state in
                defer { state.scannedOnce = true }
                return !state.scannedOnce
            }
            if firstScan { removeUnusedCopies(keeping: Set(records.values.map(\.stagedPath))) }
            let disabled = disabledTaskNames()
            for folder in folders {
                reconcile(folder, record: records[folder.name], others: records, disabled: disabled[folder.name] ?? [])
            }
            let present = Set(folders.map(\.name))
            for record in records.values where !present.contains(record.name) {
                uninstall(record)
            }
        }
    }

    /// - Parameter disabled: the plugin's disabled tasks, as the store has them now.
    private func reconcile(_ folder: PluginFolder, record: PluginRecord?, others records: [String: PluginRecord], disabled: Set<String>) {
        let fingerprint = folder.fingerprint()
        let previous = state.withLock { state in
            defer { state.seen[folder.name] = fingerprint }
            return state.seen[folder.name]
        }
        if let record, record.fingerprint == fingerprint {
            switch record.state {
            case .active:
                // Registered, and no task disabled or enabled since: nothing to do.
                let registeredWithout = state.withLock { $0.disabledWhenRegistered[folder.name] }
                if registeredWithout == disabled, registry.hasTasks(ofPlugin: folder.name) || !disabled.isEmpty { return }
                // A restart, or a task enabled again: the version checked before is
                // registered again from its copy.
                if register(record, disabled: disabled) { return }
            case .quarantined, .disabled:
                setParked(record.identity, true)
                return
            case .pending:
                break
            }
        } else if let record, record.state == .disabled {
            // Disabled stays disabled, whatever changes, until `plugins enable`.
            setParked(record.identity, true)
            return
        } else if previous != fingerprint {
            // New or changed since the last look: wait until it stops changing.
            return
        }
        install(folder, fingerprint: fingerprint, previous: record, records: records, disabled: disabled)
    }

    /// Registers an active record's tasks from its staged copy, without
    /// inspecting it again; false when the copy is gone or unreadable.
    private func register(_ record: PluginRecord, disabled: Set<String>) -> Bool {
        guard let manifest = try? AppManifest.load(path: record.stagedManifestPath) else { return false }
        var tasks: [RegisteredTask] = []
        for task in manifest.tasks {
            guard case .success(let path) = checker.resolver.resolve(task.library, manifestDirectory: manifest.directory) else {
                return false
            }
            tasks.append(RegisteredTask(app: manifest, task: task, libraryPath: path, plugin: record.name))
        }
        register(tasks, plugin: record.name, identity: record.identity, disabled: disabled)
        logger.info("plugin registered", metadata: ["plugin": "\(record.name)", "version": "\(record.version ?? "-")"])
        return true
    }

    private func install(
        _ folder: PluginFolder, fingerprint: String, previous: PluginRecord?, records: [String: PluginRecord], disabled: Set<String>
    ) {
        let staged: String
        do {
            staged = try folder.stage(into: configuration.stagingDirectory, fingerprint: fingerprint)
        } catch {
            // Most likely still being copied; the next scan tries again.
            logger.notice("cannot copy plugin yet", metadata: ["plugin": "\(folder.name)", "error": "\(error)"])
            state.withLock { _ = $0.seen.removeValue(forKey: folder.name) }
            return
        }
        let validation = Self.validate(
            directory: staged, plugin: folder.name, checker: checker, reservedIdentity: reservedIdentity, registry: registry)
        guard let manifest = validation.manifest, validation.problems.isEmpty else {
            quarantine(
                folder, fingerprint: fingerprint, identity: validation.manifest?.identity.name ?? previous?.identity ?? "",
                reason: rewrite(validation.problems.joined(separator: "; "), staged, folder))
            return
        }
        let identity = manifest.identity.name
        // A disabled plugin keeps its identity: another folder may not take it meanwhile.
        if let owner = records.values.first(where: { $0.identity == identity && $0.name != folder.name && $0.state == .disabled }) {
            quarantine(
                folder, fingerprint: fingerprint, identity: "",
                reason:
                    "its Identity.Name \"\(identity)\" is already used by plugin \"\(owner.name)\" (disabled); each plugin needs an identity of its own"
            )
            return
        }
        // A task disabled stays disabled in a new version, until `plugins enable`.
        register(validation.tasks, plugin: folder.name, identity: identity, disabled: disabled)
        if let previous, previous.identity != identity, !previous.identity.isEmpty {
            setParked(previous.identity, false)
            registry.setParkedTasks(previous.identity, [])
        }
        state.withLock { $0.crashes = $0.crashes.filter { $0.key.plugin != folder.name } }
        save(
            PluginRecord(
                name: folder.name, identity: identity, version: manifest.identity.version, state: .active, reason: nil,
                fingerprint: fingerprint, stagedPath: staged, tasks: manifest.tasks.map(\.name), updatedAt: Date()))
        let replaced = previous?.state == .active && previous?.stagedPath != staged
        logger.notice(
            replaced ? "plugin replaced; new instances use the new version" : "plugin installed",
            metadata: [
                "plugin": "\(folder.name)", "identity": "\(identity)", "version": "\(manifest.identity.version ?? "-")",
                "tasks": "\(manifest.tasks.map(\.name).joined(separator: ","))",
            ])
        // Keep this copy and the one before it (instances may still be starting from it).
        removeUnusedCopies(of: folder.name, keeping: [staged, previous?.stagedPath ?? ""])
    }

    private func quarantine(_ folder: PluginFolder, fingerprint: String, identity: String, reason: String) {
        registry.remove(plugin: folder.name)
        state.withLock { _ = $0.disabledWhenRegistered.removeValue(forKey: folder.name) }
        // Its triggers wait, unless the identity is another app's: a clash must not stop
        // that app, now or after a restart (the record then keeps no identity).
        let owned = identity != reservedIdentity && registry.identityInUse(identity, byOtherThan: folder.name) == nil ? identity : ""
        if !owned.isEmpty { setParked(owned, true) }
        save(
            PluginRecord(
                name: folder.name, identity: owned, version: nil, state: .quarantined, reason: reason,
                fingerprint: fingerprint, stagedPath: "", tasks: [], updatedAt: Date()))
        logger.error("plugin quarantined until it changes", metadata: ["plugin": "\(folder.name)", "reason": "\(reason)"])
    }

    private func uninstall(_ record: PluginRecord) {
        let removed = registry.remove(plugin: record.name)
        if !record.identity.isEmpty {
            setParked(record.identity, false)
            registry.setParkedTasks(record.identity, [])
        }
        do {
            try store.deletePlugin(name: record.name)
        } catch {
            logger.error("cannot forget a removed plugin", metadata: ["plugin": "\(record.name)", "error": "\(error)"])
        }
        state.withLock { state in
            state.seen.removeValue(forKey: record.name)
            state.crashes = state.crashes.filter { $0.key.plugin != record.name }
            state.disabledWhenRegistered.removeValue(forKey: record.name)
        }
        if !removed.isEmpty { onUninstall(record.identity) }
        logger.notice("plugin removed; its running instances are canceled with Uninstall", metadata: ["plugin": "\(record.name)"])
    }

    /// Parks (or unparks) an app's triggers: in the registry, so that new ones
    /// are parked when claimed, and in the queue, so that waiting ones leave
    /// the claim's way (a backlog of a disabled plugin costs other apps nothing).
    func setParked(_ identity: String, _ parked: Bool) {
        // Parking is looked at every scan: once is enough. Unparking is rare: always done,
        // so that triggers parked before a restart are not forgotten.
        guard !identity.isEmpty, !parked || !registry.parkedApps.contains(identity) else { return }
        registry.setParked(identity, parked)
        do {
            if parked { try store.park(app: identity) } else { try store.unpark(app: identity) }
        } catch {
            logger.error("cannot \(parked ? "park" : "unpark") triggers", metadata: ["app": "\(identity)", "error": "\(error)"])
        }
    }

    func save(_ record: PluginRecord) {
        do {
            try store.savePlugin(record)
        } catch {
            logger.error("cannot record a plugin's state", metadata: ["plugin": "\(record.name)", "error": "\(error)"])
        }
    }

    private func rewrite(_ message: String, _ staged: String, _ folder: PluginFolder) -> String {
        message.replacingOccurrences(of: staged, with: folder.path)
    }

    /// Deletes staged copies no record points at (at start-up), or the older
    /// copies of one plugin.
    private func removeUnusedCopies(of plugin: String? = nil, keeping: Set<String>) {
        let root = configuration.stagingDirectory
        let manager = FileManager.default
        let plugins = plugin.map { [$0] } ?? ((try? manager.contentsOfDirectory(atPath: root)) ?? [])
        for name in plugins {
            for version in (try? manager.contentsOfDirectory(atPath: root + "/" + name)) ?? [] {
                let path = root + "/" + name + "/" + version
                if !keeping.contains(path) { try? manager.removeItem(atPath: path) }
            }
        }
    }
}
