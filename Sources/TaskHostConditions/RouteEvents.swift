import Glibc
package import TaskHostManifest

/// The kernel's announcements of route changes: a netlink socket
/// (`NETLINK_ROUTE`) subscribed to `RTMGRP_IPV4_ROUTE` and
/// `RTMGRP_IPV6_ROUTE`. The messages are not parsed: any of them means "read
/// the routes again". In the network namespace of the process that opens it.
package final class RouteEvents: FactEvents, @unchecked Sendable {
    // Only the poller's thread uses the descriptor after `open()`.
    package private(set) var descriptor: Int32
    package let facts: Set<ConditionFact> = [.internet]

    private static let netlinkRoute: Int32 = 0  // NETLINK_ROUTE
    private static let ipv4Routes: UInt32 = 0x40  // RTMGRP_IPV4_ROUTE
    private static let ipv6Routes: UInt32 = 0x400  // RTMGRP_IPV6_ROUTE

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Opens and subscribes; `nil` when the kernel refuses (then the routes are polled).
    package static func open() -> RouteEvents? {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), netlinkRoute)
        guard fd >= 0 else { return nil }
        // struct sockaddr_nl: nl_family (u16), nl_pad (u16), nl_pid (u32), nl_groups (u32).
        var address = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: UInt16(AF_NETLINK)) { address.replaceSubrange(0..<2, with: $0) }
        withUnsafeBytes(of: ipv4Routes | ipv6Routes) { address.replaceSubrange(8..<12, with: $0) }
        let bound = address.withUnsafeBytes { bytes in
            bind(fd, bytes.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(bytes.count))
        }
        guard bound == 0 else {
            Glibc.close(fd)
            return nil
        }
        return RouteEvents(descriptor: fd)
    }

    /// Drains the messages that arrived; whether any did (or some were lost: ENOBUFS).
    package func drain() -> Bool {
        guard descriptor >= 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 8192)
        var any = false
        while buffer.withUnsafeMutableBytes({ recv(descriptor, $0.baseAddress, $0.count, 0) }) > 0 { any = true }
        return any || errno == ENOBUFS
    }

    /// Closes the socket.
    package func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }
}
