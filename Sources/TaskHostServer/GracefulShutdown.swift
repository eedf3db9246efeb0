import Dispatch
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The daemon's shutdown, in two steps. ``begin()`` (the first SIGTERM or
/// SIGINT, or a graceful shutdown of the task running the daemon) stops the
/// dispatcher and the timers from claiming anything new at once, cancels
/// running instances with `Terminating` (each gets its grace period), and
/// gives open HTTP requests ``grace`` to finish before their connections are
/// closed. ``hurry()`` (a second signal) ends the grace at once: connections
/// are closed and instances killed now. Either way the queue stays
/// consistent: a trigger whose instance was cut goes back to the queue (or,
/// if the store cannot take that write, is recovered at the next start).
final class ShutdownController: Sendable {
    /// How long open HTTP requests may take to finish after ``begin()``.
    let grace: Duration
    private let logger: Logger
    private let onBegin: @Sendable () -> Void
    private let onHurry: @Sendable () -> Void
    private let state = Mutex(State())

    private struct State {
        var drainEndsAt: ContinuousClock.Instant?
        var hurried = false
    }

    /// `onBegin` stops claims and cancels instances; `onHurry` kills them.
    init(grace: Duration, logger: Logger, onBegin: @escaping @Sendable () -> Void, onHurry: @escaping @Sendable () -> Void) {
        self.grace = grace
        self.logger = logger
        self.onBegin = onBegin
        self.onHurry = onHurry
    }

    /// Starts the shutdown (later calls change nothing).
    func begin() {
        let first = state.withLock { state -> Bool in
            guard state.drainEndsAt == nil else { return false }
            state.drainEndsAt = ContinuousClock.now + grace
            return true
        }
        guard first else { return }
        logger.notice(
            "shutting down: no new triggers are claimed, running instances are canceled (Terminating), open requests have the shutdown grace to finish; a second SIGTERM or SIGINT stops at once",
            metadata: ["grace": "\(grace)"])
        onBegin()
    }

    /// Ends the grace now (starting the shutdown if it had not begun).
    func hurry() {
        begin()
        let first = state.withLock { state -> Bool in
            defer { state.hurried = true }
            return !state.hurried
        }
        guard first else { return }
        logger.notice("second signal: stopping now; open connections are closed and running instances killed, their triggers stay queued")
        onHurry()
    }

    /// Returns when the grace that ``begin()`` started is over, ``hurry()``
    /// was called, or the calling task is cancelled.
    func waitForDrainDeadline() async {
        while !Task.isCancelled {
            let (endsAt, hurried) = state.withLock { ($0.drainEndsAt, $0.hurried) }
            guard !hurried, let endsAt else { return }
            let now = ContinuousClock.now
            if now >= endsAt { return }
            try? await Task.sleep(for: min(endsAt - now, .milliseconds(50)))
        }
    }

    /// Turns SIGTERM and SIGINT into ``begin()`` then ``hurry()``: the first
    /// calls `first` (which starts the service group's graceful shutdown),
    /// the next ones hurry it. Returns the watcher; keep it while the daemon runs.
    func watchSignals(first: @escaping @Sendable () -> Void) -> SignalWatcher {
        SignalWatcher(signals: [SIGTERM, SIGINT]) { [self] count in
            if count == 1 { first() } else { hurry() }
        }
    }
}

/// Counts SIGTERM and SIGINT (together) while it lives; their default
/// action (ending the process) is off meanwhile.
final class SignalWatcher {
    private let sources: [any DispatchSourceSignal]

    /// Signals seen so far, shared by the sources' handlers.
    private final class Count: Sendable {
        let value = Mutex(0)
    }

    init(signals: [Int32], handler: @escaping @Sendable (Int) -> Void) {
        let queue = DispatchQueue(label: "taskhost.signals")
        var sources: [any DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            sources.append(source)
        }
        self.sources = sources
        let count = Count()
        for source in sources {
            source.setEventHandler {
                let seen = count.value.withLock { value -> Int in
                    value += 1
                    return value
                }
                handler(seen)
            }
            source.resume()
        }
    }

    /// Stops watching (the signals stay ignored until the process ends).
    func cancel() {
        for source in sources { source.cancel() }
    }
}

/// The service group's first responder to a graceful shutdown: listed last,
/// it is told first, and calls ``ShutdownController/begin()`` before the HTTP
/// server starts draining, so that nothing new is claimed during the drain.
struct ShutdownStartService: Service {
    let controller: ShutdownController
    func run() async throws {
        try? await gracefulShutdown()
        controller.begin()
    }
}

/// Runs the HTTP server and bounds its graceful shutdown: open requests get
/// the controller's grace, then every connection still open is closed, so
/// that a client that never finishes its request cannot keep the process alive.
struct DrainingServer<Server: Service>: Service {
    let server: Server
    let connections: OpenConnections
    let controller: ShutdownController
    let logger: Logger

    func run() async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await server.run()
                return true
            }
            group.addTask {
                do { try await gracefulShutdown() } catch { return false }
                controller.begin()
                await controller.waitForDrainDeadline()
                guard !Task.isCancelled else { return false }
                let closed = connections.closeAll()
                if closed > 0 {
                    logger.notice("closed the connections still open at the end of the shutdown grace", metadata: ["count": "\(closed)"])
                }
                return false
            }
            while let serverEnded = try await group.next() {
                if serverEnded {
                    group.cancelAll()
                    return
                }
            }
        }
    }
}

/// The HTTP connections open now, so that shutdown can close those still
/// open when its grace is over. Each connection gets its own ``OpenConnectionHandler``.
final class OpenConnections: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// After ``closeAll()``: a connection that registers late is closed at once.
        var closing = false
    }

    private let state = Mutex(State())

    /// A handler for one new connection's pipeline.
    func handler() -> OpenConnectionHandler { OpenConnectionHandler(connections: self) }

    /// How many connections are open.
    var count: Int { state.withLock { $0.channels.count } }

    /// Closes every open connection (and those that open later); returns how many it closed.
    @discardableResult
    func closeAll() -> Int {
        let channels = state.withLock { state -> [any Channel] in
            state.closing = true
            return Array(state.channels.values)
        }
        for channel in channels { channel.close(promise: nil) }
        return channels.count
    }

    func add(_ channel: any Channel) {
        let closing = state.withLock { state -> Bool in
            state.channels[ObjectIdentifier(channel)] = channel
            return state.closing
        }
        if closing { channel.close(promise: nil) }
    }

    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
    }
}

/// Registers its connection with ``OpenConnections`` while it is open.
final class OpenConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let connections: OpenConnections
    private var added = false

    init(connections: OpenConnections) {
        self.connections = connections
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { add(context.channel) }
    }

    func channelActive(context: ChannelHandlerContext) {
        add(context.channel)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        remove(context.channel)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        remove(context.channel)
    }

    private func add(_ channel: any Channel) {
        guard !added else { return }
        added = true
        connections.add(channel)
    }

    private func remove(_ channel: any Channel) {
        guard added else { return }
        added = false
        connections.remove(channel)
    }
}

@available(*, unavailable)
extension OpenConnectionHandler: Sendable {}
