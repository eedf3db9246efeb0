import Foundation

/// The directory that holds taskhost's state: the SQLite database, the drop-in
/// plugins directory and the copies of plugin versions in use. Chosen, in order, by `--state-dir`, the
/// `TASKHOST_STATE_DIR` environment variable, `$XDG_STATE_HOME/taskhost`,
/// and `~/.local/state/taskhost`.
package struct StateDirectory: Sendable, Equatable {
    /// The directory's path.
    package var path: String

    /// A state directory at `path`.
    package init(path: String) { self.path = path }

    /// The directory chosen by the rules above.
    package static func resolve(
        explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> StateDirectory {
        if let explicit, !explicit.isEmpty { return StateDirectory(path: explicit) }
        if let fromEnvironment = environment["TASKHOST_STATE_DIR"], !fromEnvironment.isEmpty {
            return StateDirectory(path: fromEnvironment)
        }
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") {
            return StateDirectory(path: xdg + "/taskhost")
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return StateDirectory(path: home + "/.local/state/taskhost")
    }

    /// The SQLite database.
    package var databasePath: String { path + "/taskhost.sqlite" }

    /// The drop-in plugins directory `taskhost serve` watches by default.
    package var pluginsPath: String { path + "/plugins" }

    /// Where the host keeps the copies of plugin versions that instances load.
    package var stagedPluginsPath: String { path + "/plugin-versions" }

    /// Creates the directory (and its parents), readable by its owner only
    /// (0700, whatever the umask); an existing one that other users could
    /// enter is made private, with a warning (see ``PrivateFiles``).
    package func create() throws(StoreError) {
        try PrivateFiles.createDirectory(path)
        try PrivateFiles.restrict(path, what: "the state directory")
    }
}
