import Foundation
import Glibc
import Synchronization
package import TaskHostManifest

/// A blocking read of one fact from the system (files under /proc, /sys or
/// /run, `statvfs`, a TCP connect). ``ConditionPoller`` calls it on its own
/// thread, never on the cooperative pool.
package protocol FactProbe: Sendable {
    /// The fact it reads.
    var fact: ConditionFact { get }
    /// Where the value comes from on Linux.
    var source: String { get }
    /// How often it is read when no event says it changed.
    var interval: Duration { get }
    /// Reads the fact now (blocks).
    func read() -> FactReading
}

/// A ``FactProbe``'s fact as an observer: the last reading of the poller.
package final class PolledFact: ConditionObserver {
    /// The probe that reads it.
    package let probe: any FactProbe
    private let state: FactState

    /// An observer of `probe`'s fact, not read yet (not observable until the poller's first read).
    package init(_ probe: any FactProbe) {
        self.probe = probe
        state = FactState(FactReading(value: nil, detail: "not read yet"))
    }

    package var fact: ConditionFact { probe.fact }
    package var source: String { probe.source }
    package var current: FactReading { state.current }
    package func onChange(_ observer: @escaping @Sendable (FactReading) -> Void) { state.onChange(observer) }

    /// Reads the probe and publishes the reading (on the poller's thread).
    func refresh() { state.publish(probe.read()) }
}

/// Reads polled facts on a thread of its own (`taskhost-conditions`): each at
/// its probe's interval, and at once those an event source names when the
/// kernel says they may have changed (``RouteEvents``: netlink route changes;
/// ``SessionEvents``: inotify on logind's sessions directory), so that a route
/// or a session that appears is seen within milliseconds rather than at the next poll.
package final class ConditionPoller: Sendable {
    private let facts: [PolledFact]
    private let stopping = Atomic<Bool>(false)
    private let events: [any FactEvents]

    /// A poller of `facts`; `events`: what makes it read some of them again at once.
    package init(facts: [PolledFact], events: [any FactEvents]) {
        self.facts = facts
        self.events = events
    }

    /// Starts the thread, which reads every fact at once, then as they fall
    /// due (until then a fact reads as not observable, so triggers that need
    /// it wait, and resume at the first reading).
    package func start() {
        let thread = Thread { [self] in
            for fact in facts { fact.refresh() }
            loop()
        }
        thread.name = "taskhost-conditions"
        thread.start()
    }

    /// Stops the thread (within a second).
    package func stop() { stopping.store(true, ordering: .relaxed) }

    private func loop() {
        let clock = ContinuousClock()
        var due = facts.map { clock.now + $0.probe.interval }
        var descriptors = events.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
        while !stopping.load(ordering: .relaxed) {
            let now = clock.now
            for index in facts.indices where due[index] <= now {
                facts[index].refresh()
                due[index] = clock.now + facts[index].probe.interval
            }
            // Wait for the next due read, at most a second (to see `stop`), or an event.
            let next = due.min().map { max(.zero, $0 - clock.now) } ?? .seconds(1)
            let wait = min(next, .seconds(1))
            let milliseconds = Int32(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
            guard !descriptors.isEmpty else {
                Thread.sleep(forTimeInterval: Double(milliseconds) / 1000)
                continue
            }
            for index in descriptors.indices { descriptors[index].revents = 0 }
            guard poll(&descriptors, nfds_t(descriptors.count), milliseconds) > 0 else { continue }
            for (source, descriptor) in zip(events, descriptors) where descriptor.revents != 0 && source.drain() {
                for index in facts.indices where source.facts.contains(facts[index].fact) {
                    facts[index].refresh()
                    due[index] = clock.now + facts[index].probe.interval
                }
            }
        }
        for source in events { source.close() }
    }
}

/// A kernel descriptor that becomes readable when some facts may have changed.
package protocol FactEvents: AnyObject, Sendable {
    /// The facts to read again when it fires.
    var facts: Set<ConditionFact> { get }
    /// The descriptor to `poll(2)`.
    var descriptor: Int32 { get }
    /// Reads what arrived (without blocking); whether anything did.
    func drain() -> Bool
    /// Closes the descriptor.
    func close()
}
