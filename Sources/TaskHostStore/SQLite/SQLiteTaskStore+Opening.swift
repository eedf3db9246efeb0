import Foundation
import GRDB
import GRDBSQLite
import TaskHostCore

/// Opening the database: its file's mode, and the checks that keep taskhost
/// from running on a store that lost its content.
extension SQLiteTaskStore {
    /// Opens the database at `path` with the open lock held: makes sure of
    /// its file (``prepareFile(_:)``), opens it, runs `PRAGMA quick_check`
    /// (``checkIntegrity(_:path:)``) and migrates it.
    ///
    /// Every process that opens the store comes here (`serve`, `run` and
    /// every CLI command, the read-only ones too: a damaged database can
    /// answer a read with rows missing, silently, and costs no more to check
    /// than to open once it is in the page cache).
    static func openDatabase(path: String, configuration: Configuration) throws(StoreError) -> DatabasePool {
        if try prepareFile(path) { try createDatabase(path, configuration: configuration) }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw damageOr(StoreError("cannot open the store at \(path): \(error)"), error, path: path)
        }
        try checkIntegrity(pool, path: path)
        do {
            try migrator.migrate(pool)
        } catch {
            throw damageOr(StoreError("cannot open the store at \(path): \(error)"), error, path: path)
        }
        return pool
    }

    /// Refuses an existing database that is empty and makes an existing one
    /// (and its `-wal` and `-shm` files) private. Returns whether there is
    /// none yet.
    static func prepareFile(_ path: String) throws(StoreError) -> Bool {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_size > 0 else { throw emptyDatabase(path) }
            for file in [path, path + "-wal", path + "-shm"] {
                try PrivateFiles.restrict(file, what: file == path ? "the database" : "the database's file")
            }
            return false
        }
        guard errno == ENOENT else {
            throw StoreError("cannot open the store at \(path): \(PrivateFiles.lastError())")
        }
        // A write-ahead log without its database belongs to a database that
        // was deleted or moved: SQLite would replay it into the new one.
        var log = stat()
        if stat(path + "-wal", &log) == 0, log.st_size > 0 {
            throw StoreError(
                "\(path)-wal exists but its database \(path) does not: the database was deleted or moved without its write-ahead log. "
                    + "Move \(path)-wal and \(path)-shm to where the database went (they hold its latest writes), or delete them to start with an empty store"
            )
        }
        return true
    }

    /// Creates the database at `path`, mode 0600 (SQLite gives the `-wal`
    /// and `-shm` files it creates the database file's mode), never empty
    /// under its name: it is made under a name of its own, given its first
    /// page by SQLite (WAL mode is recorded there), then renamed. A process
    /// that dies meanwhile leaves a stray `.new-…` file, not an empty
    /// database that the next start would have to refuse.
    static func createDatabase(_ path: String, configuration: Configuration) throws(StoreError) {
        let staging = path + ".new-" + RandomToken.hex(bytes: 4)
        let descriptor = open(staging, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, PrivateFiles.fileMode)
        guard descriptor >= 0 else {
            throw StoreError("cannot create the database \(path): \(PrivateFiles.lastError()); check the state directory's permissions")
        }
        _ = fchmod(descriptor, PrivateFiles.fileMode)  // exactly 0600, whatever the umask
        close(descriptor)
        defer { for file in [staging, staging + "-wal", staging + "-shm"] { unlink(file) } }
        do {
            _ = try DatabasePool(path: staging, configuration: configuration)  // closed at once: nothing left in a -wal
        } catch {
            throw StoreError("cannot create the database \(path): \(error)")
        }
        guard rename(staging, path) == 0 else {
            throw StoreError("cannot create the database \(path): \(PrivateFiles.lastError())")
        }
    }

    /// Runs SQLite's `quick_check` (every page and record well-formed,
    /// without comparing indexes with their tables: O(size), see the README
    /// for how long it takes) and throws the refusal when it finds damage.
    static func checkIntegrity(_ pool: DatabasePool, path: String) throws(StoreError) {
        let findings: [String]
        do {
            findings = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
        } catch {
            throw damageOr(StoreError("cannot check the store at \(path): \(error)"), error, path: path)
        }
        guard findings == ["ok"] else {
            throw damaged(path, findings: findings.prefix(3).joined(separator: "; ") + (findings.count > 3 ? "; …" : ""))
        }
    }

    /// `error` as a refusal of a damaged store when SQLite said the file is
    /// corrupt or not a database; `otherwise` when it failed for another reason.
    static func damageOr(_ otherwise: StoreError, _ error: any Error, path: String) -> StoreError {
        guard let code = (error as? DatabaseError)?.resultCode.primaryResultCode, code == .SQLITE_CORRUPT || code == .SQLITE_NOTADB else {
            var otherwise = otherwise
            otherwise.resultCode = (error as? DatabaseError)?.resultCode.primaryResultCode.rawValue
            otherwise.underlying = error
            return otherwise
        }
        return damaged(path, findings: (error as? DatabaseError)?.message ?? "\(error)")
    }

    /// The refusal of a database SQLite finds damaged.
    static func damaged(_ path: String, findings: String) -> StoreError {
        StoreError(
            """
            the store \(path) is damaged: SQLite's integrity check (PRAGMA quick_check) found: \(findings). \
            taskhost will not run on it (queued pushes, channels and credentials could be missing or wrong without a word). \
            Stop every taskhost using this state directory, then either restore the database from a backup, or move it aside \
            with its -wal and -shm files and salvage what SQLite can still read into a new one: \
            mv \(path) \(path).damaged && sqlite3 \(path).damaged .recover | sqlite3 \(path) \
            (whatever is lost stays lost: check channels, credentials and the queue afterwards).
            """, resultCode: SQLITE_CORRUPT)
    }

    /// The refusal of an existing database file of 0 bytes.
    static func emptyDatabase(_ path: String) -> StoreError {
        StoreError(
            """
            the database \(path) exists but is empty (0 bytes). A database taskhost created is never empty, so its content \
            was lost (truncated, or replaced by an empty file); running on it would make every channel, credential, setting \
            and queued push vanish without a word. Restore it from a backup; or, to start afresh deliberately with an empty \
            store, delete it (rm \(path) \(path)-wal \(path)-shm) and start taskhost again.
            """, resultCode: SQLITE_CORRUPT)
    }
}
