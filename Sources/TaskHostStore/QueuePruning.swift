package import Foundation

/// How long settled triggers (`done`, `dead`, `expired`) stay in the queue,
/// with the history of their instances, before they are pruned
/// (`taskhost serve --keep-done`, `TASKHOST_KEEP_DONE`).
package enum KeepDone: Sendable, Equatable, CustomStringConvertible {
    /// Never pruned (the queue grows with every trigger).
    case forever
    /// Pruned once settled this long ago (`.zero`: as soon as settled).
    case after(Duration)

    /// The default: 7 days, long enough to look at a week-end's dead letters
    /// and retry them, short enough that the queue of a busy host stays small.
    package static let `default` = KeepDone.after(.seconds(7 * 86_400))

    /// What the option accepts, for messages.
    package static let syntax = "forever, 0, or a number of seconds optionally followed by s, m, h or d (e.g. 7d, 36h, 90m)"

    /// `text` as a retention: `forever`, or a duration that ``DurationText``
    /// reads (0 allowed); `nil` when it is neither.
    package init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.lowercased() == "forever" {
            self = .forever
            return
        }
        // At most 100 years: beyond, a retention is "forever".
        guard let seconds = DurationText.seconds(trimmed, allowingZero: true), seconds <= 100 * 365 * 86_400 else { return nil }
        self = .after(.milliseconds(Int64((seconds * 1000).rounded())))
    }

    /// The moment before which triggers settled are pruned, at `now` (`nil`: never).
    package func cutoff(now: Date) -> Date? {
        guard case .after(let duration) = self else { return nil }
        let (seconds, attoseconds) = duration.components
        return now.addingTimeInterval(-(Double(seconds) + Double(attoseconds) / 1e18))
    }

    /// How often the daemon prunes: a tenth of the retention, between 1 s and
    /// 60 s (`0` prunes every second; a week, every minute).
    package var pruneInterval: Duration {
        guard case .after(let duration) = self else { return .seconds(60) }
        return min(.seconds(60), max(.seconds(1), duration / 10))
    }

    package var description: String {
        guard case .after(let duration) = self else { return "forever" }
        let seconds = duration.components.seconds
        for (unit, size) in [("d", Int64(86_400)), ("h", 3600), ("m", 60)] where seconds >= size && seconds % size == 0 {
            return "\(seconds / size)\(unit)"
        }
        return "\(seconds)s"
    }
}

/// Durations as the CLI takes them: a number of seconds, optionally
/// followed by `s`, `m`, `h` or `d` (`3600`, `90m`, `36h`, `7d`).
package enum DurationText {
    /// The seconds `text` says; `nil` when it is not a finite positive
    /// number with an optional unit (zero too, with `allowingZero`).
    package static func seconds(_ text: String, allowingZero: Bool = false) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        let unit = text.last.flatMap { units[$0] }
        guard let number = Double(unit == nil ? text : String(text.dropLast())), number.isFinite,
            number > 0 || (allowingZero && number == 0)
        else { return nil }
        return number * (unit ?? 1)
    }
}

/// What one pruning removed.
package struct PruneResult: Sendable, Equatable {
    /// Settled triggers deleted (with their payloads and headers).
    package var triggers: Int
    /// Instances deleted from the history, with their log lines.
    package var instances: Int

    /// Creates a result.
    package init(triggers: Int = 0, instances: Int = 0) {
        self.triggers = triggers
        self.instances = instances
    }
}

/// A store whose settled triggers can be pruned.
package protocol QueuePruningStore: Sendable {
    /// Deletes the triggers settled (`done`, `dead`, `expired`, `claimed`) before
    /// `cutoff` (but timers' triggers, which keep a period from firing
    /// twice), then the instances that ended before it whose trigger is no
    /// longer in the queue (or is a timer's, settled before the cutoff),
    /// with their log lines, in transactions of at most
    /// about `batchSize` rows each, so that the write lock is never held long.
    /// Pending, retrying, running and parked triggers are never touched,
    /// nor the instances of a trigger still queued.
    func pruneSettled(before cutoff: Date, batchSize: Int) throws(StoreError) -> PruneResult
}

extension QueuePruningStore {
    /// ``pruneSettled(before:batchSize:)`` in batches of 1,000 rows.
    package func pruneSettled(before cutoff: Date) throws(StoreError) -> PruneResult {
        try pruneSettled(before: cutoff, batchSize: 1000)
    }
}
