import Foundation
import TaskHostCore
import TaskHostStore
import Testing

/// Replays (``ReplayStore``): a past instance's trigger queued again, on every backend.
@Suite struct ReplayStoreTests {
    static func instance(triggerId: String) -> InstanceRecord {
        InstanceRecord(
            id: RandomToken.uuid(), app: "a", task: "T", triggerKind: .pushNotification, triggerId: triggerId, attempt: 2,
            hostPid: 1, startedAt: Date())
    }

    @Test(arguments: await StoreBackend.available()) func aReplayQueuesTheSameTriggerAgainMarkedAsOne(backend: StoreBackend)
        async throws
    {
        try await backend.withStore { store, _ in
            let original = NewTrigger(
                app: "a", task: "T",
                event: TriggerEvent(
                    kind: .pushNotification, triggerId: NewTrigger.newId(), payload: [0, 255, 10], channelId: "c",
                    headers: ["x-wns-type": "wns/raw"], arguments: ["k": "v"]),
                expiresAt: Date().addingTimeInterval(60))
            try store.enqueue([original])
            let ran = Self.instance(triggerId: original.id)
            try store.insertInstance(ran)

            let replayed = try store.replay(instance: String(ran.id.prefix(8)))
            #expect(replayed.id != original.id)
            #expect(replayed.state == .pending && replayed.attempts == 0)
            #expect(replayed.expiresAt == nil, "no time to live")
            #expect(replayed.event.replayOf == ran.id)
            #expect(replayed.event.payload == [0, 255, 10] && replayed.event.channelId == "c")
            #expect(replayed.event.headers == ["x-wns-type": "wns/raw"] && replayed.event.arguments == ["k": "v"])
            #expect(try store.queuedTrigger(idPrefix: replayed.id)?.event.replayOf == ran.id)
            #expect(try store.queueCounts() == [.pending: 2])
        }
    }

    @Test(arguments: await StoreBackend.available()) func whatCannotBeReplayedIsAnErrorThatSaysWhy(backend: StoreBackend)
        async throws
    {
        try await backend.withStore { store, _ in
            let unknown = #expect(throws: ReplayError.self) { try store.replay(instance: "ffffffff") }
            #expect(unknown?.code == .unknownInstance)
            let local = Self.instance(triggerId: "local")  // taskhost run: never queued
            try store.insertInstance(local)
            let notKept = #expect(throws: ReplayError.self) { try store.replay(instance: local.id) }
            #expect(notKept?.code == .payloadNotKept)
            #expect(notKept?.message.contains("taskhost run T") == true)
            #expect(try store.queueCounts().isEmpty)
        }
    }
}
