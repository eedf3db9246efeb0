import Foundation
import Glibc
import ServiceLifecycle

/// systemd's readiness protocol (`sd_notify`), without libsystemd: one
/// datagram per state change to the unix socket that `NOTIFY_SOCKET` names
/// (a path, or an abstract name starting with `@`).
///
/// `taskhost serve` sends `READY=1` once it listens and has recovered the
/// queue, `STOPPING=1` when its shutdown begins, and `WATCHDOG=1` every half
/// `WATCHDOG_USEC` while it runs, when the unit sets `WatchdogSec=`.
package struct SystemdNotifier: Sendable {
    /// The socket's address as `NOTIFY_SOCKET` gives it.
    package let socketPath: String
    /// How often to send `WATCHDOG=1` (`nil`: no watchdog).
    package let watchdogInterval: Duration?

    /// A notifier for the socket at `socketPath`.
    package init(socketPath: String, watchdogInterval: Duration? = nil) {
        self.socketPath = socketPath
        self.watchdogInterval = watchdogInterval
    }

    /// The notifier `environment` asks for (`nil` when `NOTIFY_SOCKET` is not
    /// set: not started by systemd with `Type=notify`). The watchdog is on when
    /// `WATCHDOG_USEC` is set and `WATCHDOG_PID`, if set, is this process.
    package static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> SystemdNotifier? {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return nil }
        var interval: Duration?
        if let text = environment["WATCHDOG_USEC"], let microseconds = Int64(text), microseconds > 0,
            environment["WATCHDOG_PID"].map({ Int32($0) == getpid() }) ?? true
        {
            interval = .microseconds(microseconds / 2)
        }
        return SystemdNotifier(socketPath: path, watchdogInterval: interval)
    }

    /// The service is ready (`READY=1`), with a status line.
    package func ready(status: String) { send("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())") }

    /// The service is stopping (`STOPPING=1`).
    package func stopping() { send("STOPPING=1\nSTATUS=shutting down") }

    /// The service is alive (`WATCHDOG=1`).
    package func watchdog() { send("WATCHDOG=1") }

    /// Sends `message` as one datagram; returns whether it went out. A failure
    /// changes nothing else: systemd then sees no readiness and says so.
    @discardableResult
    package func send(_ message: String) -> Bool {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        let abstract = path.first == UInt8(ascii: "@")
        if abstract { path[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !path.isEmpty, path.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (abstract ? 0 : 1))
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
        return sent == bytes.count
    }
}

/// Sends `WATCHDOG=1` every `interval` until shutdown.
struct WatchdogService: Service {
    let notifier: SystemdNotifier
    let interval: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                notifier.watchdog()
                try? await Task.sleep(for: interval)
            }
        }
    }
}
