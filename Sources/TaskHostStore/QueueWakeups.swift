/// A store that tells a host when another host made a trigger runnable, so
/// that a push accepted by one host is dispatched by any host at once, not at
/// the dispatcher's next poll.
///
/// The PostgreSQL store conforms (`LISTEN`/`NOTIFY`, hosts sharing one
/// database); SQLite's store does not: one host uses its database, and its own
/// commits wake its dispatcher (`IngestCommitter`'s callback). A wake-up is a
/// hint, never the only way a trigger is found: the dispatcher keeps polling,
/// which covers a notification missed while the connection was down.
package protocol QueueWakeupSource: Sendable {
    /// Listens for wake-ups until the calling task is cancelled (then it
    /// returns): calls `listening` once the listen is in place (a write
    /// committed after that call wakes it), then `wake` for every notification,
    /// on a thread of its choosing (`wake` must not block).
    ///
    /// Throws, with code `unavailable`, when it cannot connect or its
    /// connection is lost; the caller listens again (``StoreError/code``
    /// says why, its message what to check).
    func listenForWakeups(listening: @escaping @Sendable () -> Void, wake: @escaping @Sendable () -> Void) async throws(StoreError)
}
