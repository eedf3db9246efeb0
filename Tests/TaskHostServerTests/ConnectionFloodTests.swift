import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

/// `taskhost serve` under a flood of idle connections, with the open-file
/// limit a service manager gives by default lowered further (256), so that
/// the flood outnumbers the descriptors.
@Suite(.serialized) struct ConnectionFloodTests {
    static let openFileLimit = 256
    /// More idle connections than the server has descriptors.
    static let floodSize = 320

    /// A loopback TCP connection that is opened and then sends nothing (non-blocking).
    static func idleConnection(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 || errno == EINPROGRESS else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Whether the server closed `fd` (end of stream or reset), without blocking.
    static func closedByServer(_ fd: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 0) > 0 else { return false }
        var byte: UInt8 = 0
        let count = read(fd, &byte, 1)
        return count == 0 || (count < 0 && errno != EAGAIN)
    }

    /// What a push on a fresh connection got.
    enum PushResult: Equatable {
        /// An HTTP status line with this status.
        case answered(Int)
        /// The server closed the connection without an answer (a refusal).
        case closed
        /// Nothing within the time allowed: the connection hangs.
        case noAnswer
    }

    /// Sends one push over a raw connection and waits up to `timeout` seconds for its fate.
    static func rawPush(port: Int, channel: String, token: String, timeout: Double = 10) -> PushResult {
        rawRequest(
            port: port, timeout: timeout,
            """
            POST /push/v1/\(channel) HTTP/1.1\r
            Host: 127.0.0.1\r
            Authorization: Bearer \(token)\r
            X-WNS-Type: wns/raw\r
            Content-Type: application/octet-stream\r
            Content-Length: 5\r
            Connection: close\r
            \r
            flood
            """)
    }

    /// `GET /healthz` over a raw connection.
    static func rawHealth(port: Int, timeout: Double = 10) -> PushResult {
        rawRequest(port: port, timeout: timeout, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    }

    /// Sends `text` over a new raw connection and waits up to `timeout` seconds for its fate.
    static func rawRequest(port: Int, timeout: Double, _ text: String) -> PushResult {
        guard let fd = idleConnection(port: port) else { return .closed }
        defer { close(fd) }
        let request = Array(text.utf8)
        var sent = 0
        var answer: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(sent < request.count ? POLLOUT | POLLIN : POLLIN), revents: 0)
            guard poll(&poller, 1, 50) > 0 else { continue }
            if poller.revents & Int16(POLLOUT) != 0, sent < request.count {
                let count = request[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if count < 0, errno != EAGAIN { return .closed }
                sent += max(0, count)
            }
            if poller.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                var buffer = [UInt8](repeating: 0, count: 512)
                let count = read(fd, &buffer, buffer.count)
                if count < 0, errno == EAGAIN { continue }
                if count <= 0 { break }
                answer += buffer[..<count]
                if answer.count >= 12 { break }
            }
        }
        let line = String(decoding: answer, as: UTF8.self)
        if line.hasPrefix("HTTP/1.1 "), let status = Int(line.dropFirst(9).prefix(3)) { return .answered(status) }
        return Date() < deadline ? .closed : .noAnswer
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"), "needs util-linux's prlimit"))
    func anIdleConnectionFloodNeitherStopsTheHostNorDeadLettersTriggers() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Echo", "FaultyTasks.AsyncEchoTask", "")])
        let (store, channel, token) = try ServeProcessTests.prepare(directory, task: "Echo")
        let server = try ServeProcess(
            manifest: manifest, stateDirectory: directory, arguments: ["--concurrency", "2", "--retry-delay", "0.05"],
            launcher: ["/usr/bin/prlimit", "--nofile=\(Self.openFileLimit):\(Self.openFileLimit)"])
        defer { _ = server.terminate() }
        #expect(server.errors.contains("open-file limit") && server.errors.contains("soft=\(Self.openFileLimit)"), "\(server.errors)")

        var flood: [Int32] = []
        defer { for fd in flood { close(fd) } }
        for _ in 0..<Self.floodSize {
            if let fd = Self.idleConnection(port: server.port) { flood.append(fd) }
        }
        #expect(flood.count == Self.floodSize)
        // The connections over the cap are closed at once instead of being
        // accepted until the descriptors run out (or left in the backlog).
        let refused = await TestSupport.eventually {
            flood.filter(Self.closedByServer).count >= Self.floodSize - Self.openFileLimit
        }
        #expect(refused, "the server closes the connections over its cap")

        // While the flood holds its connections: a trigger queued now runs
        // (a worker still gets its descriptors), a push and a health check
        // get their answer (they take the place of silent connections), and
        // the host is alive.
        let queued = NewTrigger(
            app: "com.example.tests", task: "Echo",
            event: TriggerEvent(
                kind: .pushNotification, triggerId: NewTrigger.newId(), payload: Array("queued".utf8), channelId: channel.id))
        try store.enqueue([queued])
        let settled = try await TestSupport.eventually {
            let state = try store.queuedTrigger(idPrefix: queued.event.triggerId)?.state
            return state == .done || state == .dead
        }
        #expect(settled)
        let trigger = try #require(try store.queuedTrigger(idPrefix: queued.event.triggerId))
        #expect(trigger.state == .done, "\(trigger.lastError ?? "")")
        let duringFlood = Self.rawPush(port: server.port, channel: channel.id, token: token)
        #expect(duringFlood == .answered(200), "a push during the flood")
        #expect(Self.rawHealth(port: server.port) == .answered(200), "/healthz during the flood")
        #expect(server.process.isRunning)
        // The connections closed at the cap are logged as one line per 10 s
        // window, with how many the window closed (not one line per connection,
        // and not only the first of them).
        let pattern = #/too many open connections[^\n]*: (\d+) failure\(s\) \(silent ones closed for new ones\)/#
        let logged = await TestSupport.eventually(timeout: .seconds(30)) { server.errors.firstMatch(of: pattern) != nil }
        #expect(logged, "\(server.errors)")
        let closedInWindow = server.errors.matches(of: pattern).map { Int($0.output.1) ?? 0 }.reduce(0, +)
        #expect(closedInWindow >= Self.floodSize - Self.openFileLimit, "\(server.errors)")

        // The flood ends: pushes work again without a restart.
        for fd in flood { close(fd) }
        flood = []
        let answered = await TestSupport.eventually {
            Self.rawPush(port: server.port, channel: channel.id, token: token, timeout: 5) == .answered(200)
        }
        #expect(answered, "a push after the flood is accepted")
        #expect(try await TestSupport.eventually { try store.queueCounts()[.done, default: 0] >= 2 })
        #expect(try store.queueCounts()[.dead] == nil)
        #expect(server.process.isRunning)
    }
}
