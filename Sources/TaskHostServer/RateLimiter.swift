import Foundation
import Synchronization

/// Token buckets by key (a channel): `burst` pushes at once, refilled at
/// `ratePerSecond`. A push that finds its bucket empty is refused with 406.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public let ratePerSecond: Double
    public let burst: Double
    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock = ContinuousClock()

    /// A limiter allowing `burst` requests at once and `ratePerSecond` on average per key.
    public init(ratePerSecond: Double, burst: Int) {
        self.ratePerSecond = max(0, ratePerSecond)
        self.burst = Double(max(1, burst))
    }

    /// Takes one token for `key`; returns whether there was one.
    public func allow(_ key: String) -> Bool {
        let now = clock.now
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(burst, bucket.tokens + seconds * ratePerSecond)
            bucket.updated = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            buckets[key] = bucket
            if buckets.count > 100_000 { buckets = buckets.filter { $0.value.tokens < burst } }  // forget idle keys
            return allowed
        }
    }
}
