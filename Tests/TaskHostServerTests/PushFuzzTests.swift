import Foundation
import TaskHostCore
import TaskHostManifest
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Hostile HTTP input against a real server: random methods, headers, bodies
/// and sizes, oversized headers, and slow-loris connections. The server
/// answers each with a 4xx (or 200 when the request happens to be valid),
/// never a 5xx or a crash, and keeps serving everyone else.
@Suite struct PushFuzzTests {
    @Test func randomRequestsGetClientErrorsAndTheServerStaysUp() async throws {
        let recorder = TestSupport.task("Recorder", "FaultyTasks.RecordingTask", triggers: [.pushNotification])
        let server = try await TestServer.start([recorder]) {
            $0.dispatches = false
            $0.authFailureLimit = 100_000  // most random requests fail authentication; not what is tested here
        }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        var generator = SeededGenerator(seed: 0xCAFE)
        let methods = ["POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
        let names = ["X-WNS-Type", "Content-Type", "X-WNS-TTL", "X-WNS-Cache-Policy", "Authorization", "X-Random", "Content-Encoding"]
        let values = [
            "wns/raw", "application/octet-stream", "wns/toast", "0", "-1", "99999999999999999999", "no-cache", "cache",
            "Bearer \(token)", "Bearer ", "Bearer cr_x.y", "", String(repeating: "A", count: 4000), "\u{00E9}\u{1F600}",
        ]
        var statuses: [Int: Int] = [:]
        for iteration in 0..<300 {
            var headers: [String: String] = Bool.random(using: &generator) ? TestServer.rawHeaders : [:]
            for _ in 0..<Int.random(in: 0...4, using: &generator) {
                headers[names.randomElement(using: &generator)!] = values.randomElement(using: &generator)!
            }
            let target = [channel.id, "x", String(repeating: "z", count: 300), channel.id + "%00", ""].randomElement(using: &generator)!
            let size = [0, 1, 100, 5120, 5121, 20_000].randomElement(using: &generator)!
            let body = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let useToken = Bool.random(using: &generator) ? token : nil
            let method = methods.randomElement(using: &generator)!
            let answer: TestServer.Answer
            do {
                answer = try await server.post(target, token: useToken, headers: headers, body: body, method: method)
            } catch {
                continue  // the client refused to send it (e.g. a body with GET): nothing to check
            }
            statuses[answer.status, default: 0] += 1
            #expect(answer.status < 500, "iteration \(iteration): \(method) with \(headers.keys.sorted()) got \(answer.status)")
        }
        #expect(statuses.keys.contains { $0 >= 400 }, "\(statuses)")
        #expect(try await server.post(channel.id, token: token).status == 200, "valid pushes still go through")
    }

    @Test func oversizedHeadersAreRefusedWithoutHarm() async throws {
        let recorder = TestSupport.task("Recorder", "FaultyTasks.RecordingTask", triggers: [.pushNotification])
        let server = try await TestServer.start([recorder]) { $0.dispatches = false }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        var headers = TestServer.rawHeaders
        headers["X-Huge"] = String(repeating: "h", count: 200_000)
        if let answer = try? await server.post(channel.id, token: token, headers: headers) {
            #expect(answer.status != 200)
        }
        #expect(try await server.post(channel.id, token: token).status == 200)
    }

    @Test func slowLorisConnectionsDoNotStarveOtherClients() async throws {
        let recorder = TestSupport.task("Recorder", "FaultyTasks.RecordingTask", triggers: [.pushNotification])
        let server = try await TestServer.start([recorder]) { $0.dispatches = false }
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        // 64 connections that send half a request and then trickle.
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        for _ in 0..<64 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(server.port).bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                close(fd)
                continue
            }
            let partial = Array("POST /push/v1/\(channel.id) HTTP/1.1\r\nHost: x\r\nX-WNS-Type: wns/raw\r\n".utf8)
            _ = partial.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            sockets.append(fd)
        }
        #expect(sockets.count == 64)
        for _ in 0..<5 {
            #expect(try await server.post(channel.id, token: token).status == 200)
            for fd in sockets { _ = send(fd, "X", 1, Int32(MSG_NOSIGNAL)) }
        }
    }
}
