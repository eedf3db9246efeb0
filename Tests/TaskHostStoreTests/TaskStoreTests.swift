import Foundation
import TaskHostCore
import TaskHostShared
import TaskHostStore
import Testing

/// Settings and the history of instances (``TaskStore``), on every backend.
@Suite struct TaskStoreTests {
    @Test(arguments: await StoreBackend.available()) func settingsAreScopedByApp(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            try store.setSetting(app: "one", key: "k", value: .int(1))
            try store.setSetting(app: "two", key: "k", value: .string("two"))
            try store.setSetting(app: "one", key: "k", value: .int(2))
            #expect(try store.setting(app: "one", key: "k")?.value == .int(2))
            #expect(try store.setting(app: "two", key: "k")?.value == .string("two"))
            #expect(try store.settings(app: "one").map(\.key) == ["k"])
            #expect(try store.apps() == ["one", "two"])
            #expect(try store.deleteSetting(app: "one", key: "k"))
            #expect(try !store.deleteSetting(app: "one", key: "k"))
            #expect(try store.setting(app: "one", key: "k") == nil)
        }
    }

    @Test(arguments: await StoreBackend.available()) func everyValueTypeSurvivesTheStore(backend: StoreBackend) async throws {
        try await backend.withStore { store, reopen in
            let values: [SettingValue] = [
                "text", .int(-5), .uint(UInt64.max), .double(0.25), true, .date(Date(timeIntervalSince1970: 1_700_000_000.5)),
                .uuid(UUID()), .bytes([0, 255]), .composite(["a": 1, "b": "x"]),
            ]
            for (index, value) in values.enumerated() { try store.setSetting(app: "a", key: "k\(index)", value: value) }
            let reopened = try reopen()
            #expect(try reopened.settings(app: "a").map(\.value) == values)
        }
    }

    @Test(arguments: await StoreBackend.available()) func recordsInstancesAndTheirLogs(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            let started = Date(timeIntervalSince1970: 1000)
            let record = InstanceRecord(
                id: "0123abcd-0000-0000-0000-000000000000", app: "a", task: "T", triggerKind: .pushNotification,
                triggerId: "trigger", attempt: 1, pid: 42, hostPid: 10, startedAt: started)
            try store.insertInstance(record)
            #expect(try store.instance(idPrefix: "0123")?.outcome == nil)
            try store.appendLog(instanceId: record.id, lines: [LogLine(stream: .task, text: "one")])
            try store.finishInstance(
                id: record.id, endedAt: started.addingTimeInterval(1.5), outcome: .crashed(signal: 11), progress: 7,
                sandbox: "enforced: seccomp",
                appendingLog: [LogLine(stream: .stderr, text: "two"), LogLine(stream: .host, text: "three")])
            let loaded = try #require(try store.instance(idPrefix: "0123abcd"))
            #expect(loaded.pid == 42)
            #expect(loaded.outcome == .crashed(signal: 11))
            #expect(loaded.progress == 7)
            #expect(loaded.sandbox == "enforced: seccomp")
            #expect(loaded.duration == .milliseconds(1500))
            #expect(try store.log(instanceId: record.id).map(\.text) == ["one", "two", "three"])
            #expect(try store.log(instanceId: record.id).map(\.stream) == [.task, .stderr, .host])
            #expect(try store.instances(task: "T", limit: 5).map(\.id) == [record.id])
            #expect(try store.instances(task: "Other", limit: 5).isEmpty)
            #expect(try store.instance(idPrefix: "012") == nil, "prefixes shorter than 4 characters do not match")
        }
    }

    @Test(arguments: await StoreBackend.available()) func ambiguousPrefixesAreAnError(backend: StoreBackend) async throws {
        try await backend.withStore { store, _ in
            for suffix in ["1", "2"] {
                try store.insertInstance(
                    InstanceRecord(
                        id: "abcd000\(suffix)", app: "a", task: "T", triggerKind: .application, triggerId: "t", attempt: 1,
                        hostPid: 1, startedAt: Date()))
            }
            #expect(throws: StoreError.self) { try store.instance(idPrefix: "abcd") }
            #expect(try store.instance(idPrefix: "abcd0002")?.id == "abcd0002")
        }
    }
}
