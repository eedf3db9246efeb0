import Foundation
import TaskHostStore
import Testing

/// Push channels, credentials and timer anchors (``ChannelStore``), on every backend.
@Suite struct ChannelStoreTests {
    @Test(arguments: await StoreBackend.available()) func channelsAreListedByAppRevokedOnceAndRenewedUntilRevoked(backend: StoreBackend)
        async throws
    {
        try await backend.withStore { store, _ in
            let created = Date(timeIntervalSince1970: 1_800_000_000)
            let first = PushChannel(
                id: PushChannel.newId(), app: "one", task: "T", createdAt: created, expiresAt: created.addingTimeInterval(60))
            let second = PushChannel(
                id: PushChannel.newId(), app: "two", task: "T", createdAt: created.addingTimeInterval(1),
                expiresAt: created.addingTimeInterval(60))
            try store.insertChannel(first)
            try store.insertChannel(second)
            #expect(try store.channel(id: first.id) == first)
            #expect(try store.channel(id: "unknown") == nil)
            #expect(try store.channels(app: nil).map(\.id) == [first.id, second.id], "oldest first")
            #expect(try store.channels(app: "two").map(\.id) == [second.id])

            let later = created.addingTimeInterval(3600)
            #expect(try store.renewChannel(id: first.id, expiresAt: later)?.expiresAt == later)
            #expect(try store.revokeChannel(id: first.id, at: created.addingTimeInterval(5)))
            #expect(try !store.revokeChannel(id: first.id, at: created.addingTimeInterval(6)), "a channel is revoked once")
            #expect(try store.channel(id: first.id)?.revokedAt == created.addingTimeInterval(5))
            #expect(try store.renewChannel(id: first.id, expiresAt: later.addingTimeInterval(60)) == nil, "a revoked channel stays revoked")
            #expect(try store.renewChannel(id: "unknown", expiresAt: later) == nil)
            #expect(try !store.revokeChannel(id: "unknown", at: later))
        }
    }

    @Test(arguments: await StoreBackend.available()) func credentialsKeepTheirHashAndAreRevokedOnce(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            var (credential, token) = Credential.make(app: "one", label: "app server")
            credential.createdAt = Date(timeIntervalSince1970: 1_799_999_000)  // whole seconds: every backend keeps them exactly
            try store.insertCredential(credential)
            let stored = try #require(try store.credential(id: credential.id))
            #expect(stored == credential)
            #expect(!stored.secretHash.isEmpty && !token.isEmpty)
            #expect(try store.credentials().map(\.id) == [credential.id])
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            #expect(try store.revokeCredential(id: credential.id, at: now))
            #expect(try !store.revokeCredential(id: credential.id, at: now.addingTimeInterval(1)))
            #expect(try store.credential(id: credential.id)?.revokedAt == now)
            #expect(try store.credential(id: "unknown") == nil)
        }
    }

    @Test(arguments: await StoreBackend.available()) func aTimersAnchorIsStoredTheFirstTimeItIsAskedFor(backend: StoreBackend) async throws
    {
        try await backend.withStore { store, _ throws in
            let first = Date(timeIntervalSince1970: 1_800_000_000)
            #expect(try store.timerAnchor(app: "a", task: "Tick", default: first) == first)
            #expect(try store.timerAnchor(app: "a", task: "Tick", default: first.addingTimeInterval(900)) == first, "kept")
            let other = first.addingTimeInterval(30)
            #expect(try store.timerAnchor(app: "a", task: "Other", default: other) == other, "one anchor per task")
            #expect(try store.timerAnchor(app: "b", task: "Tick", default: other) == other, "and per app")
        }
    }
}
