import Foundation
import Glibc
import TaskHostServer
import TaskHostTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A unix datagram socket bound where a test's `NOTIFY_SOCKET` points, as
/// systemd's would be: it collects what the daemon sends.
final class NotifySocket: @unchecked Sendable {
    let path: String
    private let descriptor: Int32

    /// Binds a socket at a fresh path (or, `abstract`, a fresh abstract name: `@…`).
    init(abstract: Bool = false) throws {
        let name = "th-notify-\(UUID().uuidString.prefix(8))"
        path = abstract ? "@" + name : NSTemporaryDirectory() + name + ".sock"
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard descriptor >= 0, bound == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    deinit {
        close(descriptor)
        if !path.hasPrefix("@") { unlink(path) }
    }

    /// The next datagram, waiting at most `timeout` (nil: none came).
    func next(timeout: Duration = .seconds(60)) -> String? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&poller, 1, milliseconds) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : nil
    }

    /// The datagrams until one contains `field` (that one last), or nil if none did in `timeout`.
    func until(_ field: String, timeout: Duration = .seconds(60)) -> [String]? {
        var seen: [String] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, let message = next(timeout: deadline - ContinuousClock.now) {
            seen.append(message)
            if message.split(separator: "\n").contains(Substring(field)) { return seen }
        }
        return nil
    }
}

/// `taskhost serve` speaks systemd's notify protocol over `NOTIFY_SOCKET`.
@Suite struct SystemdNotifyTests {
    /// READY=1 once serve listens and is ready (so /readyz already says 200);
    /// STOPPING=1 when SIGTERM starts the shutdown.
    @Test func serveSendsReadyThenStoppingOnTheNotifySocket() async throws {
        let socket = try NotifySocket()
        let directory = TestSupport.temporaryDirectory()
        let server = try ServeProcess(manifest: nil, stateDirectory: directory, environment: ["NOTIFY_SOCKET": socket.path])
        defer { _ = server.terminate() }
        let ready = try #require(try await offThePool { socket.until("READY=1") }, "no READY=1: \(server.errors)")
        #expect(ready.last?.contains("MAINPID=\(server.process.processIdentifier)") == true, "\(ready)")
        #expect(!ready.contains { $0.contains("STOPPING=1") })
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(server.port)/readyz")!)
        #expect((response as? HTTPURLResponse)?.statusCode == 200, "\(String(decoding: data, as: UTF8.self))")

        server.process.signal(SIGTERM)
        #expect(try await offThePool { socket.until("STOPPING=1") } != nil, "no STOPPING=1: \(server.errors)")
        #expect(await server.process.waitForExit(timeout: .seconds(30)) != nil)
    }

    /// With `WatchdogSec=` (WATCHDOG_USEC), WATCHDOG=1 comes every half period.
    @Test func theWatchdogIsFedWhenSystemdAsks() async throws {
        let socket = try NotifySocket(abstract: true)
        let directory = TestSupport.temporaryDirectory()
        let server = try ServeProcess(
            manifest: nil, stateDirectory: directory, arguments: ["--plugins-dir", ""],
            environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "200000"])
        defer { _ = server.terminate() }
        #expect(try await offThePool { socket.until("READY=1") } != nil, "\(server.errors)")
        for _ in 0..<3 { #expect(try await offThePool { socket.until("WATCHDOG=1") } != nil) }
    }

    @Test func theEnvironmentSaysWhetherAndHowOftenToNotify() {
        #expect(SystemdNotifier.fromEnvironment([:]) == nil)
        #expect(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": ""]) == nil)
        let plain = SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "/run/systemd/notify"])
        #expect(plain?.socketPath == "/run/systemd/notify" && plain?.watchdogInterval == nil)
        let watched = SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid())"])
        #expect(watched?.watchdogInterval == .seconds(15))
        let otherProcess = SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"])
        #expect(otherProcess?.watchdogInterval == nil, "the watchdog is another process's")
    }
}
