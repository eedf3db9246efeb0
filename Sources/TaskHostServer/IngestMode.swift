/// How the push endpoint stores the pushes it accepts. Only ``group`` is for
/// production; the others exist to measure what group commit buys
/// (`taskhost serve --ingest`, `taskhost-bench`).
package enum IngestMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Concurrent pushes share one transaction, and so one fsync (``IngestCommitter``). The default.
    case group
    /// One transaction, and so one fsync, per push: the same writer thread
    /// with batches of one.
    case perPush = "per-push"
    /// Every check (authentication, channel, headers, size, rate limits), then
    /// a 200 without storing anything: the endpoint's HTTP ceiling. Loses every push.
    case discard

    /// The largest batch the committer may gather in this mode.
    package var maxBatch: Int { self == .perPush ? 1 : 512 }

    package var description: String { rawValue }
}
