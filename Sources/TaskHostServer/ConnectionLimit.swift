import Foundation
import Logging
import NIOCore
import Synchronization

/// A cap on the HTTP connections open at once: a connection over the cap is
/// closed as soon as it is accepted, so that idle connections cannot take
/// every descriptor of the process (and with them the store's, the workers'
/// and the plugins directory's).
///
/// One instance is shared by every connection; each gets its own
/// ``ConnectionLimitHandler``.
public final class ConnectionLimit: Sendable {
    /// Connections allowed at once.
    public let maximum: Int
    private let open = Atomic<Int>(0)
    private let refusals = Mutex(Refusals())
    private let logger: Logger

    private struct Refusals {
        var count = 0
        var lastLog: ContinuousClock.Instant?
    }

    /// How often closed excess connections are logged (with their count).
    static let logInterval: Duration = .seconds(10)

    /// Creates a cap of `maximum` connections (at least 1).
    public init(maximum: Int, logger: Logger) {
        self.maximum = max(1, maximum)
        self.logger = logger
    }

    /// Connections open now.
    public var current: Int { open.load(ordering: .relaxed) }

    /// A handler for one new connection's pipeline.
    func handler() -> ConnectionLimitHandler { ConnectionLimitHandler(limit: self) }

    /// Counts a new connection; `false` if it is over the cap (it is not counted then).
    func admit() -> Bool {
        let now = open.add(1, ordering: .relaxed).newValue
        guard now > maximum else { return true }
        open.subtract(1, ordering: .relaxed)
        refused()
        return false
    }

    /// Forgets a connection ``admit()`` counted.
    func release() {
        open.subtract(1, ordering: .relaxed)
    }

    /// Logs the refusals once per ``logInterval``, not once per connection.
    private func refused() {
        let report = refusals.withLock { state -> Int? in
            state.count += 1
            let now = ContinuousClock.now
            if let last = state.lastLog, now - last < Self.logInterval { return nil }
            state.lastLog = now
            defer { state.count = 0 }
            return state.count
        }
        guard let report else { return }
        logger.warning(
            "too many open connections: closed new ones at once (raise --max-connections or the open-file limit if they are legitimate clients)",
            metadata: ["closed": "\(report)", "maxConnections": "\(maximum)"])
    }
}

/// Counts its connection against a ``ConnectionLimit`` while it is open, and
/// closes it at once when it is over the cap.
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let limit: ConnectionLimit
    private var counted = false
    private var checked = false

    init(limit: ConnectionLimit) {
        self.limit = limit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { check(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        check(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        forget()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        forget()
    }

    private func check(_ context: ChannelHandlerContext) {
        guard !checked else { return }
        checked = true
        if limit.admit() {
            counted = true
        } else {
            context.close(promise: nil)
        }
    }

    private func forget() {
        guard counted else { return }
        counted = false
        limit.release()
    }
}

@available(*, unavailable)
extension ConnectionLimitHandler: Sendable {}
