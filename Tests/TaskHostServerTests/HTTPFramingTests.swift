import Foundation
import TaskHostCore
import TaskHostManifest
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import Testing

/// A raw HTTP/1.1 exchange over loopback, without blocking the test's thread:
/// what the server answered and whether it closed the connection.
struct RawExchange {
    var text: String
    var closed: Bool

    /// The status of the first answer (nil if none came).
    var status: Int? {
        guard text.hasPrefix("HTTP/1.1 ") else { return nil }
        return Int(text.dropFirst(9).prefix(3))
    }

    /// The first answer's header block, lines lower-cased.
    var headerLines: [String] {
        (text.components(separatedBy: "\r\n\r\n").first ?? "").components(separatedBy: "\r\n").dropFirst().map { $0.lowercased() }
    }

    /// What follows the first answer's head.
    var body: String {
        guard let range = text.range(of: "\r\n\r\n") else { return "" }
        return String(text[range.upperBound...])
    }

    /// Whether `bytes` hold one whole answer: its head and the body its
    /// `Content-Length` announces.
    static func holdsWholeAnswer(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        let length =
            text[..<end.lowerBound].components(separatedBy: "\r\n")
            .first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        return text[end.upperBound...].utf8.count >= length
    }

    /// Sends `request` on a new connection and reads until the server closes
    /// it or `timeout` seconds pass (then `closed` is false). With
    /// `untilAnswered`, reading also stops once one whole answer came; `closed`
    /// then says whether the server had closed the connection a moment later.
    /// The default timeout is long: the exchange ends as soon as the server
    /// closes or answers, and the whole suite, run at once on two cores, can
    /// hold an answer back for more than 10 s.
    static func send(
        port: Int, _ request: String, timeout: TimeInterval = 60, untilAnswered: Bool = false
    ) async throws -> RawExchange {
        let fd = try #require(ConnectionFloodTests.idleConnection(port: port))
        defer { close(fd) }
        _ = await TestSupport.eventually {
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            return poll(&poller, 1, 0) > 0
        }
        ConnectionTimeoutTests.send(fd, request)
        var received: [UInt8] = []
        var closed = false
        let deadline = Date().addingTimeInterval(timeout)
        while !closed, Date() < deadline {
            closed = ConnectionTimeoutTests.drain(fd, into: &received)
            if untilAnswered, !closed, holdsWholeAnswer(received) {
                try await Task.sleep(for: .milliseconds(200))
                closed = ConnectionTimeoutTests.drain(fd, into: &received)
                break
            }
            if !closed { try await Task.sleep(for: .milliseconds(20)) }
        }
        return RawExchange(text: String(decoding: received, as: UTF8.self), closed: closed)
    }
}

/// HTTP/1.1 framing and methods (issue 14, item 9): malformed framing is 400,
/// an unknown transfer coding 501, a missing or repeated `Host` 400, `HEAD
/// /healthz` is answered, a wrong method is 405 with `Allow`, and a request
/// answered before its body was read has its connection closed instead of
/// the body read to the end.
@Suite struct HTTPFramingTests {
    static let recorder = TestSupport.task("Recorder", "FaultyTasks.RecordingTask", triggers: [.pushNotification])

    static func pushHead(channel: String, token: String, extra: String) -> String {
        "POST /push/v1/\(channel) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
            + "X-WNS-Type: wns/raw\r\nContent-Type: application/octet-stream\r\n" + extra + "\r\n"
    }

