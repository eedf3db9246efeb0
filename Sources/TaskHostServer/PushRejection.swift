package import Hummingbird
import NIOCore

/// Why a push was refused: an HTTP status as WNS uses it, and a description
/// that helps the app server's developer without helping anyone guess channel ids.
///
/// It renders itself as the answer (Hummingbird's `HTTPResponseError`): the
/// status, `X-WNS-Error-Description` and the same text as a `text/plain`
/// body, and `X-WNS-Status`, `Retry-After`, `Allow` and `WWW-Authenticate` where it has them.
package struct PushRejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status.
    package var status: HTTPResponse.Status
    /// What was wrong and what to do.
    package var description: String
    /// `X-WNS-Status` when WNS sends one with this status (406: channelthrottled).
    package var wnsStatus: String?
    /// `Retry-After` in seconds (429: too many failed authentications).
    package var retryAfter: Int?
    /// `Allow`: the methods the path takes (405).
    package var allow: [HTTPRequest.Method]?
    /// `WWW-Authenticate`: the scheme a 401 asks for (RFC 9110 section 11.6.1
    /// requires one): `Bearer` on the WNS-style route, `vapid` on Web Push.
    package var challenge: String?
    /// `Upgrade`: the protocol a 426 asks for (`websocket` on `/listen/v1/APP`).
    package var upgrade: String?

    /// Creates a rejection.
    package init(
        status: HTTPResponse.Status, description: String, wnsStatus: String? = nil, retryAfter: Int? = nil,
        allow: [HTTPRequest.Method]? = nil, challenge: String? = nil, upgrade: String? = nil
    ) {
        self.upgrade = upgrade
        self.status = status
        self.description = description
        self.wnsStatus = wnsStatus
        self.retryAfter = retryAfter
        self.allow = allow
        self.challenge = challenge
    }

    static func badRequest(_ why: String) -> PushRejection { PushRejection(status: .badRequest, description: why) }
}

extension PushRejection: HTTPResponseError {
    /// The answer to the request the rejection refuses.
    package func response(from request: Request, context: some RequestContext) -> Response { response() }

    /// The answer: the status, `X-WNS-Error-Description`, `X-WNS-Status`,
    /// `Retry-After`, `WWW-Authenticate`, `Content-Type`, `Content-Length`, `Allow` (the optional
    /// ones where set), and the description and a newline as the body.
    func response() -> Response {
        var fields: HTTPFields = [PushRoutes.wnsError: description]
        if let wnsStatus { fields[PushRoutes.wnsStatus] = wnsStatus }
        if let retryAfter { fields[.retryAfter] = "\(retryAfter)" }
        if let challenge { fields[.wwwAuthenticate] = challenge }
        if let upgrade { fields[.upgrade] = upgrade }
        fields[.contentType] = "text/plain; charset=utf-8"
        var response = Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: description + "\n")))
        // After the Content-Length the body adds, where the 405 answer has always had it.
        if let allow { response.headers[.allow] = allow.map(\.rawValue).joined(separator: ", ") }
        return response
    }
}
