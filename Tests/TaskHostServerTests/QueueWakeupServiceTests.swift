import Foundation
import Logging
import Synchronization
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostServer

/// The service that wakes the dispatcher on other hosts' writes, against a
/// scripted wake-up source: it listens again after each failure, logs one
/// warning per outage and one line when it listens again, and wakes the
/// dispatcher for every notification and once per listen.
struct QueueWakeupServiceTests {
    @Test func listensAgainAfterEachFailureAndLogsOncePerOutage() async throws {
        // Two failed connects (one outage), a listen that gets two wake-ups and
        // then loses its connection (a second outage), a listen that gets one.
        let source = ScriptedWakeupSource([.fail, .fail, .listen(wakes: 2, then: .fail), .listen(wakes: 1, then: .wait)])
        let wakes = Atomic<Int>(0)
        let logs = LogLines()
        let service = QueueWakeupService(
            source: source, bound: StartGate(), wake: { wakes.add(1, ordering: .relaxed) }, logger: logs.logger,
            backoff: .init(first: .milliseconds(1), maximum: .milliseconds(4)))
        let running = Task { await service.listen() }
        let reachedTheLastListen = await TestSupport.eventually(timeout: .seconds(60)) { source.calls == 4 && source.waiting }
        #expect(reachedTheLastListen, "listened again after each failure")
        // Each listen in place wakes once (for what was committed meanwhile), plus its notifications.
        #expect(wakes.load(ordering: .relaxed) == (1 + 2) + (1 + 1))
        running.cancel()
        await running.value
        #expect(source.calls == 4, "cancelled, it does not listen again")

        let lines = logs.lines
        #expect(lines.filter { $0.level == .warning }.count == 2, "one warning per outage: \(lines)")
        #expect(lines.filter { $0.level == .warning }.allSatisfy { $0.metadata["error"]?.contains("connection refused") == true })
        #expect(lines.filter { $0.level == .info && $0.message.contains("again") }.count == 2, "\(lines)")
        let order = lines.filter { $0.level >= .info }.map(\.level)
        #expect(order == [.warning, .info, .warning, .info], "warned, listening again, warned, listening again")
    }

    @Test func theBackoffDoublesUpToItsMaximum() {
        let backoff = QueueWakeupService.Backoff(first: .milliseconds(100), maximum: .seconds(5))
        var waits = [backoff.first]
        while waits.count < 9 { waits.append(backoff.next(after: waits.last!)) }
        #expect(waits == [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000].map { Duration.milliseconds($0) })
    }

    @Test func aCancelledListenIsNotAFailure() async throws {
        let source = ScriptedWakeupSource([.listen(wakes: 0, then: .wait)])
        let logs = LogLines()
        let service = QueueWakeupService(source: source, bound: StartGate(), wake: {}, logger: logs.logger)
        let running = Task { await service.listen() }
        #expect(await TestSupport.eventually(timeout: .seconds(60)) { source.waiting })
        running.cancel()
        await running.value
        #expect(source.calls == 1)
        #expect(logs.lines.allSatisfy { $0.level < .warning }, "\(logs.lines)")
    }
}

/// A wake-up source that plays a script, one step per call of ``listenForWakeups(listening:wake:)``.
private final class ScriptedWakeupSource: QueueWakeupSource {
    enum Step: Sendable {
        /// Cannot connect.
        case fail
        /// Listens, calls `wake` `wakes` times, then fails or waits for cancellation.
        indirect case listen(wakes: Int, then: Step)
        /// Waits until cancelled (only after `listen`).
        case wait
    }

    private struct State {
        var script: [Step]
        var calls = 0
        var waiting = false
    }

    private let state: Mutex<State>

    init(_ script: [Step]) { state = Mutex(State(script: script)) }

    var calls: Int { state.withLock { $0.calls } }
    var waiting: Bool { state.withLock { $0.waiting } }

    func listenForWakeups(listening: @escaping @Sendable () -> Void, wake: @escaping @Sendable () -> Void) async throws(StoreError) {
        let step = state.withLock { state -> Step in
            state.calls += 1
            return state.script.isEmpty ? .wait : state.script.removeFirst()
        }
        var current = step
        while true {
            switch current {
            case .fail:
                throw StoreError("store (PostgreSQL): cannot listen for wake-ups: connection refused", resultCode: 14)
            case .listen(let wakes, let then):
                listening()
                for _ in 0..<wakes { wake() }
                current = then
            case .wait:
                state.withLock { $0.waiting = true }
                while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(10)) }
                state.withLock { $0.waiting = false }
                return
            }
        }
    }
}
