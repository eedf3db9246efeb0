import Foundation
import Synchronization
import TaskHostCore
import TaskHostManifest
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostServer

/// What the push endpoint lets a caller learn or store (issue 14, items 6
/// and 10): an unknown credential id does the work of a wrong secret, failed
/// authentications are rate-limited per source, another app's channel looks
/// like a missing one, and what a push stores is bounded as a whole.
@Suite struct PushOracleTests {
    static let recorder = TestSupport.task("Recorder", "FaultyTasks.RecordingTask", triggers: [.pushNotification])

    @Test func anUnknownCredentialIdDoesTheWorkOfAWrongSecret() throws {
        let store = try TestSupport.store()
        let steps = Mutex<[PushService.AuthenticationStep]>([])
        let service = PushService(
            store: store, committer: IngestCommitter(store: store), limiter: RateLimiter(ratePerSecond: 1000, burst: 1000),
            clientLimiter: RateLimiter(ratePerSecond: 1000, burst: 1000), authFailureLimiter: RateLimiter(ratePerSecond: 1000, burst: 1000),
            maxPayload: 5120, maxForwardedHeaders: 4096, hasCapacity: { _, _ in true }, cacheLifetime: .seconds(600), ingest: .group,
            observe: { step in steps.withLock { $0.append(step) } })
        let now = Date()
        let channel = PushChannel(id: PushChannel.newId(), app: "a", task: "T", createdAt: now, expiresAt: now.addingTimeInterval(3600))
        try store.insertChannel(channel)
        let (credential, token) = Credential.make(app: "a", label: "known")
        try store.insertCredential(credential)
        let (revoked, revokedToken) = Credential.make(app: "a", label: "revoked")
        try store.insertCredential(revoked)
        _ = try store.revokeCredential(id: revoked.id, at: now)

        func work(_ token: String) -> [PushService.AuthenticationStep] {
            steps.withLock { $0 = [] }
            #expect(throws: PushRejection.self) { try service.authorize(channelId: channel.id, authorization: "Bearer \(token)") }
            return steps.withLock { $0 }
        }
        let wrongSecret = credential.id + ".wrong-secret"
        let unknownId = "cr_00000000deadbeef.wrong-secret"
        // The first lookup of an id reads the store, whether it exists or
        // not; later ones (within the cache's lifetime) do not, either way.
        // Every attempt compares one secret.
        for round in 0..<2 {
            let expected: [PushService.AuthenticationStep] = round == 0 ? [.storeRead, .secretComparison] : [.secretComparison]
            #expect(work(unknownId) == expected, "round \(round): an unknown id")
            #expect(work(wrongSecret) == expected, "round \(round): a known id with a wrong secret")
            #expect(work(revokedToken) == expected, "round \(round): a revoked credential")
        }
        // The right secret does the same work and passes.
        steps.withLock { $0 = [] }
        #expect(throws: Never.self) { try service.authorize(channelId: channel.id, authorization: "Bearer \(token)") }
        #expect(steps.withLock { $0 } == [.secretComparison])
    }

    @Test func failedAuthenticationsFromOneSourceGet429UntilTheWindowRefills() async throws {
        let server = try await TestServer.start([Self.recorder]) {
            $0.dispatches = false
            $0.authFailureLimit = 3
            // One failure more every 30 s: longer than the requests below
            // take even on a loaded machine, so none is refilled meanwhile.
            $0.authFailureWindow = .seconds(90)
        }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        let bad = String(token.prefix { $0 != "." }) + ".wrong-secret"
        for attempt in 1...3 {
            #expect(try await server.post(channel.id, token: bad).status == 401, "failure \(attempt) is answered 401")
        }
        // The source is out of attempts: even a good token waits, and is told how long.
        let limited = try await server.post(channel.id, token: token)
        #expect(limited.status == 429, "\(limited.body)")
        let retryAfter = try #require(limited.header("Retry-After").flatMap { Int($0) }, "429 says when to retry: \(limited.headers)")
        #expect((1...30).contains(retryAfter), "one failure more is allowed every 30 s")
        #expect(limited.body.contains("too many failed authentications"))
        #expect(try await server.post(channel.id, token: bad).status == 429, "a bad token is not even looked at")
        #expect(try server.store.queueCounts().values.reduce(0, +) == 0)
        // Once the bucket has a token again, a good credential is served.
        try await Task.sleep(for: .seconds(retryAfter))
        #expect(try await server.post(channel.id, token: token).status == 200)
        #expect(try server.store.queueCounts().values.reduce(0, +) == 1)
    }

