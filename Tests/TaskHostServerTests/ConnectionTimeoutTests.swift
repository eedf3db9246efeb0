import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

/// `taskhost serve` closes connections that stop sending: one that sends
/// nothing, one that stops in its request head, one whose body stops short of
/// its `Content-Length`, and a keep-alive connection left idle after a push.
@Suite(.serialized) struct ConnectionTimeoutTests {
    /// Longest a timed-out connection may stay open, with 1 s timeouts.
    static let bound: TimeInterval = 60

    /// Sends `text` on `fd` (non-blocking; it is short, the socket buffer takes it).
    static func send(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        let sent = bytes.withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #expect(sent == bytes.count, "sent \(sent) of \(bytes.count) bytes: errno \(errno)")
    }

    /// Reads what is there on `fd` without blocking into `received`; whether
    /// the server closed it (end of stream or reset).
    static func drain(_ fd: Int32, into received: inout [UInt8]) -> Bool {
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 0) > 0 else { return false }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = read(fd, &buffer, buffer.count)
            if count > 0 {
                received += buffer[..<count]
                continue
            }
            return count == 0 || errno != EAGAIN
        }
    }

    static func head(channel: String, token: String, length: Int) -> String {
        """
        POST /push/v1/\(channel) HTTP/1.1\r
        Host: 127.0.0.1\r
        Authorization: Bearer \(token)\r
        X-WNS-Type: wns/raw\r
        Content-Type: application/octet-stream\r
        Content-Length: \(length)\r
        \r

        """
    }

    @Test func connectionsThatStopSendingAreClosedAndAHalfBodyIsNotStored() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Echo", "FaultyTasks.AsyncEchoTask", "")])
        let (store, channel, token) = try ServeProcessTests.prepare(directory, task: "Echo")
        let server = try ServeProcess(
            manifest: manifest, stateDirectory: directory,
            arguments: ["--no-dispatch", "--idle-timeout", "1", "--header-timeout", "1", "--body-timeout", "1"])
        defer { _ = server.terminate() }

        // A keep-alive connection that sends one whole push, gets its 200,
        // then stays idle.
        let keepAlive = try #require(ConnectionFloodTests.idleConnection(port: server.port))
        defer { close(keepAlive) }
        var keepAliveReceived: [UInt8] = []
        _ = await TestSupport.eventually {
            var poller = pollfd(fd: keepAlive, events: Int16(POLLOUT), revents: 0)
            return poll(&poller, 1, 0) > 0
        }
        Self.send(keepAlive, Self.head(channel: channel.id, token: token, length: 8) + "complete")
        let answered = await TestSupport.eventually {
            _ = Self.drain(keepAlive, into: &keepAliveReceived)
            return String(decoding: keepAliveReceived, as: UTF8.self).contains("\r\n\r\n")
        }
        #expect(
            answered && String(decoding: keepAliveReceived, as: UTF8.self).hasPrefix("HTTP/1.1 200"),
            "\(String(decoding: keepAliveReceived, as: UTF8.self))")
        #expect(!String(decoding: keepAliveReceived, as: UTF8.self).lowercased().contains("connection: close"))

        // A connection that sends nothing, one that sends half a head, one
        // whose body stops at 10 bytes of 100.
        let silent = try #require(ConnectionFloodTests.idleConnection(port: server.port))
        defer { close(silent) }
        let halfHead = try #require(ConnectionFloodTests.idleConnection(port: server.port))
        defer { close(halfHead) }
        let halfBody = try #require(ConnectionFloodTests.idleConnection(port: server.port))
        defer { close(halfBody) }
        _ = await TestSupport.eventually {
            [halfHead, halfBody].allSatisfy { fd in
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                return poll(&poller, 1, 0) > 0
            }
        }
        Self.send(halfHead, "POST /push/v1/\(channel.id) HTTP/1.1\r\nHost: 127.0.0.1\r\nX-WNS-Type: wns/raw\r\n")
        Self.send(halfBody, Self.head(channel: channel.id, token: token, length: 100) + "HALFBODY10")

        let connections = [("silent", silent), ("half a head", halfHead), ("half a body", halfBody), ("idle keep-alive", keepAlive)]
        var received = [[UInt8]](repeating: [], count: connections.count)
        var closed = [Bool](repeating: false, count: connections.count)
        let deadline = Date().addingTimeInterval(Self.bound)
        while Date() < deadline, closed.contains(false) {
            for index in connections.indices where !closed[index] {
                closed[index] = Self.drain(connections[index].1, into: &received[index])
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        for index in connections.indices {
            #expect(closed[index], "the server closes the \(connections[index].0) connection within \(Self.bound) s")
        }
        #expect(!String(decoding: received[2], as: UTF8.self).contains("200"), "no 200 for the half body")

        // Other clients are served, and the half body was not stored.
        #expect(ConnectionFloodTests.rawPush(port: server.port, channel: channel.id, token: token) == .answered(200))
        let payloads = try store.queuedTriggers(states: TriggerState.allCases, limit: 100).map {
            String(decoding: $0.event.payload, as: UTF8.self)
        }
        #expect(payloads.contains("complete") && payloads.contains("flood"), "\(payloads)")
        #expect(!payloads.contains { $0.contains("HALFBODY") }, "\(payloads)")
        #expect(server.process.isRunning)
    }

    @Test func aTrickledHeadIsClosedAndAKeepAliveConnectionLivesUntilTheIdleTimeout() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Echo", "FaultyTasks.AsyncEchoTask", "")])
        let (store, channel, token) = try ServeProcessTests.prepare(directory, task: "Echo")
        let server = try ServeProcess(
            manifest: manifest, stateDirectory: directory,
            arguments: ["--no-dispatch", "--idle-timeout", "60", "--header-timeout", "1", "--body-timeout", "1"])
        defer { _ = server.terminate() }

        // A head sent a byte every 200 ms: the header deadline counts from the
        // accept, not from the last byte, so trickling does not keep it open.
        let trickle = try #require(ConnectionFloodTests.idleConnection(port: server.port))
        defer { close(trickle) }
        let head = Array(Self.head(channel: channel.id, token: token, length: 5).utf8)
        var received: [UInt8] = []
        var closed = false
        let deadline = Date().addingTimeInterval(Self.bound)
        for byte in head.prefix(Int(Self.bound * 5)) where !closed && Date() < deadline {
            _ = withUnsafePointer(to: byte) { Foundation.send(trickle, $0, 1, Int32(MSG_NOSIGNAL)) }
            try await Task.sleep(for: .milliseconds(200))
            closed = Self.drain(trickle, into: &received)
        }
        #expect(closed, "the server closes a connection whose head trickles in")
        #expect(received.isEmpty, "no answer to a head that never ended")

        // A keep-alive connection with a 60 s idle timeout but 1 s header
        // timeout: after 2 s between pushes it is still open and serves the second.
        let keepAlive = try #require(ConnectionFloodTests.idleConnection(port: server.port))
        defer { close(keepAlive) }
        _ = await TestSupport.eventually {
            var poller = pollfd(fd: keepAlive, events: Int16(POLLOUT), revents: 0)
            return poll(&poller, 1, 0) > 0
        }
        for (round, body) in ["first", "again"].enumerated() {
            if round > 0 { try await Task.sleep(for: .seconds(2)) }
            var answer: [UInt8] = []
            Self.send(keepAlive, Self.head(channel: channel.id, token: token, length: 5) + body)
            var shut = false
            _ = await TestSupport.eventually {
                shut = Self.drain(keepAlive, into: &answer)
                return shut || String(decoding: answer, as: UTF8.self).contains("\r\n\r\n")
            }
            #expect(
                String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 200"),
                "push \(round + 1): \(String(decoding: answer, as: UTF8.self))")
            #expect(!shut, "push \(round + 1) leaves the connection open")
        }
        let payloads = try store.queuedTriggers(states: TriggerState.allCases, limit: 100).map {
            String(decoding: $0.event.payload, as: UTF8.self)
        }
        #expect(payloads.sorted() == ["again", "first"], "\(payloads)")
    }
}
