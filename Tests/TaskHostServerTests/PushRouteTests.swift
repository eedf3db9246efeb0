import Foundation
import TaskHostCore
import TaskHostManifest
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import Testing

/// What `POST /push/v1/{channel}` answers, the route driven in-process
/// (``RouterServer``): authentication, validation, size and rate limits, and
/// the WNS status headers. What a push then does to the queue and its task
/// is in ``PushEndpointTests``, on a running host.
@Suite struct PushRouteTests {
    let recorder = TestSupport.task("Recorder", "FaultyTasks.RecordingTask", triggers: [.pushNotification])

    @Test func everyRefusalUsesItsWNSStatusCode() async throws {
        let server = try RouterServer([recorder])
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        let otherAppToken = try server.token(app: "com.example.other")
        let revokedToken = try server.token()
        _ = try server.store.revokeCredential(id: String(revokedToken.prefix { $0 != "." }), at: Date())
        let revokedChannel = try server.channel(task: "Recorder")
        _ = try server.store.revokeChannel(id: revokedChannel.id, at: Date())
        let expiredChannel = try server.channel(task: "Recorder", expiresIn: -1)
        let secret = String(token.drop { $0 != "." }.dropFirst())

        func status(
            _ id: String = channel.id, token: String?, headers: [String: String] = TestServer.rawHeaders,
            body: [UInt8] = Array("x".utf8)
        ) async throws -> (Int, String?) {
            let answer = try await server.post(id, token: token, headers: headers, body: body)
            return (answer.status, answer.header("X-WNS-Error-Description"))
        }
        func without(_ name: String) -> [String: String] { TestServer.rawHeaders.filter { $0.key != name } }
        func with(_ name: String, _ value: String) -> [String: String] { TestServer.rawHeaders.merging([name: value]) { $1 } }

        #expect(try await status(token: nil).0 == 401)
        // A 401 names the scheme it wants (RFC 9110 section 11.6.1; RFC 6750 section 3 for the error).
        #expect(
            try await server.post(channel.id, token: nil, headers: TestServer.rawHeaders, body: [1]).header("WWW-Authenticate")
                == #"Bearer realm="taskhost""#)
        #expect(
            try await server.post(channel.id, token: revokedToken, headers: TestServer.rawHeaders, body: [1]).header("WWW-Authenticate")
                == #"Bearer realm="taskhost", error="invalid_token""#)
        #expect(
            try await server.post("no-such-channel", token: token, headers: TestServer.rawHeaders, body: [1]).header("WWW-Authenticate")
                == nil)
        let garbage = try await status(token: "garbage")
        #expect(garbage.0 == 401)
        #expect(
            garbage.1
                == "malformed bearer token: expected \"Authorization: Bearer <token from taskhost credentials create>\" (cr_<id>.<secret>)")
        // The scheme is case-insensitive and blanks around the token do not matter; another scheme is refused.
        #expect(try await status(token: nil, headers: with("Authorization", "bEaReR \t\(token) ")).0 == 200)
        #expect(try await status(token: nil, headers: with("Authorization", "Basic \(token)")).0 == 401)
        #expect(try await status(token: nil, headers: with("Authorization", "Bearer")).0 == 401)
        #expect(try await status(token: "cr_0000000000000000.\(secret)").0 == 401)
        #expect(try await status(token: String(token.prefix { $0 != "." }) + ".wrong-secret").0 == 401)
        #expect(try await status(token: revokedToken).0 == 401)
        #expect(try await status("no-such-channel", token: nil).0 == 401, "unauthenticated callers cannot probe channel ids")
        #expect(try await status(token: otherAppToken).0 == 404, "another app's channel is answered as a missing one")
        #expect(try await status("no-such-channel", token: token).0 == 404)
        #expect(try await status(revokedChannel.id, token: token).0 == 410)
        let expired = try await status(expiredChannel.id, token: token)
        #expect(expired.0 == 410)
        #expect(expired.1?.contains("taskhost channels renew") == true)
        let noType = try await status(token: token, headers: without("X-WNS-Type"))
        #expect(noType.0 == 400)
        #expect(noType.1 == "missing X-WNS-Type header; raw notifications use X-WNS-Type: wns/raw")
        #expect(try await status(token: token, headers: with("X-WNS-Type", "wns/toast")).0 == 400)
        #expect(try await status(token: token, headers: with("Content-Type", "text/plain")).0 == 400)
        #expect(try await status(token: token, headers: with("X-WNS-TTL", "soon")).0 == 400)
        #expect(try await status(token: token, headers: with("X-WNS-TTL", "0")).0 == 400)
        #expect(try await status(token: token, headers: with("X-WNS-Cache-Policy", "maybe")).0 == 400)
        let tooLarge = try await status(token: token, body: Array(repeating: 65, count: 5 * 1024 + 1))
        #expect(tooLarge.0 == 413)
        #expect(tooLarge.1 == "payload of 5121 bytes exceeds the limit of 5120 bytes")
        #expect(try await status(token: token, body: Array(repeating: 65, count: 5 * 1024)).0 == 200, "5 KB exactly is accepted")
        #expect(try await server.post(channel.id, token: token, method: "GET").status != 200)
        #expect(try server.store.queueCounts().values.reduce(0, +) == 2, "only the two valid pushes were stored")
    }

    @Test func aChannelOverItsRateLimitGets406() async throws {
        let server = try RouterServer([recorder]) {
            $0.channelBurst = 3
            $0.channelRate = 0.01
        }
        let busy = try server.channel(task: "Recorder")
        let quiet = try server.channel(task: "Recorder")
        let token = try server.token()
        var statuses: [Int] = []
        for _ in 0..<5 { statuses.append(try await server.post(busy.id, token: token).status) }
        #expect(statuses == [200, 200, 200, 406, 406])
        let throttled = try await server.post(busy.id, token: token)
        #expect(throttled.header("X-WNS-Status") == "channelthrottled")
        #expect(try await server.post(quiet.id, token: token).status == 200, "limits are per channel")
    }

    @Test func aClientOverItsRateLimitGets406OnEveryChannel() async throws {
        let server = try RouterServer([recorder]) {
            $0.clientBurst = 2
            $0.clientRate = 0.01
        }
        let first = try server.channel(task: "Recorder")
        let second = try server.channel(task: "Recorder")
        let busy = try server.token()
        #expect(try await server.post(first.id, token: busy).status == 200)
        #expect(try await server.post(second.id, token: busy).status == 200)
        #expect(try await server.post(first.id, token: busy).status == 406)
        #expect(try await server.post(second.id, token: busy).status == 406, "the client's limit spans its channels")
        #expect(try await server.post(first.id, token: try server.token()).status == 200, "other clients are not throttled")
    }
}