    /// Bodies whose framing is wrong: the request is refused, the connection closed, nothing stored.
    @Test(arguments: [
        ("a bad chunk size", "Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n", 400),
        ("a chunk-size overflow", "Transfer-Encoding: chunked\r\n", "FFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n", 400),
        ("an unknown transfer coding", "Transfer-Encoding: gzip\r\n", "hello", 501),
        ("an unknown coding before chunked", "Transfer-Encoding: gzip, chunked\r\n", "5\r\nhello\r\n0\r\n\r\n", 501),
    ])
    func malformedFramingIsRefusedAndClosed(_ what: String, _ framing: String, _ body: String, _ status: Int) async throws {
        let server = try await TestServer.start([Self.recorder]) { $0.dispatches = false }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        let answer = try await RawExchange.send(
            port: server.port, Self.pushHead(channel: channel.id, token: token, extra: framing) + body)
        #expect(answer.status == status, "\(what): \(answer.text)")
        #expect(answer.headerLines.contains("connection: close"), "\(what): \(answer.text)")
        #expect(answer.closed, "\(what): the server closes the connection")
        #expect(try server.store.queueCounts().values.reduce(0, +) == 0, "\(what): nothing is stored")
        // A well-framed chunked push still works.
        let chunked = try await RawExchange.send(
            port: server.port,
            Self.pushHead(channel: channel.id, token: token, extra: "Transfer-Encoding: chunked\r\nConnection: close\r\n")
                + "5\r\nhello\r\n0\r\n\r\n")
        #expect(chunked.status == 200, "\(chunked.text)")
    }

