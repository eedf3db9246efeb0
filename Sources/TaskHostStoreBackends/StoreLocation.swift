import Foundation
package import Logging
import TaskHostCore
package import TaskHostStore
package import TaskHostStorePostgres

/// Where the store is, and the one way to open it (``open(leaseDuration:logger:)``): the
/// embedded SQLite database of a state directory (the default), or a
/// PostgreSQL database that several hosts share (`--store postgres://…`).
///
/// This module is the only one that names both backends: the host and the
/// commands hold an `any HostStore`.
package enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    /// The embedded SQLite database of a state directory
    /// (``StateDirectory/databasePath``), created with the directory (mode
    /// 0700) when there is none yet.
    case stateDirectory(StateDirectory)
    /// A PostgreSQL database; the state directory still holds this host's
    /// own things (its host id, plugins directory, working directories, locks).
    case postgres(PostgresStoreLocation, stateDirectory: StateDirectory)

    /// The location `value` names (`--store`, else `$TASKHOST_STORE`): empty,
    /// `sqlite` or absent is the state directory's database; a
    /// `postgres://` or `postgresql://` URL is that database. Anything else
    /// is an error that says what is accepted.
    package static func parse(
        _ value: String?, stateDirectory: StateDirectory, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(StoreError) -> StoreLocation {
        let chosen = value ?? environment["TASKHOST_STORE"] ?? ""
        if chosen.isEmpty || chosen == "sqlite" { return .stateDirectory(stateDirectory) }
        if chosen.hasPrefix("postgres://") || chosen.hasPrefix("postgresql://") {
            return .postgres(try PostgresStoreLocation(url: chosen), stateDirectory: stateDirectory)
        }
        throw StoreError(
            "--store \"\(PostgresStoreLocation.redacted(chosen))\": expected sqlite (the state directory's database, the default) "
                + "or a PostgreSQL URL, postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
    }

    /// Opens the store: creates, checks and migrates it as its backend does
    /// (see `SQLiteTaskStore.init(path:)` and ``PostgresTaskStore``). A
    /// PostgreSQL store takes this host's id from the state directory
    /// (``hostId(in:)``), so that a restarted host takes back at once what it
    /// had claimed; its claims hold for `leaseDuration` unless extended.
    package func open(leaseDuration: Duration = .seconds(30), logger: Logger = Logger(label: "taskhost.store")) throws(StoreError)
        -> any HostStore
    {
        switch self {
        case .stateDirectory(let directory): try SQLiteTaskStore(stateDirectory: directory)
        case .postgres(let location, let directory):
            try PostgresTaskStore(location: location, hostId: try Self.hostId(in: directory), leaseDuration: leaseDuration, logger: logger)
        }
    }

    /// Whether the store is a server that may come back (PostgreSQL): worth waiting for at start.
    package var isServer: Bool {
        if case .postgres = self { true } else { false }
    }

    package var description: String {
        switch self {
        case .stateDirectory(let directory): directory.databasePath
        case .postgres(let location, _): location.description
        }
    }

    /// This host's id in a shared store: the `host-id` file of `directory`,
    /// created (mode 0600, a random UUID) the first time. One state directory
    /// is one host: `taskhost serve` holds its lock.
    package static func hostId(in directory: StateDirectory) throws(StoreError) -> String {
        let path = directory.path + "/host-id"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !id.isEmpty { return id }
        }
        try directory.create()
        let id = RandomToken.uuid()
        guard FileManager.default.createFile(atPath: path, contents: Data((id + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw StoreError("cannot write this host's id to \(path): check that the state directory is writable", resultCode: nil)
        }
        return id
    }
}
