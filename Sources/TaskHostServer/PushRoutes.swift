import Foundation
import HTTPTypes
package import Hummingbird
package import NIOCore
package import TaskHostCore

/// The HTTP face of ``PushService``: `POST /push/v1/{channel}` in the WNS raw
/// notification protocol, `GET` (and `HEAD`) `/healthz` and `/readyz`
/// (``HealthRoutes``), and with a ``WebPushService`` the Web Push routes
/// (``WebPushRoutes``). Another method on a known path gets 405 with `Allow`.
package enum PushRoutes {
    static let wnsStatus = HTTPField.Name("X-WNS-Status")!
    static let wnsMessageId = HTTPField.Name("X-WNS-Msg-ID")!
    static let wnsError = HTTPField.Name("X-WNS-Error-Description")!

    /// A router with the push routes, the health routes answered from
    /// `health`, and the Web Push routes of `webPush`; push answers and bytes
    /// are counted in `metrics`.
    package static func router(
        service: PushService, health: Health, metrics: HostMetrics = .disabled, webPush: WebPushService? = nil
    ) -> Router<PushRequestContext> {
        let router = Router(context: PushRequestContext.self, options: .autoGenerateHeadEndpoints)
        // Outermost, so that it counts the 405 answers too.
        router.add(middleware: PushMetricsMiddleware(metrics: metrics))
        router.add(middleware: MethodNotAllowedMiddleware(allowedMethods: allowedMethods))
        // A PushRejection thrown here renders itself (HTTPResponseError).
        router.post("/push/v1/:channel") { request, context -> Response in
            try await handle(request: request, context: context, service: service, metrics: metrics)
        }
        // A listener's upgrade the channel did not take (ListenChannel): 401, 403, 429, or 426 for a plain GET.
        router.get("/listen/v1/:app") { request, context -> Response in
            try await refuseListen(request: request, context: context, service: service)
        }
        HealthRoutes.add(to: router, health: health)
        if let webPush { WebPushRoutes.add(to: router, service: webPush) }
        return router
    }

    /// The methods a known path takes (`nil`: not a path of this server).
    static func allowedMethods(path: String) -> [HTTPRequest.Method]? {
        if HealthRoutes.paths.contains(path) { return [.get, .head] }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 4, parts[0].isEmpty, parts[1] == "push", parts[2] == "v1", !parts[3].isEmpty { return [.post] }
        if parts.count == 4, parts[0].isEmpty, parts[1] == "listen", parts[2] == "v1", !parts[3].isEmpty { return [.get, .head] }
        return WebPushRoutes.allowedMethods(parts)
    }

    /// `GET /listen/v1/{app}` that was not upgraded: the credential's refusal
    /// (401, 403, 429), or 426 when it may listen but the request asked for no WebSocket.
    static func refuseListen(request: Request, context: PushRequestContext, service: PushService) async throws(PushRejection)
        -> Response
    {
        let app = context.parameters.get("app") ?? ""
        _ = try await service.authorizeListenerOffThePool(
            app: app, claims: false, authorization: request.headers[.authorization], source: context.sourceKey)
        throw PushRejection(
            status: .upgradeRequired,
            description:
                "GET /listen/v1/\(app) is a WebSocket: connect with a WebSocket client (taskhost listen \(app), or TaskHostClient)",
            upgrade: "websocket")
    }

    static func handle(
        request: Request, context: PushRequestContext, service: PushService, metrics: HostMetrics
    ) async throws(PushRejection) -> Response {
        var request = request
        let channelId = context.parameters.get("channel") ?? ""
        let push = try await service.authorizeOffThePool(
            channelId: channelId, authorization: request.headers[.authorization], source: context.sourceKey)
        let contentLength = request.headers[.contentLength].flatMap { Int($0) }
        let headers = try service.validate(
            headers: request.headers.map { ($0.name.canonicalName, $0.value) }, contentLength: contentLength)
        try service.admit(push)
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: service.maxPayload)
        } catch is NIOTooManyBytesError {
            throw service.tooLarge(contentLength)
        } catch {
            // The body could not be read to its end (malformed framing, the
            // connection closed): the server's own answer, if any, is on
            // its way (RequestGuard); nothing is stored.
            throw PushRejection.badRequest("the request body could not be read: \(error)")
        }
        metrics.pushBytesRead(protocol: "wns", body.readableBytes)
        let accepted = try await service.accept(
            channel: push.channel, headers: headers, payload: Array(buffer: body))
        return Response(status: .ok, headers: [wnsStatus: accepted.status, wnsMessageId: accepted.messageId])
    }
}

/// The request context of the push routes: Hummingbird's basic one, and the
/// client's address (failed authentications are counted per address).
package struct PushRequestContext: RequestContext, RemoteAddressRequestContext {
    package var coreContext: CoreRequestContextStorage
    /// The address the request came from.
    package let remoteAddress: SocketAddress?

    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// The key failed authentications are counted under: the IPv4 address,
    /// or the /64 prefix of an IPv6 one (one host commonly has a whole /64).
    var sourceKey: String? { Self.sourceKey(remoteAddress) }

    /// The key failed authentications of a client at `remoteAddress` are counted under.
    static func sourceKey(_ remoteAddress: SocketAddress?) -> String? {
        guard let remoteAddress else { return nil }
        switch remoteAddress {
        case .v6(let address):
            // sin6_addr, bytes 8..<24 of sockaddr_in6, read as bytes: which C module owns
            // its fields (Glibc or NIO's CNIOLinux) varies between builds.
            return withUnsafeBytes(of: address.address) { whole in
                let raw = UnsafeRawBufferPointer(rebasing: whole[8..<24])
                if raw.prefix(12).elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]) {
                    return raw.suffix(4).map(String.init).joined(separator: ".")  // IPv4-mapped
                }
                return raw.prefix(8).map { String(format: "%02x", $0) }.joined() + "::/64"
            }
        default:
            return remoteAddress.ipAddress
        }
    }
}

/// Answers 405 with `Allow` for a known path asked with a method it does not
/// take (the router alone would answer 404).
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowedMethods: @Sendable (String) -> [HTTPRequest.Method]?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            guard let methods = allowedMethods(request.uri.path), !methods.contains(request.method) else { throw error }
            let allow = methods.map(\.rawValue).joined(separator: ", ")
            return PushRejection(
                status: .methodNotAllowed,
                description: "\(request.method.rawValue) is not allowed on \(request.uri.path.prefix(60)): use \(allow)",
                allow: methods
            ).response()
        }
    }
}

/// Counts the answers to push requests (paths under `/push/`) by protocol and
/// status, whatever answered them: the route, a rejection, the 405 middleware.
struct PushMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: HostMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard metrics.isEnabled, request.uri.path.hasPrefix("/push/") else { return try await next(request, context) }
        do {
            let response = try await next(request, context)
            metrics.pushAnswered(protocol: "wns", status: Int(response.status.code))
            return response
        } catch let error as any HTTPResponseError {
            metrics.pushAnswered(protocol: "wns", status: Int(error.status.code))
            throw error
        } catch {
            metrics.pushAnswered(protocol: "wns", status: 500)
            throw error
        }
    }
}
