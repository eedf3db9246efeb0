import Synchronization
import TaskHostStore

/// Remembers records read from the store for a short while, and that a record
/// does not exist as well: whether a lookup reads the store depends only on
/// whether the same key was looked up within `lifetime`, never on whether the
/// record exists, so the time a lookup takes does not tell which ids exist.
/// Bounded: when `capacity` keys are remembered, expired entries are dropped,
/// and if more than half are still live, all of them (each costs one store
/// read again; a sweep happens at most once per `capacity / 2` lookups).
final class LookupCache<Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value?
        var expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let lifetime: Duration
    private let capacity: Int

    init(lifetime: Duration, capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// Whether `key` was looked up within `lifetime` (``value(for:load:)``
    /// then answers without reading the store).
    func isFresh(_ key: String) -> Bool {
        guard let entry = entries.withLock({ $0[key] }) else { return false }
        return entry.expires > ContinuousClock.now
    }

    /// The cached value for `key` (`nil` for a record known not to exist), or
    /// what `load` returns, kept for `lifetime` either way.
    func value(for key: String, load: () throws(StoreError) -> Value?) throws(StoreError) -> Value? {
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[key] }), entry.expires > now { return entry.value }
        let value = try load()
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { $0.value.expires > now }
                // Mostly live (a flood of ids): start again, so that the next
                // sweep is at least capacity/2 lookups away.
                if entries.count > capacity / 2 { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = Entry(value: value, expires: now + lifetime)
        }
        return value
    }
}
