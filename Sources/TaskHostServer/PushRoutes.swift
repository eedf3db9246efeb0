import Foundation
import HTTPTypes
import Hummingbird
import TaskHostCore

/// The HTTP face of ``PushService``: `POST /push/v1/{channel}` in the WNS raw
/// notification protocol, and `GET /healthz`.
public enum PushRoutes {
    static let wnsStatus = HTTPField.Name("X-WNS-Status")!
    static let wnsMessageId = HTTPField.Name("X-WNS-Msg-ID")!
    static let wnsError = HTTPField.Name("X-WNS-Error-Description")!

    /// A router with the push routes.
    public static func router(service: PushService) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/push/v1/:channel") { request, context -> Response in
            await handle(request: request, context: context, service: service)
        }
        router.get("/healthz") { _, _ -> Response in
            Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        return router
    }

    static func handle(request: Request, context: BasicRequestContext, service: PushService) async -> Response {
        var request = request
        do throws(PushRejection) {
            let channelId = context.parameters.get("channel") ?? ""
            let push = try service.authorize(channelId: channelId, authorization: request.headers[.authorization])
            let contentLength = request.headers[.contentLength].flatMap { Int($0) }
            let headers = try service.validate(
                headers: request.headers.map { ($0.name.canonicalName, $0.value) }, contentLength: contentLength)
            try service.admit(push)
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: service.maxPayload)
            } catch {
                throw service.tooLarge(contentLength)
            }
            let accepted = try await service.accept(
                channel: push.channel, headers: headers, payload: Array(buffer: body))
            return Response(status: .ok, headers: [wnsStatus: accepted.status, wnsMessageId: accepted.messageId])
        } catch {
            var fields: HTTPFields = [wnsError: error.description]
            if let status = error.wnsStatus { fields[wnsStatus] = status }
            fields[.contentType] = "text/plain; charset=utf-8"
            return Response(
                status: HTTPResponse.Status(code: error.status), headers: fields,
                body: ResponseBody(byteBuffer: ByteBuffer(string: error.description + "\n")))
        }
    }
}
