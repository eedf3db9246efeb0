package import Logging
import Synchronization
package import TaskHostStore

/// Logs repeated failures as one line per class and interval instead of one
/// per request: when the disk fills, every push fails the same way, and a
/// line each would flood the log (or, unlogged, leave the operator blind).
///
/// The first failure of a class opens a window; when the window has lasted
/// ``interval``, one line says how many failures of that class it saw and
/// quotes the first one's error. The next failure opens the next window.
/// ``flush(all:)`` logs the open windows at once (at shutdown).
package final class FailureLogAggregator: Sendable {
    /// What one line reports.
    package struct Report: Sendable, Equatable {
        /// The class of failure (``StorageFailureClass`` for store errors).
        package var failureClass: String
        /// How many failures of that class the window saw.
        package var count: Int
        /// The first one's error.
        package var first: String

        /// A report.
        package init(failureClass: String, count: Int, first: String) {
            self.failureClass = failureClass
            self.count = count
            self.first = first
        }
    }

    private struct Window {
        var count: Int
        var first: String
        var opened: ContinuousClock.Instant
    }

    /// How long a window lasts before its line is logged.
    package let interval: Duration
    private let windows = Mutex<[String: Window]>([:])
    private let now: @Sendable () -> ContinuousClock.Instant
    private let scheduled: Bool
    private let emit: @Sendable (Report) -> Void

    /// An aggregator that logs each window's line to `logger` as an error:
    /// "`subject`: N failure(s) (class) in the last S s; first: …".
    package convenience init(subject: String, interval: Duration = .seconds(10), logger: Logger) {
        let seconds = interval.components.seconds
        self.init(interval: interval, scheduled: true) { report in
            logger.error(
                "\(subject): \(report.count) failure(s) (\(report.failureClass)) in the last \(seconds) s; first: \(report.first)",
                metadata: ["class": "\(report.failureClass)", "count": "\(report.count)"])
        }
    }

    /// An aggregator that hands each window's report to `emit`. `scheduled`:
    /// a window is logged by itself once it has lasted `interval`; without,
    /// only when ``flush(all:)`` is called (tests, with their own `now`).
    package init(
        interval: Duration, now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }, scheduled: Bool,
        emit: @escaping @Sendable (Report) -> Void
    ) {
        self.interval = interval
        self.now = now
        self.scheduled = scheduled
        self.emit = emit
    }

    /// Counts one failure of `failureClass`; `message` is quoted if it is
    /// the first of its window.
    package func record(_ failureClass: String, _ message: String) {
        let at = now()
        let opened = windows.withLock { windows -> Bool in
            if windows[failureClass] != nil {
                windows[failureClass]!.count += 1
                return false
            }
            windows[failureClass] = Window(count: 1, first: message, opened: at)
            return true
        }
        guard opened, scheduled else { return }
        let interval = interval
        Task { [weak self] in
            try? await Task.sleep(for: interval)
            self?.flush()
        }
    }

    /// Counts one failure of the store, classed by SQLite's result code.
    package func record(_ error: StoreError) {
        record(StorageFailureClass(error).rawValue, error.description)
    }

    /// Logs and closes the windows that have lasted ``interval`` (`all`: every open window).
    package func flush(all: Bool = false) {
        let at = now()
        let due = windows.withLock { windows -> [Report] in
            let due = windows.filter { all || at - $0.value.opened >= interval }
            for key in due.keys { windows[key] = nil }
            return due.map { Report(failureClass: $0.key, count: $0.value.count, first: $0.value.first) }
        }
        for report in due.sorted(by: { $0.failureClass < $1.failureClass }) { emit(report) }
    }
}

/// What kind of store failure an error is, from SQLite's result code.
package enum StorageFailureClass: String, Sendable, CaseIterable {
    /// The disk (or the database's size limit) is full: `SQLITE_FULL`.
    case full
    /// Another connection held the lock longer than the busy timeout: `SQLITE_BUSY`, `SQLITE_LOCKED`.
    case busy
    /// The file is damaged or not a database: `SQLITE_CORRUPT`, `SQLITE_NOTADB`.
    case corrupt
    /// The operating system failed a read or write, or the file cannot be opened: `SQLITE_IOERR`, `SQLITE_CANTOPEN`.
    case io = "I/O"
    /// The database or its directory cannot be written: `SQLITE_READONLY`, `SQLITE_PERM`.
    case readOnly = "read-only"
    /// Anything else (including failures that did not come from SQLite).
    case other

    /// The class of `error`.
    package init(_ error: StoreError) {
        switch error.resultCode {
        case 13: self = .full
        case 5, 6: self = .busy
        case 11, 26: self = .corrupt
        case 10, 14: self = .io
        case 8, 3: self = .readOnly
        default: self = .other
        }
    }
}
