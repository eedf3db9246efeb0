package import Foundation
package import TaskHostCore
package import TaskHostShared

/// What went wrong with the store: a ``code`` that code acts on (derived
/// from SQLite's result code), the error underneath, and a message a person
/// reads. Descriptions say what to do.
package struct StoreError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is, for code to act on (the message is for people).
    package enum Code: String, Sendable, CaseIterable {
        /// Another connection held the lock longer than the busy timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`): retry later.
        case busy
        /// The database cannot be opened, read or written (`SQLITE_IOERR`, `SQLITE_CANTOPEN`, `SQLITE_READONLY`, `SQLITE_PERM`).
        case unavailable
        /// A write broke a constraint of the schema (`SQLITE_CONSTRAINT`): retrying does not help.
        case constraint
        /// The disk, or the database's size limit, is full (`SQLITE_FULL`).
        case full
        /// The file is damaged or not a database (`SQLITE_CORRUPT`, `SQLITE_NOTADB`).
        case corrupt
        /// SQLite's `SQLITE_NOTFOUND`.
        case notFound
        /// Anything else, including failures that did not come from SQLite.
        case other

        /// The code of SQLite's primary result code `resultCode` (`nil`: not from SQLite).
        package init(resultCode: Int32?) {
            switch resultCode {
            case 5, 6: self = .busy
            case 3, 8, 10, 14: self = .unavailable
            case 19: self = .constraint
            case 13: self = .full
            case 11, 26: self = .corrupt
            case 12: self = .notFound
            default: self = .other
            }
        }
    }

    /// What failed and why.
    package var message: String
    /// SQLite's primary result code when SQLite reported the failure
    /// (`SQLITE_FULL` 13, `SQLITE_BUSY` 5, `SQLITE_CORRUPT` 11, …), for
    /// telling classes of failure apart without parsing the message.
    package var resultCode: Int32?
    /// The error the store met (GRDB's `DatabaseError`, …), when there was one.
    package var underlying: (any Error)?

    /// The code given when the failure did not come from SQLite (`nil`: from ``resultCode``).
    private var givenCode: Code?

    /// What kind of failure this is: the code it was created with, else from ``resultCode``.
    package var code: Code { givenCode ?? Code(resultCode: resultCode) }

    /// Creates an error.
    package init(_ message: String, resultCode: Int32? = nil, underlying: (any Error)? = nil) {
        self.message = message
        self.resultCode = resultCode
        self.underlying = underlying
    }

    /// Creates an error of kind `code` that did not come from SQLite (the
    /// store is closing: ``Code/unavailable``).
    package init(_ message: String, code: Code, underlying: (any Error)? = nil) {
        self.init(message, underlying: underlying)
        self.givenCode = code
    }

    package var description: String { message }
}

/// The host's persistent state: app settings, and the history of instances
/// with their logs. The host owns it; plugins never open it.
///
/// SQLite (``SQLiteTaskStore``) is the embedded default. The protocol is kept
/// small so that a shared server backend can stand behind it too.
package protocol TaskStore: Sendable {
    // MARK: Settings, scoped by app
    /// The setting `key` of `app`, or `nil`.
    func setting(app: String, key: String) throws(StoreError) -> StoredSetting?
    /// Writes a setting durably.
    func setSetting(app: String, key: String, value: SettingValue) throws(StoreError)
    /// Deletes a setting; returns whether it existed.
    func deleteSetting(app: String, key: String) throws(StoreError) -> Bool
    /// Every setting of `app`, sorted by name.
    func settings(app: String) throws(StoreError) -> [StoredSetting]
    /// The apps that have settings or history.
    func apps() throws(StoreError) -> [String]

    // MARK: History
    /// Records that an instance started (with its worker's pid, once it has one).
    func insertInstance(_ record: InstanceRecord) throws(StoreError)
    /// Records the progress a running instance reported so far (the host
    /// calls it at most every 500 ms per instance); an instance that has
    /// ended keeps the progress recorded with its outcome.
    func recordProgress(instanceId: String, progress: UInt32) throws(StoreError)
    /// Records how an instance ended, its last progress and its sandbox summary,
    /// after appending `lines` to its log: one durable commit for all of it.
    func finishInstance(
        id: String, endedAt: Date, outcome: InstanceOutcome, progress: UInt32, sandbox: String, appendingLog lines: [LogLine]
    ) throws(StoreError)
    /// The most recent instances first, optionally of one task.
    func instances(task: String?, limit: Int) throws(StoreError) -> [InstanceRecord]
    /// The instance whose id is `id`, or starts with it (if unambiguous).
    func instance(idPrefix: String) throws(StoreError) -> InstanceRecord?
    /// Appends lines to an instance's log.
    func appendLog(instanceId: String, lines: [LogLine]) throws(StoreError)
    /// An instance's log, in order.
    func log(instanceId: String) throws(StoreError) -> [LogLine]
}

extension TaskStore {
    /// Records how an instance ended, with nothing to add to its log.
    package func finishInstance(id: String, endedAt: Date, outcome: InstanceOutcome, progress: UInt32, sandbox: String) throws(StoreError) {
        try finishInstance(id: id, endedAt: endedAt, outcome: outcome, progress: progress, sandbox: sandbox, appendingLog: [])
    }
}

extension StoreError: PermanentFailure {
    /// A constraint the write breaks (a settlement refused because another
    /// host's claim holds the trigger now, see PostgreSQL's fencing) cannot be
    /// retried into success; busy, unavailable and full stores can.
    package var isPermanent: Bool { code == .constraint }
}
