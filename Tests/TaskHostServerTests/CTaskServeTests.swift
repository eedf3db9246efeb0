import Foundation
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

/// The sample C plugin behind `taskhost serve`: a raw push on its channel runs
/// `on_push` in a worker, and what it stores is there afterwards.
@Suite(.serialized) struct CTaskServeTests {
    @Test func aPushRunsTheCPluginWhichStoresSettings() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = directory + "/manifest.json"
        try """
        {"Identity": {"Name": "com.example.tests"}, "BackgroundTasks": [
          {"Name": "PushCounter", "Abi": "c", "Symbol": "on_push", "Signature": "int32 (instance, host)",
           "Library": "\(TestSupport.cPushCounter)", "Triggers": [{"Type": "PushNotification"}]}]}
        """.write(toFile: manifest, atomically: true, encoding: .utf8)
        let (store, channel, token) = try ServeProcessTests.prepare(directory, task: "PushCounter")

        let server = try ServeProcess(manifest: manifest, stateDirectory: directory)
        defer { _ = server.terminate() }
        #expect(await ServeProcessTests.push(port: server.port, channel: channel.id, token: token, content: "first") == 200)
        #expect(try await TestSupport.eventually { try store.setting(app: "com.example.tests", key: "PushCount")?.value == .int(1) })
        #expect(await ServeProcessTests.push(port: server.port, channel: channel.id, token: token, content: "second") == 200)
        #expect(try await TestSupport.eventually { try store.setting(app: "com.example.tests", key: "PushCount")?.value == .int(2) })
        #expect(
            try await TestSupport.eventually {
                try store.setting(app: "com.example.tests", key: "LastPayload")?.value == .string("second")
            })

        // The instance is recorded as over just after its last setting.
        #expect(
            try await TestSupport.eventually {
                try store.instances(task: "PushCounter", limit: 5).filter { $0.outcome == .completed }.count == 2
            })
        let instances = try store.instances(task: "PushCounter", limit: 5)
        #expect(instances.count == 2)
        #expect(instances.allSatisfy { $0.outcome == .completed && $0.triggerKind == .pushNotification })
        let latest = try #require(instances.first { try store.log(instanceId: $0.id).map(\.text).contains { $0.hasSuffix(": second") } })
        #expect(try store.log(instanceId: latest.id).map(\.text).contains("Background PushCounter completed: 2 pushes"))
        #expect(server.terminate() == 0)
    }
}
