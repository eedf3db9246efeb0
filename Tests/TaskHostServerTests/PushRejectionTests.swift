import Hummingbird
import Testing

@testable import TaskHostServer

/// A push rejection renders itself as its answer, with the fields in the
/// order the push endpoint has always sent them (the body's length, the
/// description and a newline, is in Content-Length).
@Suite struct PushRejectionTests {
    static func fields(_ response: Response) -> [String] {
        response.headers.map { "\($0.name.rawName): \($0.value)" }
    }

    @Test func aPlainRejectionHasItsDescriptionAsHeaderAndBody() {
        let response = PushRejection(status: 404, description: "no such channel").response()
        #expect(response.status == .notFound)
        #expect(
            Self.fields(response) == [
                "X-WNS-Error-Description: no such channel", "Content-Type: text/plain; charset=utf-8", "Content-Length: 16",
            ])
    }

    @Test func throttlingAndRetryAfterGoBeforeTheContentType() {
        let throttled = PushRejection(status: 406, description: "slow down", wnsStatus: "channelthrottled").response()
        #expect(throttled.status.code == 406)
        #expect(
            Self.fields(throttled) == [
                "X-WNS-Error-Description: slow down", "X-WNS-Status: channelthrottled", "Content-Type: text/plain; charset=utf-8",
                "Content-Length: 10",
            ])
        let limited = PushRejection(status: .tooManyRequests, description: "wait", retryAfter: 7).response()
        #expect(
            Self.fields(limited) == [
                "X-WNS-Error-Description: wait", "Retry-After: 7", "Content-Type: text/plain; charset=utf-8", "Content-Length: 5",
            ])
    }

    @Test func aWrongMethodSaysWhichAreAllowedAfterTheLength() {
        let response = PushRejection(status: .methodNotAllowed, description: "use GET, HEAD", allow: [.get, .head]).response()
        #expect(response.status == .methodNotAllowed)
        #expect(
            Self.fields(response) == [
                "X-WNS-Error-Description: use GET, HEAD", "Content-Type: text/plain; charset=utf-8", "Content-Length: 14",
                "Allow: GET, HEAD",
            ])
    }
}
