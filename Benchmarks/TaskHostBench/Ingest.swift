import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostStoreBackends

/// The wrk script: raw WNS pushes to one channel; prints one RESULT line.
let pushScript = #"""
    -- wrk script: raw WNS pushes to one channel. TASKHOST_TOKEN and TASKHOST_CHANNEL_PATH come from the environment.
    wrk.method = "POST"
    wrk.path = os.getenv("TASKHOST_CHANNEL_PATH")
    wrk.body = string.rep("x", 64)
    wrk.headers["Authorization"] = "Bearer " .. os.getenv("TASKHOST_TOKEN")
    wrk.headers["X-WNS-Type"] = "wns/raw"
    wrk.headers["Content-Type"] = "application/octet-stream"

    done = function(summary, latency, requests)
      io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
        latency:percentile(50), latency:percentile(99), summary.errors.status,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
    end
    """#

/// A `taskhost serve` for the ingest section, with what a push to it needs.
struct IngestServer {
    var process: ServeProcess
    var token: String
    var channel: String
}

/// One wrk run's outcome.
struct WrkResult {
    var rate: Double
    var p50: Double  // ms
    var p99: Double  // ms
    var failures: Int
    var cpuPerRequest: Double  // server CPU, µs
    var clientCPUPerRequest: Double  // wrk's CPU, µs
}

extension Bench {
    static let ingestModes = ["discard", "per-push", "group"]
    /// The `group` server without metrics (`--metrics-bind off`).
    static let metricsOff = "group-metrics-off"
    /// The idle-connection rows: idle connections held open, and the open-file
    /// limit (soft and hard) of the server they are held against.
    static let idleConnections = 2000
    static let floodOpenFiles = 1024

    func ingest(_ products: Products, state: String) async throws {
        guard let wrk = Self.which("wrk") else {
            print("\n### Durable push ingest\n\nskipped: wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
            return
        }
        let fsync = try Self.fsyncCost(directory: state, count: quick ? 50 : 200)
        let script = state + "/push.lua"
        try pushScript.write(toFile: script, atomically: true, encoding: .utf8)

        // One server per mode, all up for the whole section, each with a fresh
        // state directory; runs interleave modes per client count so drift hits all alike.
        var servers: [String: IngestServer] = [:]
        defer { for server in servers.values { server.process.stop() } }
        for mode in Self.ingestModes {
            servers[mode] = try Self.ingestServer(products, mode: mode, directory: "\(state)/ingest-\(mode)")
        }
        // `group` without the operator listener: nothing recorded, nothing served
        // (the others record metrics and serve /metrics, the default).
        servers[Self.metricsOff] = try Self.ingestServer(
            products, mode: "group", directory: "\(state)/ingest-group-metrics-off", extra: ["--metrics-bind", "off"])
        // The same as `group`, under the open-file limit of the issue's flood
        // (soft and hard: `serve` cannot raise it), for the idle-connection rows.
        let prlimit = Self.which("prlimit")
        if let prlimit {
            servers["flood"] = try Self.ingestServer(
                products, mode: "group", directory: "\(state)/ingest-group-nofile-\(Self.floodOpenFiles)",
                launcher: [prlimit, "--nofile=\(Self.floodOpenFiles):\(Self.floodOpenFiles)"])
        }

        var table = Table(
            "Durable push ingest through the HTTP endpoint (wrk, keep-alive, loopback, 64-byte payloads, \(Format.count(seconds)) s per cell)",
            [
                "clients", "mode", "acknowledged pushes/s", "p50", "p99", "server CPU per push", "vs ceiling (discard)", "vs per-push",
                "vs no idle connections",
            ])
        var group64 = 0.0
        var ceiling64 = 0.0
        var perPush64 = 0.0
        var ceilings: [Int: Double] = [:]
        var metricsCost: [String] = []
        for clients in [1, 16, 64] {
            var rates: [String: Double] = [:]
            for mode in Self.ingestModes + [Self.metricsOff] {
                let result = try Self.wrk(wrk, clients: clients, seconds: seconds, script: script, server: servers[mode]!)
                rates[mode] = result.rate
                table.row(
                    "\(clients)", mode == Self.metricsOff ? "`group`, metrics off" : "`\(mode)`", Format.count(result.rate),
                    Format.ms(result.p50), Format.ms(result.p99),
                    String(format: "%.0f µs", result.cpuPerRequest),
                    mode == "discard" ? "1.00×" : Format.ratio(result.rate, over: rates["discard"] ?? .nan),
                    mode == "group" ? Format.ratio(result.rate, over: rates["per-push"] ?? .nan) : (mode == "per-push" ? "1.00×" : "–"), "–"
                )
                if result.failures > 0 { table.note("⚠ \(clients) clients, \(mode): \(result.failures) non-200 answers or socket errors") }
            }
            if let on = rates["group"], let off = rates[Self.metricsOff] {
                metricsCost.append("\(clients) client\(clients == 1 ? "" : "s"): " + Format.ratio(on, over: off))
            }
            ceilings[clients] = rates["discard"]
            if clients == 64 { (group64, ceiling64, perPush64) = (rates["group"]!, rates["discard"]!, rates["per-push"]!) }
        }
        if let flood = servers["flood"] {
            try idleConnectionRows(wrk, script: script, server: flood, ceilings: ceilings, table: &table)
        } else {
            table.note("Idle-connection rows skipped: prlimit (util-linux) is not installed.")
        }
        table.note(
            "Metrics on (the default: recorded, and /metrics served on the operator listener) vs off (`--metrics-bind off`), `group` ingest, "
                + "rate with metrics over rate without: " + metricsCost.joined(separator: ", ") + " (target: at least 0.95×).")
        for mode in ["per-push", "group", "flood"] {
            guard let server = servers[mode] else { continue }
            let store = try StoreLocation.stateDirectory(StateDirectory(path: server.process.state)).open()
            let stored = try store.queueCounts().values.reduce(0, +)
            let name = mode == "flood" ? "`group`, open files \(Format.count(Double(Self.floodOpenFiles)))" : "`\(mode)`"
            table.note("\(name) server: \(Format.count(Double(stored))) triggers in its queue at the end (every acknowledged push).")
        }
        table.note(
            "One fsync after a 64-byte append in the state directory, measured in this run: p50 \(Format.ms(fsync.p50)), p99 \(Format.ms(fsync.p99)). "
                + "Modes (`taskhost serve --ingest`): `discard` runs every check (auth, channel, headers, size, rate limits) and answers 200 "
                + "without storing: the HTTP ceiling; `per-push` commits each push in its own transaction (one fsync each); `group` (the default) "
                + "commits what has gathered while the previous commit ran. wrk runs on the same 2 cores as the server (1 thread for 1 client, 2 otherwise). "
                + String(
                    format: "At 64 clients: group = %.0f%% of the ceiling (target ≥ 70%%), %.1f× per-push (target ≥ 4×). ",
                    100 * group64 / ceiling64, group64 / perPush64)
                + String(
                    format:
                        "No store can answer faster than the ceiling, and per-push runs at %.0f%% of it here, so group commit, even storing for free, "
                        + "could be at most %.1f× per-push on this disk.", 100 * perPush64 / ceiling64, ceiling64 / perPush64))
        table.print()
    }

    /// Starts an ingest server on a fresh state directory: one credential, one
    /// channel, no dispatcher, no plugins directory, no rate limit.
    static func ingestServer(
        _ products: Products, mode: String, directory: String, launcher: [String] = [], extra: [String] = []
    ) throws -> IngestServer {
        let store = try StoreLocation.stateDirectory(StateDirectory(path: directory)).open()
        let (credential, token) = Credential.make(app: "com.example.bench", label: "bench")
        try store.insertCredential(credential)
        let now = Date()
        let channel = PushChannel(
            id: PushChannel.newId(), app: "com.example.bench", task: "Noop", createdAt: now, expiresAt: now.addingTimeInterval(86400))
        try store.insertChannel(channel)
        let server = try ServeProcess(
            products, state: directory,
            arguments: [
                "--no-dispatch", "--plugins-dir", "", "--ingest", mode, "--channel-rate", "1000000000", "--channel-burst", "1000000000",
                "--client-rate", "1000000000", "--client-burst", "1000000000",
            ] + extra,
            launcher: launcher)
        return IngestServer(process: server, token: token, channel: channel.id)
    }

    /// Appends 64 bytes and fsyncs, `count` times; the fsync's duration.
    static func fsyncCost(directory: String, count: Int) throws -> Samples {
        let path = directory + "/fsync-probe"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw BenchError("cannot open \(path)") }
        defer {
            close(fd)
            unlink(path)
        }
        let bytes = [UInt8](repeating: 120, count: 64)
        var samples = Samples()
        for _ in 0..<count {
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let start = Clock.monotonic()
            fsync(fd)
            samples.add(Clock.monotonic() - start)
        }
        return samples
    }

    static func wrk(_ wrk: String, clients: Int, seconds: Double, script: String, server ingest: IngestServer) throws -> WrkResult {
        let server = ingest.process
        return try Self.wrk(
            wrk, clients: clients, seconds: seconds, script: script, port: server.port, token: ingest.token, channel: ingest.channel
        ) { server.cpuSeconds }
    }

    /// Runs wrk against the push endpoint on `port` (channel `channel`, `token`'s
    /// credential); `serverCPU` reads the server's CPU seconds so far.
    static func wrk(
        _ wrk: String, clients: Int, seconds: Double, script: String, port: Int, token: String, channel: String,
        serverCPU: () -> Double
    ) throws -> WrkResult {
        var environment = ProcessInfo.processInfo.environment
        environment["TASKHOST_TOKEN"] = token
        environment["TASKHOST_CHANNEL_PATH"] = "/push/v1/\(channel)"
        let cpuBefore = serverCPU()
        let clientBefore = Self.childrenCPUSeconds()
        let fields = try Bench.resultLine(
            of: wrk,
            [
                "-t\(clients < 2 ? 1 : 2)", "-c\(clients)", "-d\(max(1, Int(seconds.rounded())))s", "-s", script,
                "http://127.0.0.1:\(port)",
            ],
            environment: environment, fields: 6)
        let cpu = serverCPU() - cpuBefore
        let clientCPU = Self.childrenCPUSeconds() - clientBefore
        guard fields[1] > 0 else { throw BenchError("wrk ran for no time: \(fields)") }
        return WrkResult(
            rate: fields[0] / (fields[1] / 1e6), p50: fields[2] / 1000, p99: fields[3] / 1000, failures: Int(fields[4] + fields[5]),
            cpuPerRequest: fields[0] > 0 ? cpu / fields[0] * 1e6 : .nan,
            clientCPUPerRequest: fields[0] > 0 ? clientCPU / fields[0] * 1e6 : .nan)
    }

    /// CPU seconds (user + system) of this process's children that have ended: wrk's, once it is reaped.
    static func childrenCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_CHILDREN.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
