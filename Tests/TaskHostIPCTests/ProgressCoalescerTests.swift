import Testing

@testable import TaskHostIPC

/// The coalescing of progress values (worker: one frame per 100 ms; host:
/// one store write per 500 ms): the first value goes out at once, values
/// within the interval are held (the newest wins), the held one goes out
/// when due or at the end, and nothing goes out twice.
@Suite struct ProgressCoalescerTests {
    let start = ContinuousClock.now
    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    @Test func theFirstValueGoesOutAtOnce() {
        var coalescer = ProgressCoalescer(interval: .milliseconds(100))
        #expect(coalescer.offer(10, at: at(0)) == 10)
        #expect(coalescer.deadline == nil)
        #expect(coalescer.heldValue == nil)
    }

    @Test func valuesWithinTheIntervalAreHeldAndTheNewestWins() {
        var coalescer = ProgressCoalescer(interval: .milliseconds(100))
        #expect(coalescer.offer(10, at: at(0)) == 10)
        #expect(coalescer.offer(20, at: at(10)) == nil)
        #expect(coalescer.offer(30, at: at(50)) == nil)
        #expect(coalescer.heldValue == 30)
        #expect(coalescer.deadline == at(100), "due one interval after the last value that went out")
        #expect(coalescer.due(at: at(99)) == nil, "not before its deadline")
        #expect(coalescer.due(at: at(100)) == 30)
        #expect(coalescer.heldValue == nil)
        #expect(coalescer.deadline == nil)
        #expect(coalescer.due(at: at(500)) == nil, "nothing held, nothing due")
    }

    @Test func aValueAfterTheIntervalGoesOutAtOnceAndReplacesAHeldOne() {
        var coalescer = ProgressCoalescer(interval: .milliseconds(100))
        _ = coalescer.offer(1, at: at(0))
        #expect(coalescer.offer(2, at: at(40)) == nil)
        #expect(coalescer.offer(3, at: at(150)) == 3, "the interval has passed: 3 goes out, 2 is dropped")
        #expect(coalescer.heldValue == nil)
        #expect(coalescer.offer(4, at: at(200)) == nil, "the interval counts from 3")
        #expect(coalescer.deadline == at(250))
    }

    @Test func theLastValueAlwaysGoesOutWhenFlushed() {
        var coalescer = ProgressCoalescer(interval: .seconds(60))
        _ = coalescer.offer(5, at: at(0))
        for value in 6...99 { #expect(coalescer.offer(UInt32(value), at: at(value)) == nil) }
        #expect(coalescer.flush(at: at(100)) == 99, "the end does not wait for the deadline")
        #expect(coalescer.flush(at: at(101)) == nil, "flushed once")
    }

    @Test func aValueEqualToTheLastOneSentIsNotSentAgain() {
        var coalescer = ProgressCoalescer(interval: .milliseconds(100))
        #expect(coalescer.offer(50, at: at(0)) == 50)
        #expect(coalescer.offer(50, at: at(200)) == nil, "unchanged")
        #expect(coalescer.offer(70, at: at(210)) == 70)
        #expect(coalescer.offer(50, at: at(220)) == nil)
        #expect(coalescer.offer(70, at: at(230)) == nil, "back to the value sent: held")
        #expect(coalescer.due(at: at(310)) == nil, "and dropped when due: the receiver already has 70")
        #expect(coalescer.heldValue == nil)
        #expect(coalescer.flush(at: at(400)) == nil)
    }

    @Test func aStormOfValuesSendsAtMostOnePerInterval() {
        var coalescer = ProgressCoalescer(interval: .milliseconds(100))
        var sent: [(value: UInt32, at: Int)] = []
        // 10,000 values over one second, one every 0.1 ms, with the reader's look every 10 ms.
        for step in 0..<10_000 {
            let time = at(step / 10)
            if let value = coalescer.offer(UInt32(step % 101), at: time) { sent.append((value, step / 10)) }
            if step % 100 == 0, let value = coalescer.due(at: time) { sent.append((value, step / 10)) }
        }
        if let value = coalescer.flush(at: at(1000)) { sent.append((value, 1000)) }
        #expect(sent.count <= 11, "\(sent.count) sent")
        for (earlier, later) in zip(sent, sent.dropFirst()) where later.at != 1000 {
            #expect(later.at - earlier.at >= 100, "\(earlier) then \(later)")
        }
        #expect(sent.last?.value == UInt32(9_999 % 101), "the last value set is the last sent")
    }
}
