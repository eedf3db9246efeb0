import Foundation
import Logging
import TaskHostManifest
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostScheduling
@testable import TaskHostStore

/// `taskhost replay`: a past instance's trigger queued again, with its
/// payload, channel and headers, a new id, and the mark of a replay, which
/// the instance that runs it keeps.
@Suite struct ReplayTests {
    let app = "com.example.tests"
    let sample = TestSupport.task("SampleBackgroundTask", "BackgroundTasks.SampleBackgroundTask", library: TestSupport.sampleTasks)

    func dispatcher(_ store: SQLiteTaskStore) -> Dispatcher {
        Dispatcher(
            store: store, runner: TaskRunner(store: store, workerPath: TestSupport.workerPath),
            registry: TestSupport.registry([sample]), pollInterval: .milliseconds(50),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    /// Runs the queue until `trigger` is done (a long wait, over as soon as
    /// it is done: a loaded machine can starve the dispatcher for a while).
    func runUntilDone(_ trigger: String, store: SQLiteTaskStore) async throws -> Bool {
        let dispatcher = dispatcher(store)
        let running = Task { await dispatcher.run() }
        let done = try await TestSupport.eventually(timeout: .seconds(120)) { try store.queuedTrigger(idPrefix: trigger)?.state == .done }
        dispatcher.shutdown()
        await running.value
        return done
    }

    @Test func aReplayRunsTheSamePayloadAgainAndHistoryMarksIt() async throws {
        let store = try TestSupport.store()
        let event = TriggerEvent(
            kind: .pushNotification, triggerId: NewTrigger.newId(), payload: Array("real input".utf8), channelId: "chan-1",
            headers: ["x-wns-type": "wns/raw", "x-note": "kept"])
        try store.enqueue([NewTrigger(app: app, task: sample.name, event: event, expiresAt: Date().addingTimeInterval(60))])
        #expect(try await runUntilDone(event.triggerId, store: store))
        let original = try #require(try store.instances(task: sample.name, limit: 1).first)
        #expect(original.replayOf == nil)
        // Something else overwrote what the task stored.
        try store.setSetting(app: app, key: sample.name, value: .string("something else"))

        let replay = try store.replay(instance: String(original.id.prefix(8)))
        #expect(replay.id != event.triggerId, "a new trigger id")
        #expect(replay.state == .pending)
        #expect(replay.attempts == 0)
        #expect(replay.expiresAt == nil, "a replay has no time to live")
        #expect(replay.event.replayOf == original.id)
        #expect(replay.event.payload == event.payload)
        #expect(replay.event.channelId == event.channelId)
        #expect(replay.event.headers == event.headers)
        #expect(replay.event.kind == .pushNotification)

        #expect(try await runUntilDone(replay.id, store: store))
        #expect(try store.setting(app: app, key: sample.name)?.value == .string("real input"), "the task saw the same payload")
        let instances = try store.instances(task: sample.name, limit: 5)
        #expect(instances.count == 2)
        let replayed = try #require(instances.first)
        #expect(replayed.id != original.id)
        #expect(replayed.replayOf == original.id, "history marks the replay")
        #expect(replayed.triggerId == replay.id)
        #expect(replayed.outcome == .completed)
        #expect(try store.queuedTrigger(idPrefix: event.triggerId)?.state == .done, "the original trigger is left as it was")
    }

    @Test func anUnknownInstanceIsAnError() throws {
        let store = try TestSupport.store()
        do {
            _ = try store.replay(instance: "0123abcd")
            Issue.record("replayed an instance that does not exist")
        } catch {
            #expect(error.code == .unknownInstance)
            #expect(error.description.contains("no instance \"0123abcd\""), "\(error)")
            #expect(error.description.contains("taskhost history"), "says where the ids are")
        }
        #expect(try store.queueCounts().isEmpty, "nothing queued")
    }

    @Test func anInstanceWhoseTriggerWasNotQueuedCannotBeReplayed() async throws {
        let store = try TestSupport.store()
        // What `taskhost run` does: the trigger goes straight to the runner, never to the queue.
        let record = try await TaskRunner(store: store, workerPath: TestSupport.workerPath).run(
            sample, trigger: .rawNotification(Array("local".utf8)))
        #expect(record.outcome == .completed)
        do {
            _ = try store.replay(instance: record.id)
            Issue.record("replayed an instance whose payload was not kept")
        } catch {
            #expect(error.code == .payloadNotKept)
            #expect(error.description.contains("its payload was not kept"), "\(error)")
            #expect(error.description.contains("taskhost run SampleBackgroundTask"), "says what to do instead: \(error)")
        }
        #expect(try store.queueCounts().isEmpty, "nothing queued")
    }
}
