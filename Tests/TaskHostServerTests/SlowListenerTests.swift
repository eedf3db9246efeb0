import Foundation
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Back-pressure: a listener that stops reading is dropped (its connection
/// closed), never buffered without bound, and pushes keep being acknowledged.
// A deadline against hangs (a push that never comes), not a timing assertion.
@Suite(.timeLimit(.minutes(5))) struct SlowListenerTests {
    /// A WebSocket upgrade to `/listen/v1/APP` over a raw socket with a small
    /// receive buffer, that reads the 101 answer and then nothing more.
    static func stalledListener(port: Int, token: String) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        let request = """
            GET /listen/v1/\(TestServer.app)?claim=true HTTP/1.1\r
            Host: 127.0.0.1:\(port)\r
            Upgrade: websocket\r
            Connection: Upgrade\r
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
            Sec-WebSocket-Version: 13\r
            Authorization: Bearer \(token)\r
            \r

            """
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var head: [UInt8] = []
        var byte: UInt8 = 0
        while !head.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)), read(fd, &byte, 1) == 1 { head.append(byte) }
        try #require(String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101"), "\(String(decoding: head, as: UTF8.self))")
        return fd
    }

    /// Reads and discards until the server closes `fd`; false if it is still open at the deadline.
    static func drainsToTheEnd(_ fd: Int32, within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { return true }
        }
        return false
    }

    @Test func aListenerThatStopsReadingIsDroppedWhilePushesKeepBeingAcknowledged() async throws {
        let server = try await TestServer.start([ListenerTests.recorder(claimWindow: .zero)]) {
            $0.channelRate = 1_000_000
            $0.channelBurst = 1_000_000
            $0.dispatches = false  // what is measured is ingest and the listener, not 1,500 runs
        }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        // Blocking socket calls leave the cooperative pool, which the in-process server answers on.
        let (port, listenToken) = (server.port, try ListenerTests.listenToken(server))
        let fd = try await offThePool { try Self.stalledListener(port: port, token: listenToken) }
        defer { close(fd) }
        // Far more than the hub's buffer (256 messages) and the sockets' buffers hold.
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
        var statuses: [Int: Int] = [:]
        for _ in 0..<1500 {
            statuses[try await server.post(channel.id, token: token, body: payload).status, default: 0] += 1
        }
        #expect(statuses == [200: 1500], "every push acknowledged while the listener stalls")
        let drained = try await offThePool { Self.drainsToTheEnd(fd, within: 60) }
        #expect(drained, "the stalled listener's connection was closed")
        let metrics = try await server.get("/metrics", onOperator: true)
        #expect(metrics.body.contains("taskhost_listeners_dropped_total 1"))
    }
}
