import Foundation
import Logging
import Synchronization
import TaskHostConditions
import TaskHostManifest
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostPlugins
@testable import TaskHostScheduling
@testable import TaskHostStore

/// Triggers of tasks with `"Conditions"`, dispatched with a driven condition:
/// they wait (no attempt counted) while a condition does not hold, run when
/// it flips, and still expire by their time to live.
@Suite struct ConditionWaitTests {
    let app = "com.example.tests"

    func task(_ name: String, _ conditions: [TaskCondition]) -> TaskDeclaration {
        var task = Fixtures.task(name, "FaultyTasks.AsyncEchoTask")
        task.conditions = conditions
        return task
    }

    func dispatcher(_ store: SQLiteTaskStore, _ tasks: [TaskDeclaration], _ monitor: ConditionMonitor) -> Dispatcher {
        Dispatcher(
            store: store, runner: TaskRunner(store: store, workerPath: Fixtures.workerPath), registry: Fixtures.registry(tasks),
            retryPolicy: RetryPolicy(maxAttempts: 1), pollInterval: .milliseconds(50), conditions: monitor,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    func enqueue(_ store: SQLiteTaskStore, _ task: String, expiresAt: Date? = nil) throws -> String {
        let id = NewTrigger.newId()
        try store.enqueue([NewTrigger(app: app, task: task, event: TriggerEvent(kind: .application, triggerId: id), expiresAt: expiresAt)])
        return id
    }

    @Test func aTriggerWaitsWhileADrivenConditionIsFalseAndRunsWhenItFlips() async throws {
        let store = try Fixtures.store()
        let internet = DrivenCondition(.internet, value: false)
        let dispatcher = dispatcher(
            store, [task("Online", [.internetAvailable]), task("Offline", [.internetNotAvailable]), task("Plain", [])],
            ConditionMonitor(observers: [internet]))
        let online = try enqueue(store, "Online")
        let offline = try enqueue(store, "Offline")
        let plain = try enqueue(store, "Plain")
        let running = Task { await dispatcher.run() }
        defer { dispatcher.shutdown() }

        #expect(try await Fixtures.eventually { try store.queuedTrigger(idPrefix: online)?.state == .waiting })
        // The others run meanwhile: one needs the opposite, one needs nothing.
        #expect(try await Fixtures.eventually { try store.queuedTrigger(idPrefix: offline)?.state == .done })
        #expect(try await Fixtures.eventually { try store.queuedTrigger(idPrefix: plain)?.state == .done })
        let waiting = try #require(try store.queuedTrigger(idPrefix: online))
        #expect(waiting.state == .waiting && waiting.attempts == 0, "\(waiting)")
        #expect(waiting.lastError?.hasPrefix("waiting for its task's conditions: InternetAvailable (driven: false)") == true)
        #expect(try store.instances(task: "Online", limit: 10).isEmpty, "no instance ran for the waiting trigger")

        // The condition flips: the waiting trigger runs, on its first attempt; a new one of the opposite task now waits.
        internet.set(true)
        #expect(try await Fixtures.eventually { try store.queuedTrigger(idPrefix: online)?.state == .done })
        #expect(try store.queuedTrigger(idPrefix: online)?.attempts == 1)
        let late = try enqueue(store, "Offline")
        #expect(try await Fixtures.eventually { try store.queuedTrigger(idPrefix: late)?.state == .waiting })
        dispatcher.shutdown()
        await running.value
    }

    @Test func aWaitingTriggerExpiresByItsTimeToLive() async throws {
        let store = try Fixtures.store()
        let storage = DrivenCondition(.freeStorage, value: false)
        let dispatcher = dispatcher(store, [task("Big", [.freeStorage])], ConditionMonitor(observers: [storage]))
        let short = try enqueue(store, "Big", expiresAt: Date().addingTimeInterval(1))
        let long = try enqueue(store, "Big")
        let running = Task { await dispatcher.run() }
        defer { dispatcher.shutdown() }

        #expect(try await Fixtures.eventually { try store.queuedTrigger(idPrefix: long)?.state == .waiting })
        // The dispatcher's claims expire it once its time to live has passed, waiting or not.
        #expect(try await Fixtures.eventually { try store.queuedTrigger(idPrefix: short)?.state == .expired })
        #expect(try store.queuedTrigger(idPrefix: short)?.lastError == "time to live ran out before it could run")
        storage.set(true)
        #expect(try await Fixtures.eventually { try store.queuedTrigger(idPrefix: long)?.state == .done })
        #expect(try store.queuedTrigger(idPrefix: short)?.state == .expired, "an expired trigger is not resumed")
        dispatcher.shutdown()
        await running.value
    }

    @Test func aConditionThisHostCannotObserveDoesNotHold() async throws {
        let store = try Fixtures.store()
        let dispatcher = dispatcher(store, [task("Present", [.userPresent])], ConditionMonitor(observers: []))
        let id = try enqueue(store, "Present")
        let running = Task { await dispatcher.run() }
        defer { dispatcher.shutdown() }
        #expect(try await Fixtures.eventually { try store.queuedTrigger(idPrefix: id)?.state == .waiting })
        #expect(
            try store.queuedTrigger(idPrefix: id)?.lastError?.contains(
                "UserPresent (cannot be observed on this host: not observed by this host)") == true)
        dispatcher.shutdown()
        await running.value
    }

    @Test func aNoCachePushCannotStartATaskWhoseConditionsDoNotHold() throws {
        let store = try Fixtures.store()
        let internet = DrivenCondition(.internet, value: false)
        let dispatcher = dispatcher(
            store, [task("Online", [.internetAvailable]), task("Plain", [])], ConditionMonitor(observers: [internet]))
        #expect(!dispatcher.hasCapacity(app: app, task: "Online"))
        #expect(dispatcher.hasCapacity(app: app, task: "Plain"))
        internet.set(true)
        #expect(dispatcher.hasCapacity(app: app, task: "Online"))
    }

    @Test func withASharedStoreAHostResumesWhatAnotherHostMadeWait() async throws {
        let store = try Fixtures.store()
        // Holds here, but says nothing when it changes: as if another host, whose
        // conditions did not hold, had made the trigger wait.
        let internet = SilentCondition(.internet, value: false)
        let dispatcher = Dispatcher(
            store: store, runner: TaskRunner(store: store, workerPath: Fixtures.workerPath),
            registry: Fixtures.registry([task("Online", [.internetAvailable])]), retryPolicy: RetryPolicy(maxAttempts: 1),
            pollInterval: .milliseconds(50), conditions: ConditionMonitor(observers: [internet]), resumeInterval: .milliseconds(200),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let id = try enqueue(store, "Online")
        let running = Task { await dispatcher.run() }
        defer { dispatcher.shutdown() }
        #expect(try await Fixtures.eventually { try store.queuedTrigger(idPrefix: id)?.state == .waiting })
        internet.value = true
        #expect(try await Fixtures.eventually { try store.queuedTrigger(idPrefix: id)?.state == .done }, "resumed without a change here")
        dispatcher.shutdown()
        await running.value
    }
}

/// A fact whose value a test sets without telling anyone (``DrivenCondition`` announces each change).
final class SilentCondition: ConditionObserver {
    let fact: ConditionFact
    let source = "set by a test, silently"
    private let reading: Mutex<FactReading>

    init(_ fact: ConditionFact, value: Bool) {
        self.fact = fact
        reading = Mutex(FactReading(value: value, detail: "silent: \(value)"))
    }

    var value: Bool {
        get { reading.withLock { $0.value ?? false } }
        set { reading.withLock { $0 = FactReading(value: newValue, detail: "silent: \(newValue)") } }
    }

    var current: FactReading { reading.withLock { $0 } }
    func onChange(_ observer: @escaping @Sendable (FactReading) -> Void) {}
}
