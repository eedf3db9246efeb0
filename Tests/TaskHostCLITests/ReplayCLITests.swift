import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

/// `taskhost replay INSTANCE` from the command line: what it prints, what it
/// queues, its errors, and how `history` and `logs` mark a replay.
/// (That a replay runs the same payload again: ReplayTests.)
@Suite struct ReplayCLITests {
    let state = TestSupport.temporaryDirectory()
    let app = "com.example.replay"

    var store: SQLiteTaskStore { get throws { try SQLiteTaskStore(stateDirectory: StateDirectory(path: state)) } }

    func taskhost(_ arguments: String...) throws -> TaskHostCommand.Result {
        try TaskHostCommand.run(arguments, in: state, stateDirectory: state)
    }

    /// A finished instance of `task`, started by `triggerId`.
    func instance(_ task: String, triggerId: String, replayOf: String? = nil) throws -> InstanceRecord {
        let record = InstanceRecord(
            id: RandomToken.uuid(), app: app, task: task, triggerKind: .pushNotification, triggerId: triggerId, attempt: 1,
            hostPid: getpid(), startedAt: Date(), replayOf: replayOf)
        try store.insertInstance(record)
        try store.finishInstance(id: record.id, endedAt: Date(), outcome: .completed, progress: 0, sandbox: "")
        return record
    }

    @Test func replayQueuesTheTriggerAgainAndPrintsItsId() throws {
        let event = TriggerEvent(
            kind: .pushNotification, triggerId: NewTrigger.newId(), payload: [0, 1, 2, 255], channelId: "c", headers: ["x-a": "b"])
        try store.enqueue([NewTrigger(app: app, task: "T", event: event)])
        let original = try instance("T", triggerId: event.triggerId)

        let replay = try taskhost("replay", String(original.id.prefix(8)))
        #expect(replay.status == 0, "\(replay.stderr)")
        let id = replay.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let queued = try #require(try store.queuedTrigger(idPrefix: id), "\(replay.stdout)")
        #expect(queued.id != event.triggerId)
        #expect(queued.state == .pending)
        #expect(queued.event.payload == event.payload && queued.event.headers == event.headers)
        #expect(queued.event.replayOf == original.id)
        #expect(replay.stderr.contains("no host is running"), "says nothing will run it yet: \(replay.stderr)")
    }

    @Test func historyAndLogsMarkAReplay() throws {
        let original = try instance("T", triggerId: NewTrigger.newId())
        let replayed = try instance("T", triggerId: NewTrigger.newId(), replayOf: original.id)
        let history = try taskhost("history")
        #expect(history.status == 0, "\(history.stderr)")
        let row = try #require(history.stdout.split(separator: "\n").first { $0.hasPrefix(replayed.id.prefix(8)) })
        #expect(row.contains("push, replay of \(original.id.prefix(8))"), "\(row)")
        let plain = try #require(history.stdout.split(separator: "\n").first { $0.hasPrefix(original.id.prefix(8)) })
        #expect(!plain.contains("replay"), "\(plain)")
        let logs = try taskhost("logs", String(replayed.id.prefix(8)))
        #expect(logs.stdout.contains("replay of instance \(original.id)"), "\(logs.stdout)")
    }

    @Test func anUnknownInstanceOrOneWithoutAKeptPayloadIsAClearError() throws {
        let unknown = try taskhost("replay", "abcd1234")
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no instance \"abcd1234\""), "\(unknown.stderr)")
        let local = try instance("T", triggerId: RandomToken.uuid())  // as taskhost run records it: not queued
        let notKept = try taskhost("replay", local.id)
        #expect(notKept.status == 1)
        #expect(notKept.stderr.contains("its payload was not kept"), "\(notKept.stderr)")
        #expect(try store.queueCounts().isEmpty, "nothing queued")
    }
}
