import Foundation

extension Bench {
    /// Rounds of the metrics section: each round runs every server once per client count.
    static let metricsRounds = 5

    /// What recording and serving metrics costs push ingest, told apart from
    /// this machine's noise: three `group` servers, two with metrics (the
    /// default) and one without (`--metrics-bind off`), measured in rounds
    /// whose order rotates, so drift and the order's own effect hit each
    /// alike. The two servers with metrics are an A/A pair: their ratio is
    /// the noise floor a metrics-on/off ratio has to be read against.
    func metricsCost(_ products: Products, state: String) async throws {
        guard let wrk = Self.which("wrk") else {
            print("\n### Metrics on vs off\n\nskipped: wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
            return
        }
        let script = state + "/metrics-push.lua"
        try pushScript.write(toFile: script, atomically: true, encoding: .utf8)
        let names = ["on", "on (A/A twin)", "off"]
        var servers: [IngestServer] = []
        defer { for server in servers { server.process.stop() } }
        servers.append(try Self.ingestServer(products, mode: "group", directory: "\(state)/metrics-on"))
        servers.append(try Self.ingestServer(products, mode: "group", directory: "\(state)/metrics-on-twin"))
        servers.append(try Self.ingestServer(products, mode: "group", directory: "\(state)/metrics-off", extra: ["--metrics-bind", "off"]))
        let rounds = quick ? 2 : Self.metricsRounds

        var table = Table(
            "Metrics on vs off (`group` ingest, wrk, \(rounds) rounds in rotating order, \(Format.count(seconds)) s per cell)",
            [
                "clients", "on / off (median of rounds)", "range", "on / on twin, the noise floor (median)", "range",
                "server CPU per push on", "off",
            ])
        for clients in [16, 64] {
            var onOff: [Double] = []
            var twin: [Double] = []
            var cpuOn: [Double] = []
            var cpuOff: [Double] = []
            for round in 0..<rounds {
                var rates = [Double](repeating: .nan, count: servers.count)
                for step in 0..<servers.count {
                    let index = (step + round) % servers.count
                    let result = try Self.wrk(wrk, clients: clients, seconds: seconds, script: script, server: servers[index])
                    if result.failures > 0 {
                        table.note("⚠ \(clients) clients, \(names[index]): \(result.failures) non-200 answers or socket errors")
                    }
                    rates[index] = result.rate
                    if index == 0 { cpuOn.append(result.cpuPerRequest) }
                    if index == 2 { cpuOff.append(result.cpuPerRequest) }
                }
                onOff.append(rates[0] / rates[2])
                twin.append(rates[0] / rates[1])
            }
            func range(_ values: [Double]) -> String {
                Format.ratio(values.min() ?? .nan, over: 1) + " – " + Format.ratio(values.max() ?? .nan, over: 1)
            }
            table.row(
                "\(clients)", Format.ratio(Self.median(onOff), over: 1), range(onOff), Format.ratio(Self.median(twin), over: 1),
                range(twin),
                String(format: "%.0f µs", Self.median(cpuOn)), String(format: "%.0f µs", Self.median(cpuOff)))
        }
        table.note(
            "Each round runs the three servers back to back for each client count, starting one server later than the round before. "
                + "Target (issue 17): metrics on at least 0.95× off. Read the on/off ratio against the A/A pair: two servers that differ in nothing "
                + "differ by that much here.")
        table.print()
    }

    /// The median of `values` (`nan` when empty).
    static func median(_ values: [Double]) -> Double {
        let sorted = values.filter(\.isFinite).sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
