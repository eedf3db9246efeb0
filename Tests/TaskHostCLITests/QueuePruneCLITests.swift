import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

/// `taskhost queue prune` and the retention options from the command line:
/// what prune removes and prints, and the errors of a retention that is not one.
@Suite struct QueuePruneCLITests {
    let state = TestSupport.temporaryDirectory()

    var store: SQLiteTaskStore { get throws { try SQLiteTaskStore(stateDirectory: StateDirectory(path: state)) } }

    func taskhost(_ arguments: [String], environment: [String: String] = [:]) throws -> TaskHostCommand.Result {
        try TaskHostCommand.run(arguments, in: state, stateDirectory: state, environment: environment)
    }

    /// Queues a trigger and settles it as `state` says (or leaves it pending).
    func trigger(settledAs state: TriggerState?) throws -> String {
        let store = try store
        let event = TriggerEvent(kind: .application, triggerId: NewTrigger.newId())
        try store.enqueue([NewTrigger(app: "a", task: "T", event: event)])
        switch state {
        case .done?: try store.markDone(id: event.triggerId, instanceId: "i")
        case .dead?: try store.markDead(id: event.triggerId, instanceId: nil, error: "no")
        default: break
        }
        return event.triggerId
    }

    @Test func prunePrintsWhatItRemovedAndKeepsWhatIsNotSettled() throws {
        let done = try trigger(settledAs: .done)
        let dead = try trigger(settledAs: .dead)
        let pending = try trigger(settledAs: nil)

        let kept = try taskhost(["queue", "prune"])
        #expect(kept.status == 0, "\(kept.stderr)")
        #expect(kept.stdout.contains("pruned 0 settled trigger(s)"), "the default keeps 7 days: \(kept.stdout)")

        let pruned = try taskhost(["queue", "prune", "--older-than", "0"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(pruned.stdout.contains("pruned 2 settled trigger(s)"), "\(pruned.stdout)")
        #expect(try store.queuedTrigger(idPrefix: done) == nil && store.queuedTrigger(idPrefix: dead) == nil)
        #expect(try store.queuedTrigger(idPrefix: pending)?.state == .pending)

        // `taskhost queue` itself still lists the queue.
        let queue = try taskhost(["queue"])
        #expect(queue.status == 0 && queue.stdout.contains("pending 1") && queue.stdout.contains("done 0"), "\(queue.stdout)")
    }

    @Test func theRetentionComesFromTheEnvironmentWhenNoOptionGivesIt() throws {
        _ = try trigger(settledAs: .done)
        let forever = try taskhost(["queue", "prune"], environment: ["TASKHOST_KEEP_DONE": "forever"])
        #expect(forever.status == 0 && forever.stdout.contains("pruned nothing"), "\(forever.stdout) \(forever.stderr)")
        let zero = try taskhost(["queue", "prune"], environment: ["TASKHOST_KEEP_DONE": "0"])
        #expect(zero.status == 0 && zero.stdout.contains("pruned 1 settled trigger(s)"), "\(zero.stdout) \(zero.stderr)")
    }

    @Test func aRetentionThatIsNotOneIsRefusedWithTheSyntax() throws {
        for (arguments, environment, named) in [
            (["queue", "prune", "--older-than", "soon"], [:], "--older-than \"soon\""),
            (["queue", "prune", "--older-than=-1d"], [:], "--older-than \"-1d\""),
            (["serve", "--port", "0", "--keep-done", "7w"], [:], "--keep-done \"7w\""),
            (["serve", "--port", "0"], ["TASKHOST_KEEP_DONE": "weekly"], "$TASKHOST_KEEP_DONE \"weekly\""),
        ] as [([String], [String: String], String)] {
            let result = try taskhost(arguments, environment: environment)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(named) && result.stderr.contains("forever, 0, or a number of seconds"), "\(result.stderr)")
        }
    }
}
