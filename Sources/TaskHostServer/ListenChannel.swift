import Foundation
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import Synchronization

/// The push listener's connections: HTTP/1.1 served exactly as Hummingbird's
/// `HTTP1Channel` serves it, but a connection whose first request is
/// `GET /listen/v1/APP` with `Upgrade: websocket`, from a credential allowed
/// to listen to APP, becomes a listener's WebSocket (``ListenerConnection``).
///
/// Why not hummingbird-websocket's upgrade channel: it answers every refused
/// upgrade `400 Bad Request`. Here a refused upgrade is answered as the push
/// routes answer a refused push: 401 with `WWW-Authenticate`, 403, 429, each
/// with its description (``PushRejection``), and the connection closed; an
/// upgrade asked on another path gets 404. (NIO's upgrade handler does not pass
/// a refused upgrade's request on to the HTTP side, so it is answered here.)
///
/// Handlers: `connectionHandlers` (the connection limit, the open-connection
/// registry) first in the pipeline, for every connection; ``RequestGuard``
/// right after the HTTP decoder, before the upgrade decision, so a malformed
/// first request is answered as on any connection (it is removed when the
/// connection is upgraded); `httpHandlers` (the timeouts) once the connection
/// is known to stay HTTP. Until then, the first request head has
/// `headTimeout` to arrive.
struct ListenChannel: ServerChildChannel, HTTPChannelHandler {
    /// What a connection became after its first request head.
    enum Upgrade: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case listener(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, ListenerGrant)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, PushRejection)
    }

    /// A connection being set up.
    struct Value: ServerChildChannelValue {
        let upgrade: EventLoopFuture<Upgrade>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let connectionHandlers: @Sendable () -> [any RemovableChannelHandler]
    let httpHandlers: @Sendable () -> [any RemovableChannelHandler]
    let headTimeout: Duration
    /// Who may listen: the grant for an upgrade request, or why not.
    let authorize:
        @Sendable (_ app: String, _ claims: Bool, _ head: HTTPRequestHead, _ channel: any Channel) async -> Result<
            ListenerGrant, PushRejection
        >
    let serve: @Sendable (NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, ListenerGrant, Logger) async -> Void

    init(
        responder: @escaping HTTPChannelHandler.Responder, connectionHandlers: @escaping @Sendable () -> [any RemovableChannelHandler],
        httpHandlers: @escaping @Sendable () -> [any RemovableChannelHandler], headTimeout: Duration,
        authorize: @escaping @Sendable (String, Bool, HTTPRequestHead, any Channel) async -> Result<ListenerGrant, PushRejection>,
        serve: @escaping @Sendable (NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, ListenerGrant, Logger) async -> Void
    ) {
        self.responder = responder
        self.connectionHandlers = connectionHandlers
        self.httpHandlers = httpHandlers
        self.headTimeout = headTimeout
        self.authorize = authorize
        self.serve = serve
    }

    /// The app and the claim flag of a listen path (`/listen/v1/APP[?claim=true]`), `nil` for any other path.
    static func listenTarget(_ uri: String) -> (app: String, claims: Bool)? {
        let (path, query) = uri.firstIndex(of: "?").map { (uri[..<$0], uri[uri.index(after: $0)...]) } ?? (uri[...], "")
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, parts[1] == "listen", parts[2] == "v1", !parts[3].isEmpty else { return nil }
        let app = String(parts[3]).removingPercentEncoding ?? String(parts[3])
        let claims = query.split(separator: "&").contains { $0 == "claim" || $0 == "claim=true" || $0 == "claim=1" }
        return (app, claims)
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let operations = channel.pipeline.syncOperations
            try operations.addHandlers(connectionHandlers())
            let grant = GrantBox()
            let authorize = authorize
            let upgrader = NIOTypedWebSocketServerUpgrader<Upgrade>(
                maxFrameSize: 1 << 14,
                shouldUpgrade: { channel, head -> EventLoopFuture<HTTPHeaders?> in
                    // The head is here: its deadline is met, however long authorizing takes (a store read on a busy host).
                    grant.headArrived.store(true, ordering: .relaxed)
                    guard head.method == .GET, let target = Self.listenTarget(head.uri) else {
                        grant.value.withLock {
                            $0 = .failure(
                                PushRejection(
                                    status: .notFound, description: "no WebSocket here: only GET /listen/v1/APP takes an upgrade"))
                        }
                        return channel.eventLoop.makeSucceededFuture(nil)
                    }
                    return channel.eventLoop.makeFutureWithTask { () async -> HTTPHeaders? in
                        let decision = await authorize(target.app, target.claims, head, channel)
                        grant.value.withLock { $0 = decision }
                        if case .success = decision { return HTTPHeaders() }
                        return nil
                    }
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        // HTTP is over on this connection: the guard would read WebSocket frames as request parts.
                        channel.pipeline.syncOperations.removeHandler(name: Self.requestGuardName, promise: nil)
                        let socket = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        guard case .success(let granted) = grant.value.withLock({ $0 }) else {
                            throw ChannelError.inappropriateOperationForState
                        }
                        return Upgrade.listener(socket, granted)
                    }
                })
            let httpHandlers = httpHandlers
            let upgrades = NIOTypedHTTPServerUpgradeConfiguration<Upgrade>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let operations = channel.pipeline.syncOperations
                        try operations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try operations.addHandlers(httpHandlers())
                        try operations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        if case .failure(let rejection) = grant.value.withLock({ $0 }) { return Upgrade.refused(http, rejection) }
                        return Upgrade.http(http)
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<Upgrade>(upgradeConfiguration: upgrades)
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let upgrade = try operations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let requestGuard = RequestGuard()
            try operations.addHandler(requestGuard, name: Self.requestGuardName, position: .after(decoder))
            try operations.addHandler(UpgradeFilter(), position: .after(requestGuard))
            // The first head's deadline; later ones are the timeout handler's.
            let timeout = headTimeout.components
            let nanoseconds = timeout.seconds * 1_000_000_000 + timeout.attoseconds / 1_000_000_000
            let deadline = channel.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {
                if !grant.headArrived.load(ordering: .relaxed) { channel.close(promise: nil) }
            }
            upgrade.whenComplete { _ in deadline.cancel() }
            return Value(upgrade: upgrade, channel: channel)
        }
    }

    /// Answers a refused upgrade with `rejection` and closes the connection.
    private static func answer(_ http: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, _ rejection: PushRejection) async {
        let response = rejection.response()
        var fields = response.headers
        let body = ByteBuffer(string: rejection.description + "\n")
        fields[.contentLength] = "\(body.readableBytes)"
        fields[.connection] = "close"
        try? await http.executeThenClose { _, outbound in
            try await outbound.write(contentsOf: [
                .head(HTTPResponse(status: response.status, headerFields: fields)), .body(body), .end(nil),
            ])
        }
    }

    /// The request guard's name in the pipeline (removed on upgrade).
    static let requestGuardName = "taskhost.request-guard"

    /// The grant of a connection's upgrade, from the decision to the new pipeline.
    private final class GrantBox: Sendable {
        let value = Mutex<Result<ListenerGrant, PushRejection>?>(nil)
        /// An upgrade request's head was read (set before it is authorized).
        let headArrived = Atomic<Bool>(false)
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgrade.get() {
            case .http(let http): await handleHTTP(asyncChannel: http, logger: logger)
            case .listener(let socket, let grant): await serve(socket, grant, logger)
            case .refused(let http, let rejection): await Self.answer(http, rejection)
            }
        } catch {
            logger.debug("connection ended before its first request", metadata: ["error": "\(error)"])
        }
    }
}

/// Lets only a WebSocket upgrade of `/listen/v1/APP` reach NIO's upgrade
/// handler: on the connection's first request, any other `Upgrade` (an `h2c`
/// attempt on a push, a WebSocket elsewhere) is removed, so the request is
/// served as the plain HTTP request it also is (a server may ignore `Upgrade`,
/// RFC 9110 section 7.8). NIO's handler would otherwise drop the head of an
/// upgrade it does not take, and the request would go unanswered.
final class UpgradeFilter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else { return context.fireChannelRead(data) }
        let websocket = head.headers["upgrade"].contains { $0.lowercased().contains("websocket") }
        if head.headers.contains(name: "upgrade"), !(websocket && head.method == .GET && ListenChannel.listenTarget(head.uri) != nil) {
            head.headers.remove(name: "upgrade")
            let connection = head.headers["connection"].flatMap { $0.split(separator: ",") }
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.lowercased() != "upgrade" }
            head.headers.remove(name: "connection")
            if !connection.isEmpty { head.headers.add(name: "connection", value: connection.joined(separator: ", ")) }
        }
        context.fireChannelRead(wrapInboundOut(.head(head)))
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }
}

@available(*, unavailable)
extension UpgradeFilter: Sendable {}