    @Test func theAuthFailureTableStaysBoundedUnderAFloodOfSources() {
        let limiter = RateLimiter(ratePerSecond: 1.0 / 60, burst: 3, capacity: 100)
        for source in 0..<10_000 { limiter.take("10.0.\(source / 256).\(source % 256)") }
        #expect(limiter.count <= 100)
        // The most recent sources are still counted.
        limiter.take("10.0.39.15")
        limiter.take("10.0.39.15")
        #expect(limiter.wait(for: "10.0.39.15") != nil)
        #expect(limiter.wait(for: "192.0.2.1") == nil, "a source that never failed is not limited")
    }

    @Test func anotherAppsChannelIsAnsweredExactlyAsAMissingOne() async throws {
        let server = try await TestServer.start([Self.recorder]) { $0.dispatches = false }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let otherApp = try server.token(app: "com.example.other")
        // Head and body in one packet, so that neither is answered early.
        func push(_ id: String) async throws -> String {
            let answer = try await RawExchange.send(
                port: server.port,
                HTTPFramingTests.pushHead(channel: id, token: otherApp, extra: "Content-Length: 5\r\nConnection: close\r\n") + "hello")
            #expect(answer.closed)
            // Every byte but the date's.
            return answer.text.components(separatedBy: "\r\n").filter { !$0.lowercased().hasPrefix("date: ") }.joined(separator: "\r\n")
        }
        let notYours = try await push(channel.id)
        let missing = try await push(PushChannel.newId())
        #expect(notYours.hasPrefix("HTTP/1.1 404 "), "\(notYours)")
        #expect(notYours == missing)
        // The same for the channel's own app after revocation: only its app learns it is revoked.
        _ = try server.store.revokeChannel(id: channel.id, at: Date())
        try await Task.sleep(for: .milliseconds(1100))  // the lookup cache's lifetime
        #expect(try await server.post(channel.id, token: otherApp).status == 404)
        #expect(try await server.post(channel.id, token: try server.token()).status == 410)
    }

    @Test func whatAPushStoresIsBoundedAndOnlyItsOwnHeadersAreForwarded() async throws {
        let server = try await TestServer.start([Self.recorder]) {
            $0.dispatches = false
            $0.maxForwardedHeaders = 1024
        }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        // 70 KB of headers beside a small payload: 431, nothing stored.
        var huge = TestServer.rawHeaders
        for index in 0..<35 { huge["X-Filler-\(index)"] = String(repeating: "f", count: 2000) }
        let refused = try await server.post(channel.id, token: token, headers: huge)
        #expect(refused.status == 431, "\(refused.body)")
        #expect(refused.body.contains("1024"))
        // Headers the parser itself refuses are 431 too.
        let overflow = try await RawExchange.send(
            port: server.port,
            HTTPFramingTests.pushHead(
                channel: channel.id, token: token, extra: "X-Huge: \(String(repeating: "h", count: 100_000))\r\nContent-Length: 1\r\n")
                + "x")
        #expect(overflow.status == 431, "\(overflow.text.prefix(200))")
        // Just under the bound (the credentials and hop-by-hop headers do not count) is stored.
        let filler =
            1024 - ("x-wns-type".count + "wns/raw".count + 4) - ("content-type".count + "application/octet-stream".count + 4)
            - ("x-filler".count + 4)
        let request =
            HTTPFramingTests.pushHead(
                channel: channel.id, token: token,
                extra: "X-Filler: \(String(repeating: "f", count: filler))\r\nCookie: session=1\r\nProxy-Authorization: Basic eA==\r\n"
                    + "Connection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nContent-Length: 5\r\n") + "hello"
        let stored = try await RawExchange.send(port: server.port, request, untilAnswered: true)
        #expect(stored.status == 200, "\(stored.text)")
        let id = try #require(stored.headerLines.first { $0.hasPrefix("x-wns-msg-id: ") }?.dropFirst(14))
        let event = try #require(try server.store.queuedTrigger(idPrefix: String(id))?.event)
        #expect(Set(event.headers.keys) == ["x-wns-type", "content-type", "x-filler"])
        #expect(event.headers.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 4 } == 1024)
        // One byte more is refused.
        let over = try await RawExchange.send(
            port: server.port, request.replacingOccurrences(of: "X-Filler: ", with: "X-Filler: f"), untilAnswered: true)
        #expect(over.status == 431, "\(over.text)")
    }
}
