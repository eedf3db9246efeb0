import Synchronization
import TaskHostCore

/// Remembers records read from the store for a short while. Only records that
/// exist are kept, so probing random ids always reaches the store (and the
/// cache cannot be filled with them).
final class LookupCache<Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let lifetime: Duration
    private let capacity: Int

    init(lifetime: Duration, capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// The cached value for `key`, or what `load` returns (kept when not nil).
    func value(for key: String, load: () throws(StoreError) -> Value?) throws(StoreError) -> Value? {
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[key] }), entry.expires > now { return entry.value }
        guard let value = try load() else { return nil }
        entries.withLock { entries in
            if entries.count >= capacity { entries = entries.filter { $0.value.expires > now } }
            if entries.count < capacity { entries[key] = Entry(value: value, expires: now + lifetime) }
        }
        return value
    }
}
