package import Foundation

/// A task of a drop-in plugin that crashed too often (``CrashPolicy``): it
/// is not registered, and its triggers wait in the queue (parked) until
/// `taskhost plugins enable PLUGIN/TASK`. The plugin's other tasks run on.
package struct DisabledTask: Sendable, Equatable {
    /// The plugin folder's name.
    package var plugin: String
    /// The task's name.
    package var task: String
    /// The plugin's app identity (its triggers are queued under it).
    package var app: String
    /// Why it is disabled, and how to enable it again.
    package var reason: String
    /// When it was disabled.
    package var disabledAt: Date

    /// Creates a record.
    package init(plugin: String, task: String, app: String, reason: String, disabledAt: Date) {
        self.plugin = plugin
        self.task = task
        self.app = app
        self.reason = reason
        self.disabledAt = disabledAt
    }

    /// `PLUGIN/TASK`, the name `taskhost plugins enable` takes.
    package var qualifiedName: String { plugin + "/" + task }
}

/// The disabled tasks, persisted so that they stay disabled across a restart
/// and the CLI can list, refuse and enable them while the host runs.
package protocol DisabledTaskStore: Sendable {
    /// Every disabled task, by plugin then task.
    func disabledTasks() throws(StoreError) -> [DisabledTask]
    /// Records `task` as disabled (replacing an earlier record of it).
    func disableTask(_ task: DisabledTask) throws(StoreError)
    /// Enables task `task` of the plugin named (by folder or identity)
    /// `plugin`; returns the record removed, `nil` if it was not disabled.
    func enableTask(plugin: String, task: String) throws(StoreError) -> DisabledTask?
    /// Parks the pending and retrying triggers of one task; returns how many.
    @discardableResult
    func park(app: String, task: String) throws(StoreError) -> Int
}
