import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

/// The store's view for the status page: counts, never secrets; the newest
/// instances; the last sandbox report.
@Suite struct StatusSnapshotTests {
    @Test(arguments: await StoreBackend.available()) func countsChannelsAndCredentialsByStateAndReadsTheNewestInstances(
        backend: StoreBackend
    )
        async throws
    {
        try await backend.withStore { store, _ in
            let now = Date()
            for (index, (expires, revoked)) in [(3600.0, false), (3600, false), (-1, false), (3600, true)].enumerated() {
                let channel = PushChannel(
                    id: "channel-\(index)", app: "a", task: "T", createdAt: now, expiresAt: now.addingTimeInterval(expires),
                    revokedAt: revoked ? now : nil)
                try store.insertChannel(channel)
            }
            for revoked in [false, true, true] {
                let (credential, _) = Credential.make(app: "a", label: "l")
                try store.insertCredential(credential)
                if revoked { _ = try store.revokeCredential(id: credential.id, at: now) }
            }
            try store.enqueue([
                NewTrigger(app: "a", task: "T", event: TriggerEvent(kind: .application)),
                NewTrigger(app: "a", task: "T", event: TriggerEvent(kind: .application)),
            ])
            var ids: [String] = []
            for index in 0..<4 {
                let id = RandomToken.uuid()
                ids.append(id)
                try store.insertInstance(
                    InstanceRecord(
                        id: id, app: "a", task: "T\(index)", triggerKind: .application, triggerId: "t\(index)", attempt: 1, hostPid: 1,
                        startedAt: now.addingTimeInterval(Double(index))))
                if index < 3 {
                    try store.finishInstance(
                        id: id, endedAt: now.addingTimeInterval(Double(index) + 0.5), outcome: .completed, progress: 0,
                        sandbox: "enforced: run \(index)",
                        appendingLog: index == 0
                            ? []
                            : [
                                LogLine(stream: .task, text: "first \(index)"), LogLine(stream: .host, text: "last \(index)"),
                                LogLine(stream: .stderr, text: " "),
                            ])
                }
            }

            let snapshot = try store.statusSnapshot(recent: 3, now: now)
            #expect(snapshot.channels == .init(active: 2, revoked: 1, expired: 1))
            #expect(snapshot.credentials == .init(active: 1, revoked: 2))
            #expect(snapshot.queue.map(\.state) == TriggerState.allCases, "every state, in order")
            #expect(snapshot.queue.first { $0.state == .pending }?.count == 2)
            #expect(snapshot.queue.first { $0.state == .dead }?.count == 0)
            #expect(snapshot.instances.map(\.id) == Array(ids.reversed().prefix(3)), "the newest first")
            #expect(snapshot.lastLogLines[ids[2]]?.text == "last 2", "blank lines are passed over")
            #expect(snapshot.lastLogLines[ids[2]]?.stream == .host)
            #expect(snapshot.lastLogLines[ids[1]]?.text == "last 1")
            #expect(snapshot.lastLogLines[ids[3]] == nil, "no line yet")
            // The newest instance still runs: the last report is the newest finished one's.
            #expect(snapshot.lastSandbox?.summary == "enforced: run 2")
            #expect(snapshot.lastSandbox?.instanceId == ids[2])
        }
    }

    @Test(arguments: await StoreBackend.available()) func anEmptyStoreHasNothingToShow(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            let snapshot = try store.statusSnapshot(recent: 25)
            #expect(snapshot.instances.isEmpty && snapshot.plugins.isEmpty && snapshot.disabledTasks.isEmpty)
            #expect(snapshot.channels == .init(active: 0, revoked: 0) && snapshot.credentials == .init(active: 0, revoked: 0))
            #expect(snapshot.lastSandbox == nil)
            #expect(snapshot.queue.allSatisfy { $0.count == 0 })
        }
    }
}
