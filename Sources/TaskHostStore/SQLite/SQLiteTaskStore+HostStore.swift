/// What ``HostStore`` adds to the protocols of each concern, from SQLite.
extension SQLiteTaskStore: HostStore {
    package var location: String { path }

    package func durabilityDescription() throws(StoreError) -> String {
        let durability = try durability()
        return "journal \(durability.journalMode), synchronous \(durability.synchronous == 2 ? "FULL" : String(durability.synchronous))"
    }

    package func readinessCheck(timeout: Duration) -> StoreReadinessCheck {
        let probe = StoreProbe(store: self, timeout: timeout)
        return { () throws(StoreError) in try probe.check() }
    }
}
