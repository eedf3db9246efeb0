import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// HTTP/1.1 framing rules that the parser below Hummingbird leaves to the
/// server, and the end of a connection whose request cannot be read further.
/// One per connection, between NIO's HTTP/1 decoder and the conversion to
/// HTTP types (it needs the HTTP version and every `Host` line):
///
/// - a request without `Host`, or with more than one, in HTTP/1.1: 400 (RFC 9112 §3.2);
/// - a `Transfer-Encoding` other than `chunked`: 501 (RFC 9112 §6.1);
/// - malformed framing (a bad chunk size, a chunk-size overflow, a bad
///   `Content-Length`…): 400; request headers over the parser's limit: 431.
///
/// Each of these answers carries `Connection: close`, and the connection
/// is closed once it is written. So is the connection of any answer written
/// before its request's body was read to the end (an early 401, 413, 429…),
/// unless that body is small (a `Content-Length` of at most ``drainLimit``,
/// which the server reads and keeps the connection): the answer gets
/// `Connection: close`, and the rest of the body is not read.
///
/// Closing: the server's side is shut first (the client reads the answer and
/// then end of stream), what the client still sends is thrown away unparsed
/// for at most ``lingerTime``, then the connection is closed, so that a
/// client still sending its body reads the answer instead of a reset.
final class RequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// How long a closing connection's input is still read (and thrown away).
    static let lingerTime: TimeAmount = .seconds(2)
    /// The largest body still read after an early answer, to keep the connection.
    static let drainLimit = 64 * 1024

    /// An answer the guard writes itself.
    struct Refusal: Equatable {
        var status: HTTPResponseStatus
        var description: String
    }

    /// A request head was passed on whose end has not come.
    private var bodyOpen = false
    /// Its body is small enough to be read after an early answer.
    private var bodySmall = false
    /// Requests passed on whose response has not ended.
    private var pending = 0
    /// A response head was written, its end not yet.
    private var responding = false
    /// The connection closes once the response being written ends.
    private var closeAfterResponse = false
    /// The guard's own answer, waiting for the responses still owed to
    /// earlier (pipelined) requests to end.
    private var queued: (refusal: Refusal, owed: Int)?
    /// Writes from the server are dropped: the guard answered that request.
    private var dropResponses = false
    /// Nothing more is read: the connection is closing.
    private var closing = false
    private let discarder = InboundDiscarder()

    func handlerAdded(context: ChannelHandlerContext) {
        try? context.pipeline.syncOperations.addHandler(discarder, position: .first)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            if let refusal = Self.check(head) {
                refuse(refusal, context: context)
                return
            }
            bodyOpen = true
            bodySmall = head.headers["content-length"].first.flatMap { Int($0) }.map { $0 <= Self.drainLimit } ?? false
            pending += 1
        case .body:
            break
        case .end:
            bodyOpen = false
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        let wasClosing = closing
        let requestInBody = bodyOpen
        if !wasClosing {
            refuse(
                parserError == .headerOverflow
                    ? Refusal(
                        status: .requestHeaderFieldsTooLarge,
                        description: "the request headers are too large; send fewer or shorter headers")
                    : Refusal(
                        status: .badRequest,
                        description:
                            "malformed request (\(parserError)): send a valid HTTP/1.1 request, its body framed by Content-Length or chunked"
                    ),
                context: context)
        }
        // A request whose body was being read fails (so that a half-read
        // body is never taken for a whole one); otherwise the server has
        // nothing to hear about.
        if requestInBody { context.fireErrorCaught(error) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !dropResponses else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(var head):
            responding = true
            // The response is to the oldest request not answered; that is the
            // one still in its body only if it is the only one.
            if queued == nil, (bodyOpen && !bodySmall && pending == 1) || closing {
                // Answered before its body was read: the body is not read at all.
                closeAfterResponse = true
                head.headers.replaceOrAdd(name: "connection", value: "close")
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
        case .body:
            break
        case .end:
            responding = false
            pending = max(0, pending - 1)
            if let waiting = queued {
                queued = (waiting.refusal, waiting.owed - 1)
                guard waiting.owed == 1 else { break }
                context.write(data, promise: promise)
                queued = nil
                answer(waiting.refusal, context: context)
                return
            }
            if closeAfterResponse {
                let written = context.eventLoop.makePromise(of: Void.self)
                if let promise { written.futureResult.cascade(to: promise) }
                written.futureResult.assumeIsolated().whenComplete { [self] _ in shutDown(context: context) }
                stopReading()
                context.write(data, promise: written)
                return
            }
        }
        context.write(data, promise: promise)
    }

    /// The refusal a request head gets here, if any.
    static func check(_ head: HTTPRequestHead) -> Refusal? {
        let hosts = head.headers["host"].count
        if head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1), hosts != 1 {
            return Refusal(
                status: .badRequest,
                description: hosts == 0
                    ? "missing Host header: HTTP/1.1 requests carry exactly one (RFC 9112 section 3.2)"
                    : "\(hosts) Host headers: HTTP/1.1 requests carry exactly one (RFC 9112 section 3.2)")
        }
        let codings = head.headers["transfer-encoding"].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if let unknown = codings.first(where: { $0 != "chunked" }) {
            return Refusal(
                status: .notImplemented,
                description: "Transfer-Encoding \"\(unknown.prefix(40))\" is not supported: send the body as is (Content-Length) or chunked"
            )
        }
        return nil
    }

    /// Answers the request being read with `refusal` (after the responses
    /// still owed to earlier requests), then closes.
    private func refuse(_ refusal: Refusal, context: ChannelHandlerContext) {
        stopReading()
        // Responses owed to requests before the refused one (the one in its
        // body, if any, is the refused one).
        let owed = pending - (bodyOpen ? 1 : 0)
        if owed > 0 {
            queued = (refusal, owed)
        } else if bodyOpen && responding {
            // The server has started its (early) answer to the refused
            // request: that one stands, then the connection closes.
            closeAfterResponse = true
        } else {
            answer(refusal, context: context)
        }
    }

    /// Writes `refusal` with `Connection: close`, then closes.
    private func answer(_ refusal: Refusal, context: ChannelHandlerContext) {
        dropResponses = true
        let body = refusal.description + "\n"
        var head = HTTPResponseHead(version: .http1_1, status: refusal.status)
        head.headers.add(name: "Connection", value: "close")
        head.headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        head.headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        head.headers.add(name: "X-WNS-Error-Description", value: refusal.description)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenComplete { [self] _ in shutDown(context: context) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
    }

    private func stopReading() {
        closing = true
        discarder.discarding = true
    }

    /// Shuts the output (the client sees end of stream after the answer),
    /// then closes the connection after ``lingerTime``.
    private func shutDown(context: ChannelHandlerContext) {
        stopReading()
        guard context.channel.isActive else { return }
        context.close(mode: .output, promise: nil)
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) {
            context.close(promise: nil)
        }
    }
}

/// Throws away the bytes a closing connection still receives, before the
/// HTTP decoder parses them.
final class InboundDiscarder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    var discarding = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !discarding else { return }
        context.fireChannelRead(data)
    }
}

/// Puts a ``RequestGuard`` in a new connection's pipeline, in front of the
/// conversion to HTTP types; it is what `HTTP1Channel`'s additional handlers
/// (which come after that conversion) can add.
final class RequestGuardInstaller: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func handlerAdded(context: ChannelHandlerContext) {
        let operations = context.pipeline.syncOperations
        guard let codec = try? operations.handler(type: HTTP1ToHTTPServerCodec.self) else { return }
        try? operations.addHandler(RequestGuard(), position: .before(codec))
    }
}

@available(*, unavailable)
extension RequestGuard: Sendable {}

@available(*, unavailable)
extension InboundDiscarder: Sendable {}

@available(*, unavailable)
extension RequestGuardInstaller: Sendable {}
