import Foundation
import TaskHostClient
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Who may listen (`GET /listen/v1/APP`): refusals are answered before any
/// upgrade, as HTTP statuses with descriptions, to plain HTTP and WebSocket
/// clients alike.
// A deadline against hangs (a push that never comes), not a timing assertion.
@Suite(.timeLimit(.minutes(5))) struct ListenerAuthTests {
    func get(_ server: TestServer, app: String = TestServer.app, token: String?) async throws -> TestServer.Answer {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(server.port)/listen/v1/\(app)")!)
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields { fields["\(name)"] = "\(value)" }
        return TestServer.Answer(status: http.statusCode, headers: fields, body: String(decoding: data, as: UTF8.self))
    }

    @Test func plainRequestsGetTheRefusalOrUpgradeRequired() async throws {
        let server = try await TestServer.start([ListenerTests.recorder()])
        defer { Task { await server.stop() } }
        let missing = try await get(server, token: nil)
        #expect(missing.status == 401)
        #expect(missing.header("WWW-Authenticate") == #"Bearer realm="taskhost""#)
        let push = try await get(server, token: try server.token())
        #expect(push.status == 403)
        #expect(push.body.contains("--listen"), "says how to get a listen token: \(push.body)")
        let other = try ListenerTests.listenToken(server, app: "com.example.other")
        #expect(try await get(server, token: other).status == 403)
        let good = try await get(server, token: try ListenerTests.listenToken(server))
        #expect(good.status == 426)
        #expect(good.header("Upgrade") == "websocket")
    }

    @Test func aWebSocketClientIsRefusedWithTheStatusAndWhy() async throws {
        let server = try await TestServer.start([ListenerTests.recorder()])
        defer { Task { await server.stop() } }
        for (token, status) in [("cr_0.nope", 401), (try server.token(), 403)] {
            let listener = ListenerTests.listener(server, token: token, claims: true)
            await #expect(throws: ListenError.self) { try await listener.run { _ in Issue.record("refused listeners get no pushes") } }
            do {
                try await listener.run { _ in }
            } catch let error as ListenError {
                guard case .refused(let got, let description) = error else { throw error }
                #expect(got == status, "\(description)")
            }
        }
    }

    @Test func aListenTokenCannotPush() async throws {
        let server = try await TestServer.start([ListenerTests.recorder()])
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let answer = try await server.post(channel.id, token: try ListenerTests.listenToken(server))
        #expect(answer.status == 403)
        #expect(try server.store.queueCounts().isEmpty)
    }

    /// A server that reads the upgrade request and closes the connection
    /// without an answer: the client fails after its handshake deadline
    /// instead of waiting for ever.
    @Test func aServerThatClosesWithoutAnsweringFailsTheHandshakeInTime() async throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        // Accepts, reads the request, closes; until the listening socket is shut down.
        let closer = Thread {
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 { return }
                var buffer = [UInt8](repeating: 0, count: 4096)
                _ = read(connection, &buffer, buffer.count)
                close(connection)
            }
        }
        closer.start()
        defer {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
        let listener = TaskHostListener(url: "http://127.0.0.1:\(port)", app: "com.example.tests", token: "cr_x.y")
        let error = await #expect(throws: ListenError.self) { try await listener.run(handshakeTimeout: .seconds(2)) { _ in } }
        #expect(error?.description.contains("did not accept the listener within") == true, "\(String(describing: error))")
    }
}
