import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostStorePostgres

/// Credentials and timers' anchors on PostgreSQL, shared by every host (channels: the conformance tests, TaskHostStoreTests).
@Suite(
    .enabled("needs PostgreSQL (skipped when absent outside CI; the line above the results says why)") { await PostgresServer.testsRun() })
struct PostgresChannelTests {
    @Test func credentialsKeepTheirHashAndAreRevoked() async throws {
        try await withStore { store, _ in
            let (credential, token) = Credential.make(app: "a", label: "ci")
            try store.insertCredential(credential)
            let loaded = try #require(try store.credential(id: credential.id))
            #expect(loaded.app == "a" && loaded.label == "ci" && loaded.secretHash == credential.secretHash && loaded.revokedAt == nil)
            #expect(abs(loaded.createdAt.timeIntervalSince(credential.createdAt)) < 0.001, "PostgreSQL keeps microseconds")
            let (id, secret) = try #require(Credential.parse(token: token))
            #expect(id == credential.id && Credential.secretMatches(secret, hash: loaded.secretHash))
            #expect(try store.credentials().map(\.id) == [credential.id])
            #expect(try store.revokeCredential(id: credential.id, at: Date()))
            #expect(try !store.revokeCredential(id: credential.id, at: Date()))
            #expect(try store.credential(id: credential.id)?.revokedAt != nil)
        }
    }

    @Test func theFirstHostToAskSetsATimersAnchorForAll() async throws {
        try await withStore { store, database in
            let otherHost = try database.store()
            defer { otherHost.close() }
            let first = Date(timeIntervalSince1970: 1000)
            #expect(try store.timerAnchor(app: "a", task: "T", default: first) == first)
            #expect(try otherHost.timerAnchor(app: "a", task: "T", default: Date(timeIntervalSince1970: 2000)) == first)
            #expect(
                try otherHost.timerAnchor(app: "a", task: "U", default: Date(timeIntervalSince1970: 3000)).timeIntervalSince1970 == 3000)
        }
    }
}
