/// What ``HostStore`` adds to the protocols of each concern, from SQLite.
extension SQLiteTaskStore: HostStore {
    /// The database file's path.
    package var location: String { path }

    /// The journal mode and `synchronous` level (``durability()``), as `journal wal, synchronous FULL`.
    package func durabilityDescription() throws(StoreError) -> String {
        let durability = try durability()
        return "journal \(durability.journalMode), synchronous \(durability.synchronous == 2 ? "FULL" : String(durability.synchronous))"
    }

    /// A ``StoreProbe`` of the database: a connection of its own takes the write lock and lets go.
    package func readinessCheck(timeout: Duration) -> StoreReadinessCheck {
        let probe = StoreProbe(store: self, timeout: timeout)
        return { () throws(StoreError) in try probe.check() }
    }
}
