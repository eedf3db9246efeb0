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
@Suite struct ListenerAuthTests {
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
}
