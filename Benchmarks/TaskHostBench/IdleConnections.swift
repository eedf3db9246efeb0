import Foundation

/// TCP connections to a loopback server that send nothing, held open (as
/// the issue's idle-connection flood did) until ``close()``.
final class IdleConnections {
    private var descriptors: [Int32] = []

    /// Connects `count` sockets to 127.0.0.1:`port`, `batch` at a time (so
    /// that the listen backlog does not overflow into SYN retransmissions),
    /// each batch waited for until established (or `timeout` seconds).
    init(count: Int, port: Int, batch: Int = 100, timeout: Double = 10) throws {
        Self.raiseOpenFileLimit(above: count + 256)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        while descriptors.count < count {
            var pending: [pollfd] = []
            for _ in 0..<min(batch, count - descriptors.count) {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                guard fd >= 0 else { throw BenchError("cannot open an idle connection: \(String(cString: strerror(errno)))") }
                let result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                guard result == 0 || errno == EINPROGRESS else {
                    let reason = String(cString: strerror(errno))
                    Glibc.close(fd)
                    throw BenchError("cannot connect an idle connection to port \(port): \(reason)")
                }
                descriptors.append(fd)
                if result != 0 { pending.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)) }
            }
            let deadline = Date().addingTimeInterval(timeout)
            while !pending.isEmpty, Date() < deadline {
                _ = poll(&pending, nfds_t(pending.count), 100)
                pending.removeAll { $0.revents != 0 }
            }
        }
    }

    /// How many connections the server has not closed (no end of stream, no
    /// reset): those it holds open.
    var stillOpen: Int {
        var byte: UInt8 = 0
        return descriptors.count { fd in
            // Nothing to read yet (EAGAIN) is open; 0 (end of stream) or a reset is closed.
            recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
        }
    }

    /// Closes every connection.
    func close() {
        for fd in descriptors { Glibc.close(fd) }
        descriptors = []
    }

    deinit { close() }

    /// Raises this process's soft open-file limit (towards the hard one) so
    /// that it can hold `count` descriptors.
    private static func raiseOpenFileLimit(above count: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(count) else { return }
        limit.rlim_cur = min(limit.rlim_max, rlim_t(count))
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

extension Bench {
    /// The ingest rate of `server` (`group`, open-file limit ``floodOpenFiles``)
    /// with ``idleConnections`` idle connections held open against it, next
    /// to the rate without them, at 16 and 64 clients.
    func idleConnectionRows(_ wrk: String, script: String, server: IngestServer, ceilings: [Int: Double], table: inout Table) throws {
        let mode = "`group`, open files \(Format.count(Double(Self.floodOpenFiles)))"
        var held: [String] = []
        for clients in [16, 64] {
            let without = try Self.wrk(wrk, clients: clients, seconds: seconds, script: script, server: server)
            table.row(
                "\(clients)", mode, Format.count(without.rate), Format.ms(without.p50), Format.ms(without.p99),
                String(format: "%.0f µs", without.cpuPerRequest), Format.ratio(without.rate, over: ceilings[clients] ?? .nan), "–", "1.00×")
            let idle = try IdleConnections(count: Self.idleConnections, port: server.process.port)
            // Let the server accept the last batch before wrk's connections arrive.
            Thread.sleep(forTimeInterval: 0.5)
            let before = idle.stillOpen
            let with = try Self.wrk(wrk, clients: clients, seconds: seconds, script: script, server: server)
            let after = idle.stillOpen
            idle.close()
            table.row(
                "\(clients)", mode + ", + \(Format.count(Double(Self.idleConnections))) idle connections", Format.count(with.rate),
                Format.ms(with.p50), Format.ms(with.p99), String(format: "%.0f µs", with.cpuPerRequest),
                Format.ratio(with.rate, over: ceilings[clients] ?? .nan), "–", Format.ratio(with.rate, over: without.rate))
            for (result, what) in [(without, "without"), (with, "with")] where result.failures > 0 {
                table.note(
                    "⚠ \(clients) clients, open files \(Self.floodOpenFiles), \(what) idle connections: \(result.failures) non-200 answers or socket errors"
                )
            }
            held.append("\(clients) clients: \(before) held open when wrk started, \(after) when it ended")
            // The server sees the idle connections' ends before the next cell.
            Thread.sleep(forTimeInterval: 0.5)
        }
        table.note(
            "Rows `open files \(Format.count(Double(Self.floodOpenFiles)))`: a fourth server, `group`, run with `RLIMIT_NOFILE` "
                + "\(Format.count(Double(Self.floodOpenFiles))) soft and hard (`prlimit --nofile=\(Self.floodOpenFiles):\(Self.floodOpenFiles)`): the soft limit "
                + "systemd gives services by default, with no higher hard limit for `serve` to raise it to, so that the idle connections exceed "
                + "its connection cap (the limit less the reserve for workers, the store and the plugins directory). Idle connections: "
                + "\(Format.count(Double(Self.idleConnections))) TCP connections that send nothing, opened 100 at a time just before the cell and held through it "
                + "(it ends before the 10-s header timeout would close them); each one over the cap closes the oldest silent connection, "
                + "and wrk's connections, which send requests, get in the same way. Idle connections the server kept of the "
                + "\(Format.count(Double(Self.idleConnections))) (the cap, less wrk's once it ran): \(held.joined(separator: "; ")). "
                + "Same server, same run: the rows without idle connections are measured just before the rows with them.")
    }
}
