import Foundation
import Synchronization
import TaskHostCore
import TaskHostServer
import TaskHostStore
import Testing

/// Store failures are logged a line per class and interval, with a count.
@Suite struct FailureLogAggregatorTests {
    final class Recorder: Sendable {
        let reports = Mutex<[FailureLogAggregator.Report]>([])
        let clock = Mutex(ContinuousClock.now)
        func advance(_ by: Duration) { clock.withLock { $0 += by } }
    }

    @Test func failuresWithinAnIntervalMakeOneLineWithTheirCountAndTheNextIntervalLogsAgain() {
        let recorder = Recorder()
        let aggregator = FailureLogAggregator(
            interval: .seconds(10), now: { recorder.clock.withLock { $0 } }, scheduled: false,
            emit: { report in recorder.reports.withLock { $0.append(report) } })
        let full = StoreError("store: cannot enqueue 1 trigger(s): SQLite error 13: database or disk is full", resultCode: 13)
        aggregator.record(StoreError("store: cannot read a channel: SQLite error 11: database disk image is malformed", resultCode: 11))
        for _ in 0..<308 {
            aggregator.record(full)
            recorder.advance(.milliseconds(20))
        }
        aggregator.flush()
        #expect(recorder.reports.withLock { $0 }.isEmpty, "nothing is logged before the interval is over")

        recorder.advance(.seconds(5))
        aggregator.flush()
        aggregator.flush()
        let first = recorder.reports.withLock { $0 }
        #expect(
            first == [
                .init(
                    failureClass: "corrupt", count: 1,
                    first: "store: cannot read a channel: SQLite error 11: database disk image is malformed"),
                .init(failureClass: "full", count: 308, first: full.description),
            ])

        // The next interval: a line of its own.
        aggregator.record(StoreError("store: cannot enqueue 1 trigger(s): SQLite error 13: disk full again", resultCode: 13))
        aggregator.record(full)
        recorder.advance(.seconds(10))
        aggregator.flush()
        #expect(
            recorder.reports.withLock { Array($0.dropFirst(2)) } == [
                .init(failureClass: "full", count: 2, first: "store: cannot enqueue 1 trigger(s): SQLite error 13: disk full again")
            ])

        // At shutdown, what is open is logged at once.
        aggregator.record(StoreError("the host is shutting down; the push was not stored"))
        aggregator.flush(all: true)
        #expect(
            recorder.reports.withLock { $0.last }
                == .init(failureClass: "other", count: 1, first: "the host is shutting down; the push was not stored"))
    }

    @Test func failuresAreClassedBySQLitesResultCode() {
        let classes = [13, 5, 6, 11, 26, 10, 14, 8, 19, nil].map { StorageFailureClass(StoreError("x", resultCode: $0)).rawValue }
        #expect(classes == ["full", "busy", "busy", "corrupt", "corrupt", "I/O", "I/O", "read-only", "other", "other"])
    }
}