    /// RFC 9112 §3.2: an HTTP/1.1 request has exactly one `Host`.
    @Test(arguments: [
        ("no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400),
        ("two Hosts", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ])
    func anHTTP11RequestWithoutExactlyOneHostIs400(_ what: String, _ request: String, _ status: Int) async throws {
        let server = try await TestServer.start([Self.recorder]) { $0.dispatches = false }
        defer { Task { await server.stop() } }
        let answer = try await RawExchange.send(port: server.port, request)
        #expect(answer.status == status, "\(what): \(answer.text)")
        #expect(answer.text.contains("Host"), "\(what): the answer says what is wrong: \(answer.text)")
        #expect(answer.closed, "\(what): the server closes the connection")
        // HTTP/1.0 does not require Host; one Host in HTTP/1.1 is fine.
        let old = try await RawExchange.send(port: server.port, "GET /healthz HTTP/1.0\r\nConnection: close\r\n\r\n")
        #expect(old.text.hasPrefix("HTTP/1.1 200") || old.text.hasPrefix("HTTP/1.0 200"), "\(old.text)")
        let one = try await RawExchange.send(port: server.port, "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(one.status == 200, "\(one.text)")
    }

    /// A good push and a bad request sent together (pipelined): the push gets
    /// its 200 (keep-alive), then the bad one its 400, then the connection closes.
    @Test func aPipelinedBadRequestIsAnsweredAfterTheGoodOneBeforeIt() async throws {
        let server = try await TestServer.start([Self.recorder]) { $0.dispatches = false }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        let answer = try await RawExchange.send(
            port: server.port,
            Self.pushHead(channel: channel.id, token: token, extra: "Content-Length: 5\r\n") + "hello" + "GET /healthz HTTP/1.1\r\n\r\n")
        let answers = ("\r\n" + answer.text).components(separatedBy: "\r\nHTTP/1.1 ").dropFirst()
        #expect(answers.count == 2, "\(answer.text)")
        #expect(
            answers.first?.hasPrefix("200") == true && answers.first?.lowercased().contains("connection: close") == false, "\(answer.text)")
        #expect(
            answers.last?.hasPrefix("400") == true && answers.last?.lowercased().contains("connection: close") == true, "\(answer.text)")
        #expect(answer.closed)
        #expect(try server.store.queueCounts().values.reduce(0, +) == 1, "the good push is stored")
    }

    @Test func headHealthzIsAnsweredAsGetWithoutABody() async throws {
        let server = try await TestServer.start([Self.recorder]) { $0.dispatches = false }
        defer { Task { await server.stop() } }
        let head = try await RawExchange.send(port: server.port, "HEAD /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(head.status == 200, "\(head.text)")
        #expect(head.headerLines.contains("content-length: 3"), "the length GET's body has: \(head.text)")
        #expect(head.body.isEmpty, "no body: \(head.text)")
        #expect(head.closed)
        let get = try await RawExchange.send(port: server.port, "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(get.status == 200 && get.body == "ok\n", "\(get.text)")
    }

    /// A known path with the wrong method: 405 and the methods it takes; an unknown path stays 404.
    @Test(arguments: [
        ("GET", "/push/v1/some-channel", 405, "allow: post"),
        ("PUT", "/push/v1/some-channel", 405, "allow: post"),
        ("POST", "/healthz", 405, "allow: get, head"),
        ("DELETE", "/healthz", 405, "allow: get, head"),
        ("GET", "/nowhere", 404, nil),
    ])
    func aKnownPathWithTheWrongMethodIs405WithAllow(_ method: String, _ path: String, _ status: Int, _ allow: String?) async throws {
        let server = try await TestServer.start([Self.recorder]) { $0.dispatches = false }
        defer { Task { await server.stop() } }
        let answer = try await RawExchange.send(
            port: server.port, "\(method) \(path) HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        #expect(answer.status == status, "\(method) \(path): \(answer.text)")
        if let allow { #expect(answer.headerLines.contains(allow), "\(method) \(path): \(answer.text)") }
    }

    /// The head of a 200 MB push, without its body: the server answers (401
    /// for a bad credential, 413 for a good one) and closes the connection,
    /// instead of reading 200 MB first.
    @Test(arguments: [401, 413])
    func anEarlyAnswerClosesTheConnectionWithoutReadingTheBody(_ status: Int) async throws {
        let server = try await TestServer.start([Self.recorder]) { $0.dispatches = false }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = status == 401 ? String(try server.token().prefix { $0 != "." }) + ".wrong-secret" : try server.token()
        let answer = try await RawExchange.send(
            port: server.port, Self.pushHead(channel: channel.id, token: token, extra: "Content-Length: 200000000\r\n"))
        #expect(answer.status == status, "\(answer.text)")
        #expect(answer.headerLines.contains("connection: close"), "\(answer.text)")
        #expect(answer.closed, "the server closes the connection without waiting for the 200 MB body")
        // A push that sends its whole body keeps its connection (keep-alive).
        let whole = try await RawExchange.send(
            port: server.port, Self.pushHead(channel: channel.id, token: try server.token(), extra: "Content-Length: 5\r\n") + "hello",
            untilAnswered: true)
        #expect(whole.status == 200, "\(whole.text)")
        #expect(!whole.closed && !whole.headerLines.contains("connection: close"), "\(whole.text)")
    }

    /// An early answer to a push whose small body is still coming keeps the
    /// connection: the body is read when it comes, and the next request served.
    @Test func aSmallBodyAfterAnEarlyAnswerIsReadAndTheConnectionKept() async throws {
        let server = try await TestServer.start([Self.recorder]) { $0.dispatches = false }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        let fd = try #require(ConnectionFloodTests.idleConnection(port: server.port))
        defer { close(fd) }
        _ = await TestSupport.eventually {
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            return poll(&poller, 1, 0) > 0
        }
        func read(until marker: String) async -> (String, Bool) {
            var received: [UInt8] = []
            var closed = false
            _ = await TestSupport.eventually(timeout: .seconds(60)) {
                closed = ConnectionTimeoutTests.drain(fd, into: &received)
                return closed || String(decoding: received, as: UTF8.self).contains(marker)
            }
            return (String(decoding: received, as: UTF8.self), closed)
        }
        ConnectionTimeoutTests.send(
            fd, Self.pushHead(channel: channel.id, token: "cr_0000000000000000.wrong", extra: "Content-Length: 5\r\n"))
        let (early, closedEarly) = await read(until: "revoked token\n")
        #expect(early.hasPrefix("HTTP/1.1 401") && !early.lowercased().contains("connection: close"), "\(early)")
        #expect(!closedEarly)
        ConnectionTimeoutTests.send(
            fd, "hello" + Self.pushHead(channel: channel.id, token: token, extra: "Content-Length: 5\r\n") + "again")
        let (next, _) = await read(until: "X-WNS-Msg-ID")
        #expect(next.hasPrefix("HTTP/1.1 200"), "the connection serves the next push: \(next)")
    }
}
