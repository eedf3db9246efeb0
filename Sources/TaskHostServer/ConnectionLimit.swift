import Foundation
package import Logging
import NIOCore
import Synchronization

/// A cap on the HTTP connections open at once, so that idle connections
/// cannot take every descriptor of the process (and with them the store's,
/// the workers' and the plugins directory's).
///
/// A connection accepted over the cap takes the place of the oldest open
/// connection that has not sent a whole request head yet (a silent one),
/// which is closed; when every open connection has sent a request, the new
/// one is closed at once. So a flood of connections that send nothing (or
/// part of a head) cannot keep out a client that sends its request, and the number of open connections stays
/// bounded. One instance is shared by every connection; each gets its own
/// ``ConnectionLimitHandler``.
package final class ConnectionLimit: Sendable {
    /// Connections allowed at once.
    package let maximum: Int
    private let state = Mutex(State())
    /// Counts the connections closed at the cap, a log line per kind and
    /// ``logInterval`` (the last window too: it is logged when it ends, or at ``flushLog()``).
    private let closures: FailureLogAggregator

    private struct State {
        var open = 0
        var nextSerial = 0
        /// Open connections that have not sent a request head, by serial (oldest first in `order`).
        var silent: [Int: any Channel] = [:]
        var order: [Int] = []
        var head = 0

        /// Removes and returns the oldest silent connection.
        mutating func popOldestSilent() -> (any Channel)? {
            while head < order.count {
                let serial = order[head]
                head += 1
                if let channel = silent.removeValue(forKey: serial) {
                    compact()
                    return channel
                }
            }
            compact()
            return nil
        }

        /// Drops the part of `order` already looked at once it is most of it.
        mutating func compact() {
            guard head > 1024, head * 2 > order.count else { return }
            order.removeFirst(head)
            head = 0
        }
    }

    /// How often closed connections are logged (with their counts).
    static let logInterval: Duration = .seconds(10)

    /// Creates a cap of `maximum` connections (at least 1).
    package init(maximum: Int, logger: Logger) {
        self.maximum = max(1, maximum)
        self.closures = FailureLogAggregator(
            subject:
                "too many open connections (at most \(self.maximum)): connections closed (raise --max-connections or the open-file limit if they are legitimate clients)",
            interval: Self.logInterval, logger: logger)
    }

    /// Logs the connections closed at the cap that are not logged yet (at shutdown).
    package func flushLog() { closures.flush(all: true) }

    /// Connections open now.
    package var current: Int { state.withLock { $0.open } }

    /// A handler for one new connection's pipeline.
    func handler() -> ConnectionLimitHandler { ConnectionLimitHandler(limit: self) }

    /// Counts a new connection and returns its serial, closing the oldest
    /// silent one when it is over the cap; `nil` if it is over the cap and no
    /// connection is silent (it is not counted then: close it).
    func admit(_ channel: any Channel) -> Int? {
        let (serial, victim) = state.withLock { state -> (Int?, (any Channel)?) in
            var victim: (any Channel)?
            if state.open >= maximum {
                victim = state.popOldestSilent()
                guard victim != nil else { return (nil, nil) }
            }
            // A victim still counts until it is closed, so the count may pass
            // the cap by the closes in flight, for an instant.
            state.open += 1
            let serial = state.nextSerial
            state.nextSerial += 1
            state.silent[serial] = channel
            state.order.append(serial)
            return (serial, victim)
        }
        victim?.close(promise: nil)
        if serial == nil {
            closures.record("new ones closed at once", "every open connection had sent a request")
        } else if victim != nil {
            closures.record("silent ones closed for new ones", "the oldest connection that had sent no whole request head was closed")
        }
        return serial
    }

    /// The connection `serial` sent a request head: it is no longer silent.
    func spoke(_ serial: Int) {
        _ = state.withLock { $0.silent.removeValue(forKey: serial) }
    }

    /// Forgets a connection ``admit(_:)`` counted.
    func release(_ serial: Int) {
        state.withLock { state in
            state.silent.removeValue(forKey: serial)
            state.open -= 1
        }
    }
}

/// Counts its connection against a ``ConnectionLimit`` while it is open,
/// tells it when the connection first sends something, and closes the
/// connection at once when the limit has no room for it.
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let limit: ConnectionLimit
    private var serial: Int?
    private var checked = false
    private var spoke = false

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

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !spoke, let serial {
            spoke = true
            limit.spoke(serial)
        }
        context.fireChannelRead(data)
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
        serial = limit.admit(context.channel)
        if serial == nil { context.close(promise: nil) }
    }

    private func forget() {
        guard let serial else { return }
        self.serial = nil
        limit.release(serial)
    }
}

@available(*, unavailable)
extension ConnectionLimitHandler: Sendable {}
