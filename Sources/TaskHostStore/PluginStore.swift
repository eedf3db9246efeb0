package import Foundation

/// Where a plugin of the drop-in directory stands.
package enum PluginState: String, Sendable, CaseIterable {
    /// Its tasks are registered and run.
    case active
    /// It could not be used (its manifest, its libraries, a crash while
    /// loading); it is not tried again until one of its files changes.
    case quarantined
    /// Its tasks are unregistered until `taskhost plugins enable` (a state of
    /// earlier versions, which disabled a whole plugin when it crashed too
    /// often; now a crashing task is disabled alone, see ``DisabledTask``).
    case disabled
    /// `taskhost plugins enable` asked the host to try it again.
    case pending
}

/// What the host knows about one plugin folder.
package struct PluginRecord: Sendable, Equatable {
    /// The folder's name in the plugins directory: the name the CLI takes.
    package var name: String
    /// The app identity its manifest declares (tasks are scoped by it); empty
    /// when the manifest could not be read.
    package var identity: String
    /// Its manifest's `Identity.Version`.
    package var version: String?
    /// Its state.
    package var state: PluginState
    /// Why it is quarantined or disabled.
    package var reason: String?
    /// The (path, size, modification time) of its files when it was last
    /// looked at: a quarantined plugin is tried again only when this changes.
    package var fingerprint: String
    /// The copy of this version that instances load (empty unless active).
    package var stagedPath: String
    /// Its task names.
    package var tasks: [String]
    /// When the record last changed.
    package var updatedAt: Date

    /// Creates a record.
    package init(
        name: String, identity: String, version: String?, state: PluginState, reason: String?, fingerprint: String,
        stagedPath: String, tasks: [String], updatedAt: Date
    ) {
        self.name = name
        self.identity = identity
        self.version = version
        self.state = state
        self.reason = reason
        self.fingerprint = fingerprint
        self.stagedPath = stagedPath
        self.tasks = tasks
        self.updatedAt = updatedAt
    }

    /// The manifest of the staged copy.
    package var stagedManifestPath: String { stagedPath + "/manifest.json" }
}

/// The plugins' states, persisted so that quarantine and disabling survive a
/// restart and so that the CLI can list and re-enable plugins while the host
/// runs.
package protocol PluginStateStore: Sendable {
    /// Every plugin record, by name.
    func plugins() throws(StoreError) -> [PluginRecord]
    /// Inserts or replaces the record named `record.name`.
    func savePlugin(_ record: PluginRecord) throws(StoreError)
    /// Removes a plugin's record and its disabled tasks.
    func deletePlugin(name: String) throws(StoreError)
    /// Marks a quarantined or disabled plugin `pending`, so that the host
    /// tries it again, and enables its disabled tasks (``DisabledTask``);
    /// returns the record as it was, `nil` if there is none.
    func enablePlugin(name: String) throws(StoreError) -> PluginRecord?
}
