import Synchronization
import TaskHostCore
import TaskHostStore
import Testing

@testable import TaskHostServer

/// The push endpoint's short-lived cache of channel and credential lookups:
/// whether a lookup reads the store depends only on whether the key was looked
/// up recently, never on whether the record exists.
@Suite struct LookupCacheTests {
    /// Counts the store reads a cache makes.
    final class Loads: Sendable {
        let count = Mutex(0)
        func load(_ value: String?) -> String? {
            count.withLock { $0 += 1 }
            return value
        }
        var value: Int { count.withLock { $0 } }
    }

    @Test func aKeyIsReadOnceWhileItIsRemembered() throws {
        let cache = LookupCache<String>(lifetime: .seconds(3600))
        let loads = Loads()
        #expect(try cache.value(for: "a") { loads.load("A") } == "A")
        #expect(try cache.value(for: "a") { loads.load("other") } == "A")
        #expect(loads.value == 1)
    }

    @Test func aMissingRecordIsRememberedLikeAPresentOne() throws {
        let cache = LookupCache<String>(lifetime: .seconds(3600))
        let loads = Loads()
        #expect(try cache.value(for: "missing") { loads.load(nil) } == nil)
        #expect(try cache.value(for: "missing") { loads.load("late") } == nil)
        #expect(loads.value == 1)
    }

    @Test func anExpiredEntryIsReadAgain() throws {
        let cache = LookupCache<String>(lifetime: .zero)
        let loads = Loads()
        _ = try cache.value(for: "a") { loads.load("A") }
        #expect(try cache.value(for: "a") { loads.load("B") } == "B")
        #expect(loads.value == 2)
    }

    @Test func aFailedReadIsNotRemembered() throws {
        let cache = LookupCache<String>(lifetime: .seconds(3600))
        #expect(throws: StoreError.self) {
            try cache.value(for: "a") { () throws(StoreError) -> String? in throw StoreError("gone", resultCode: 14) }
        }
        #expect(try cache.value(for: "a") { "A" } == "A")
    }

    @Test func aFloodOfKeysIsBoundedAndStillAnswersRight() throws {
        let cache = LookupCache<String>(lifetime: .seconds(3600), capacity: 64)
        let loads = Loads()
        for index in 0..<1_000 {
            #expect(try cache.value(for: "k\(index)") { loads.load("v\(index)") } == "v\(index)")
        }
        #expect(loads.value == 1_000)
        // Whatever was dropped, an answer is always the record's own.
        #expect(try cache.value(for: "k999") { loads.load("v999") } == "v999")
        #expect(try cache.value(for: "k0") { loads.load("v0") } == "v0")
    }
}
