import Foundation
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import Testing

/// The push port's first request of a connection may carry `Upgrade`: only a
/// WebSocket upgrade of `/listen/v1/APP` is taken; any other is answered as the
/// plain HTTP request it also is, never left hanging.
@Suite struct ListenUpgradeTests {
    /// Sends `request` over a raw connection, on a thread of its own: it blocks while it waits, and the
    /// server under test runs in this process, on the cooperative pool's few threads.
    func raw(_ server: TestServer, _ request: String) async -> ConnectionFloodTests.PushResult {
        let port = server.port
        return await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: ConnectionFloodTests.rawRequest(port: port, timeout: 30, request)) }.start()
        }
    }

    @Test func aPushAskingForAnotherProtocolIsServedAsHTTP() async throws {
        let server = try await TestServer.start([ListenerTests.recorder()])
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        let push =
            "POST /push/v1/\(channel.id) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
            + "X-WNS-Type: wns/raw\r\nContent-Type: application/octet-stream\r\n"
            + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
            + "Content-Length: 5\r\n\r\nhello"
        #expect(await raw(server, push) == .answered(200))
        #expect(await raw(server, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n") == .answered(200))
    }

    @Test func aWebSocketUpgradeElsewhereIsServedAsHTTP() async throws {
        let server = try await TestServer.start([ListenerTests.recorder()])
        defer { Task { await server.stop() } }
        let upgrade =
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        #expect(await raw(server, upgrade) == .answered(200))
    }
}
