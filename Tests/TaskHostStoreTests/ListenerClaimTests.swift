import Foundation
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostStore

/// Foreground listeners' claims (issue 18): the first claim of a pending push
/// wins, on every backend, and a claimed trigger is settled.
@Suite struct ListenerClaimTests {
    func push(app: String = "a", kind: TriggerKind = .pushNotification, availableAt: Date = Date()) -> NewTrigger {
        NewTrigger(
            app: app, task: "T",
            event: TriggerEvent(kind: kind, triggerId: NewTrigger.newId(), payload: Array("p".utf8), channelId: "c"),
            availableAt: availableAt)
    }

    @Test(arguments: await StoreBackend.available()) func theFirstClaimWinsAndSettlesTheTrigger(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            let trigger = push(availableAt: Date().addingTimeInterval(60))
            try store.enqueue([trigger])
            #expect(try store.claimForListener(id: trigger.id, app: "a", at: Date()))
            #expect(try !store.claimForListener(id: trigger.id, app: "a", at: Date()), "a second claim loses")
            #expect(try store.queuedTrigger(idPrefix: trigger.id)?.state == .claimed)
            #expect(try store.queueCounts() == [.claimed: 1])
            // Settled: the dispatcher never takes it, even once it is due.
            #expect(try store.claim(limit: 10, owner: "h", now: Date().addingTimeInterval(120)) { _, _ in true }.isEmpty)
        }
    }

    @Test(arguments: await StoreBackend.available()) func aTriggerTheDispatcherTookCannotBeClaimed(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            let trigger = push()
            try store.enqueue([trigger])
            #expect(try store.claim(limit: 1, owner: "h", now: Date()) { _, _ in true }.count == 1)
            #expect(try !store.claimForListener(id: trigger.id, app: "a", at: Date()))
            #expect(try store.queuedTrigger(idPrefix: trigger.id)?.state == .running)
        }
    }

    @Test(arguments: await StoreBackend.available()) func onlyThePushesOfTheListenersAppCanBeClaimed(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            let other = push(app: "b")
            let application = push(kind: .application)
            try store.enqueue([other, application])
            #expect(try !store.claimForListener(id: other.id, app: "a", at: Date()), "another app's push")
            #expect(try !store.claimForListener(id: application.id, app: "a", at: Date()), "not a push")
            #expect(try !store.claimForListener(id: "no-such-trigger", app: "a", at: Date()))
            #expect(try store.queueCounts() == [.pending: 2])
        }
    }

    @Test(arguments: await StoreBackend.available()) func claimedTriggersArePrunedLikeDoneOnes(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            let trigger = push()
            try store.enqueue([trigger])
            #expect(try store.claimForListener(id: trigger.id, app: "a", at: Date().addingTimeInterval(-3600)))
            let pruned = try store.pruneSettled(before: Date().addingTimeInterval(-60), batchSize: 100)
            #expect(pruned.triggers == 1)
            #expect(try store.queuedTrigger(idPrefix: trigger.id) == nil)
        }
    }

    @Test(arguments: await StoreBackend.available()) func aListenCredentialKeepsItsScope(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            let (listen, _) = Credential.make(app: "a", label: "l", scope: .listen)
            let (push, _) = Credential.make(app: "a", label: "p")
            try store.insertCredential(listen)
            try store.insertCredential(push)
            #expect(try store.credential(id: listen.id)?.scope == .listen)
            #expect(try store.credential(id: push.id)?.scope == .push)
        }
    }
}
