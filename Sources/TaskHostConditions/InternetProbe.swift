import Foundation
import Glibc
package import TaskHostManifest

/// `InternetAvailable`: a default route, IPv4 (`/proc/net/route`: destination
/// and mask 0) or IPv6 (`/proc/net/ipv6_route`: prefix `::/0`), that is up and
/// not a reject route, in the host's network namespace; and, when a
/// reachability target is configured (`--internet-probe HOST:PORT`), a TCP
/// connection to it within 3 s. Re-read at each route change (netlink) and
/// every 30 s.
package struct InternetProbe: FactProbe {
    package let fact = ConditionFact.internet
    package let interval: Duration = .seconds(30)
    /// Where the route tables are (`/proc/net`; tests give a directory of their own).
    package var procNet: String
    /// A `HOST:PORT` that must accept a TCP connection, besides the default route.
    package var reachability: String?
    /// How long the reachability connection may take.
    package var connectTimeout: Duration = .seconds(3)

    /// Creates a probe.
    package init(procNet: String = "/proc/net", reachability: String? = nil) {
        self.procNet = procNet
        self.reachability = reachability
    }

    package var source: String {
        "a default route in \(procNet)/route or \(procNet)/ipv6_route (re-read at each netlink route event and every 30 s)"
            + (reachability.map { ", and a TCP connection to \($0) within 3 s" } ?? "")
    }

    package func read() -> FactReading {
        guard let route = defaultRoute() else {
            return FactReading(value: false, detail: "no default route in \(procNet)/route or \(procNet)/ipv6_route")
        }
        guard let reachability else { return FactReading(value: true, detail: "default route via \(route)") }
        if let failure = Self.connect(reachability, timeout: connectTimeout) {
            return FactReading(value: false, detail: "default route via \(route), but \(reachability) is not reachable: \(failure)")
        }
        return FactReading(value: true, detail: "default route via \(route), \(reachability) reachable")
    }

    /// The interface of the first default route, with its family: `eth0 (IPv4)`.
    func defaultRoute() -> String? {
        let rtfUp: UInt32 = 0x1
        let rtfReject: UInt32 = 0x200
        if let table = try? String(contentsOfFile: procNet + "/route", encoding: .utf8) {
            // Iface Destination Gateway Flags RefCnt Use Metric Mask …, with a header line.
            for line in table.split(separator: "\n").dropFirst() {
                let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard fields.count >= 8, let flags = UInt32(fields[3], radix: 16), fields[1] == "00000000", fields[7] == "00000000",
                    flags & rtfUp != 0, flags & rtfReject == 0
                else { continue }
                return "\(fields[0]) (IPv4)"
            }
        }
        if let table = try? String(contentsOfFile: procNet + "/ipv6_route", encoding: .utf8) {
            // destination prefix source prefix next-hop metric refcnt use flags iface, no header.
            for line in table.split(separator: "\n") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 10, let flags = UInt32(fields[8], radix: 16), fields[0].allSatisfy({ $0 == "0" }), fields[1] == "00",
                    flags & rtfUp != 0, flags & rtfReject == 0
                else { continue }
                return "\(fields[9]) (IPv6)"
            }
        }
        return nil
    }

    /// Connects to `target` (`HOST:PORT`, `[IPv6]:PORT`); `nil` on success, else what failed.
    static func connect(_ target: String, timeout: Duration) -> String? {
        guard let colon = target.lastIndex(of: ":"), let port = UInt16(target[target.index(after: colon)...]) else {
            return "\"\(target)\" is not HOST:PORT"
        }
        let host = String(target[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else { return "cannot resolve \(host): \(String(cString: gai_strerror(resolved)))" }
        defer { freeaddrinfo(list) }
        var failure = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue), info.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return nil }
            guard errno == EINPROGRESS else {
                failure = String(cString: strerror(errno))
                continue
            }
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let milliseconds = Int32(timeout.components.seconds * 1000)
            guard poll(&entry, 1, milliseconds) > 0 else {
                failure = "no answer within \(timeout)"
                continue
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error == 0 { return nil }
            failure = String(cString: strerror(error))
        }
        return failure
    }
}
