import Testing

@testable import TaskHostServer

/// The token buckets behind the push endpoint's rate limits. A rate of 0 per
/// second never refills, so every expectation here is exact whatever the clock.
@Suite struct RateLimiterTests {
    @Test func aKeyGetsItsBurstThenIsRefused() {
        let limiter = RateLimiter(ratePerSecond: 0, burst: 3)
        #expect((0..<3).allSatisfy { _ in limiter.allow("a") })
        #expect(!limiter.allow("a"))
        #expect(limiter.wait(for: "a") != nil)
    }

    @Test func keysHaveBucketsOfTheirOwn() {
        let limiter = RateLimiter(ratePerSecond: 0, burst: 1)
        #expect(limiter.allow("a"))
        #expect(!limiter.allow("a"))
        #expect(limiter.allow("b"))
        #expect(limiter.wait(for: "c") == nil)
    }

    @Test func waitTakesNothingAndTakeCountsAFailure() {
        let limiter = RateLimiter(ratePerSecond: 0, burst: 2)
        #expect(limiter.wait(for: "a") == nil)
        #expect(limiter.wait(for: "a") == nil)
        limiter.take("a")
        #expect(limiter.allow("a"))
        #expect(!limiter.allow("a"))
    }

    @Test func theWaitIsWhatTheRateNeedsForOneToken() throws {
        let limiter = RateLimiter(ratePerSecond: 0.001, burst: 1)
        #expect(limiter.allow("a"))
        let wait = try #require(limiter.wait(for: "a"))
        // One token at 0.001/s takes 1000 s; a little of it may already have passed.
        #expect(wait <= .seconds(1000) && wait > .seconds(990))
    }

    @Test func aFloodOfKeysStaysWithinCapacity() {
        let limiter = RateLimiter(ratePerSecond: 0, burst: 1, capacity: 100)
        for index in 0..<1_000 { _ = limiter.allow("key-\(index)") }
        #expect(limiter.count <= 100)
        // The most recent keys are remembered: their bucket is still empty.
        #expect(!limiter.allow("key-999"))
    }

    @Test func bucketsThatRefilledAreForgottenFirst() {
        let limiter = RateLimiter(ratePerSecond: 1_000_000, burst: 1, capacity: 10)
        for index in 0..<50 { _ = limiter.allow("key-\(index)") }
        // At a million tokens a second every bucket has refilled by the next
        // trim, so the table holds only the keys used since.
        #expect(limiter.count <= 10)
    }
}
