import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The HTTP face of ``WebPushService``: `POST /webpush/v1/{subscription}`
/// (the push resource, RFC 8030 section 5) and
/// `DELETE /webpush/v1/{subscription}/messages/{message}` (section 7.1).
enum WebPushRoutes {
    static let timeToLive = HTTPField.Name("TTL")!
    static let cryptoKey = HTTPField.Name("Crypto-Key")!

    /// Adds the routes to `router`.
    static func add(to router: Router<PushRequestContext>, service: WebPushService) {
        router.post("/webpush/v1/:subscription") { request, context -> Response in
            try await push(request: request, context: context, service: service)
        }
        router.delete("/webpush/v1/:subscription/messages/:message") { request, context -> Response in
            let (subscription, message) = (context.parameters.get("subscription") ?? "", context.parameters.get("message") ?? "")
            let (authorization, key) = (request.headers[.authorization], request.headers[cryptoKey])
            try await service.storeReads.run { () throws(PushRejection) in
                try service.delete(subscriptionId: subscription, messageId: message, authorization: authorization, cryptoKey: key)
            }
            return Response(status: .noContent)
        }
    }

    /// The methods a Web Push path takes (`nil`: not one).
    static func allowedMethods(_ parts: [Substring]) -> [HTTPRequest.Method]? {
        guard parts.count >= 4, parts[0].isEmpty, parts[1] == "webpush", parts[2] == "v1", !parts[3].isEmpty else { return nil }
        if parts.count == 4 { return [.post] }
        if parts.count == 6, parts[4] == "messages", !parts[5].isEmpty { return [.delete] }
        return nil
    }

    static func push(request: Request, context: PushRequestContext, service: WebPushService) async throws(PushRejection) -> Response {
        var request = request
        let id = context.parameters.get("subscription") ?? ""
        // The subscription's record is read from the store when it is not cached: off the cooperative pool.
        let subscription =
            service.isCached(id)
            ? try service.subscription(id: id)
            : try await service.storeReads.run { () throws(PushRejection) -> WebPushService.Subscription in try service.subscription(id: id)
            }
        let sender = try service.authorize(
            subscription, authorization: request.headers[.authorization], cryptoKey: request.headers[cryptoKey])
        var fields: [String: String] = [:]
        for field in request.headers { fields[field.name.canonicalName] = field.value }
        let contentLength = request.headers[.contentLength].flatMap { Int($0) }
        let headers = try service.validate(headers: fields, contentLength: contentLength)
        try service.admit(subscription, sender: sender)
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: WebPushService.maxPayload)
        } catch is NIOTooManyBytesError {
            throw WebPushService.tooLarge(contentLength)
        } catch {
            throw PushRejection.badRequest("the request body could not be read: \(error)")
        }
        let accepted = try await service.accept(
            subscription, headers: headers, body: Array(buffer: body), contentEncoding: fields["content-encoding"])
        return Response(status: .created, headers: [.location: accepted.location, timeToLive: String(accepted.timeToLive)])
    }
}
