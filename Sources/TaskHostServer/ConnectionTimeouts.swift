import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// How long an HTTP connection may take at each stage before the server
/// closes it, so that a client that stops sending cannot hold a connection
/// (and its descriptor) for ever.
package struct ConnectionTimeouts: Sendable, Equatable {
    /// How long a keep-alive connection may wait, after its last response,
    /// before it sends the first byte of its next request.
    package var idle: Duration
    /// How long a request head may take: from accept to the end of the first
    /// head, or from the first byte of a later request to the end of its head.
    package var header: Duration
    /// How long a request body may take, from the end of its head to the end
    /// of the body (its `Content-Length` or the last chunk).
    package var body: Duration

    /// The defaults of `taskhost serve`: 60 s idle, 10 s header, 30 s body.
    package static let `default` = ConnectionTimeouts(idle: .seconds(60), header: .seconds(10), body: .seconds(30))

    /// Creates timeouts of the given lengths.
    package init(idle: Duration, header: Duration, body: Duration) {
        self.idle = idle
        self.header = header
        self.body = body
    }

    /// A handler for one new connection's pipeline (after the HTTP codec; it
    /// adds a byte watcher of its own at the front of the pipeline).
    func handler() -> ConnectionTimeoutHandler { ConnectionTimeoutHandler(timeouts: self) }
}

/// Closes its connection when it stays too long waiting for a request, in a
/// request head or in a request body (see ``ConnectionTimeouts``). It sits
/// after the HTTP codec, where it sees request and response parts; a
/// ``ConnectionByteWatcher`` it puts at the front of the pipeline tells it
/// when the first byte of a request arrives, which the codec does not show.
final class ConnectionTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// What the connection is doing, and so which deadline applies.
    private enum Reading {
        /// Between requests: no byte of the next request yet.
        case none
        /// Bytes of a request head have come, the whole head not yet.
        case head
        /// The head has come, the end of the body not yet.
        case body
    }

    private let timeouts: ConnectionTimeouts
    private var reading = Reading.none
    /// Requests read whose response is not finished yet.
    private var inProgress = 0
    private var started = false
    private var closed = false
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(timeouts: ConnectionTimeouts) {
        self.timeouts = timeouts
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        try? context.pipeline.syncOperations.addHandler(ConnectionByteWatcher(owner: self), position: .first)
        if context.channel.isActive { start() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            reading = .body
            inProgress += 1
            arm(timeouts.body)
        case .body:
            break
        case .end:
            reading = .none
            // The response is the server's to finish; no deadline meanwhile
            // (unless it is already written: an early answer).
            if inProgress == 0 { arm(timeouts.idle) } else { cancel() }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            inProgress = max(0, inProgress - 1)
            if inProgress == 0, reading == .none { arm(timeouts.idle) }
        }
        context.write(data, promise: promise)
    }

    /// Bytes came from the client: the first of a request starts its head's deadline.
    func sawBytes() {
        guard reading == .none else { return }
        reading = .head
        arm(timeouts.header)
    }

    /// A new connection has until the header timeout to send its first head.
    private func start() {
        guard !started else { return }
        started = true
        reading = .head
        arm(timeouts.header)
    }

    /// Replaces the deadline with one `timeout` from now.
    private func arm(_ timeout: Duration) {
        cancel()
        guard let context, !closed else { return }
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(max(0, nanoseconds))) { [self] in
            timer = nil
            guard !closed, let context = self.context else { return }
            closed = true
            context.close(promise: nil)
        }
    }

    private func cancel() {
        timer?.cancel()
        timer = nil
    }
}

/// Tells a ``ConnectionTimeoutHandler`` when bytes arrive, before the HTTP
/// codec turns them into request parts.
final class ConnectionByteWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private weak var owner: ConnectionTimeoutHandler?

    init(owner: ConnectionTimeoutHandler) {
        self.owner = owner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        owner?.sawBytes()
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension ConnectionTimeoutHandler: Sendable {}

@available(*, unavailable)
extension ConnectionByteWatcher: Sendable {}
