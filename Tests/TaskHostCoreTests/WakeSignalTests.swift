import Testing

@testable import TaskHostScheduling

/// The signal that wakes the dispatcher's loop early. Every wait here would
/// last an hour if the signal were lost, so a lost signal fails the test
/// (by the suite's time limit) instead of passing slowly. The limit is far
/// above what the tests take (milliseconds) because the whole suite shares
/// one cooperative pool of two threads, which other tests' work can hold
/// for minutes on a loaded machine (a 1-minute limit was once reached so).
@Suite(.timeLimit(.minutes(10))) struct WakeSignalTests {
    @Test func aSignalSentBeforeTheWaitIsKeptForIt() async {
        let signal = WakeSignal()
        signal.signal()
        await signal.wait(timeout: .seconds(3600))
    }

    @Test func aSignalWakesAWaiter() async {
        let signal = WakeSignal()
        async let waited: Void = signal.wait(timeout: .seconds(3600))
        // Signal until the waiter has gone: a signal sent before it waits is
        // kept, one sent after wakes it; either way it returns.
        signal.signal()
        await waited
    }

    @Test func aWaitEndsByItsTimeoutWithoutASignal() async {
        let signal = WakeSignal()
        await signal.wait(timeout: .milliseconds(10))
        // A timed-out wait leaves nothing behind: the next signal is kept.
        signal.signal()
        await signal.wait(timeout: .seconds(3600))
    }

    @Test func manyWaitersInTurnEachGetTheirSignal() async {
        let signal = WakeSignal()
        for _ in 0..<100 {
            async let waited: Void = signal.wait(timeout: .seconds(3600))
            signal.signal()
            await waited
        }
    }
}
