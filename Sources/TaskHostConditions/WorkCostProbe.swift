import Foundation
package import TaskHostManifest

/// `BackgroundWorkCostNotHigh`: the cost of background work is high when the
/// host is busy or short of something, or runs on battery:
/// - the 1-minute load average per core (`/proc/loadavg`) is above 1.5;
/// - pressure stall information (`/proc/pressure/{cpu,memory,io}`, `some
///   avg10`: the share of the last 10 s in which some task waited) is at least
///   50 % for CPU, 20 % for memory or 40 % for I/O (a kernel without PSI: not read);
/// - a battery in `/sys/class/power_supply` is `Discharging`.
/// Read every 10 s.
package struct WorkCostProbe: FactProbe {
    package let fact = ConditionFact.workCostNotHigh
    package let interval: Duration = .seconds(10)
    /// `/proc` (tests give a directory of their own).
    package var proc: String
    /// `/sys/class/power_supply`.
    package var powerSupply: String
    /// Cores the load average is divided by.
    package var cores: Int

    /// The highest load average per core that is not high.
    static let loadPerCore = 1.5
    /// The highest `some avg10` percentages that are not high, per resource.
    static let pressure: [(resource: String, percent: Double)] = [("cpu", 50), ("memory", 20), ("io", 40)]

    /// Creates a probe.
    package init(
        proc: String = "/proc", powerSupply: String = "/sys/class/power_supply", cores: Int = ProcessInfo.processInfo.activeProcessorCount
    ) {
        self.proc = proc
        self.powerSupply = powerSupply
        self.cores = max(1, cores)
    }

    package var source: String {
        "load average per core (\(proc)/loadavg) ≤ 1.5, PSI some avg10 (\(proc)/pressure/*) below cpu 50 %, memory 20 %, io 40 %, "
            + "no discharging battery in \(powerSupply) (every 10 s)"
    }

    package func read() -> FactReading {
        var high: [String] = []
        var fine: [String] = []
        guard let loadText = try? String(contentsOfFile: proc + "/loadavg", encoding: .utf8),
            let load = loadText.split(separator: " ").first.flatMap({ Double($0) })
        else {
            return FactReading(value: nil, detail: "\(proc)/loadavg cannot be read")
        }
        let perCore = load / Double(cores)
        let loadLine = "load \(Self.format(load)) on \(cores) core(s)"
        if perCore > Self.loadPerCore { high.append(loadLine + " (above 1.5 per core)") } else { fine.append(loadLine) }
        for (resource, limit) in Self.pressure {
            guard let text = try? String(contentsOfFile: "\(proc)/pressure/\(resource)", encoding: .utf8),
                let share = Self.someAverage10(text)
            else { continue }
            let line = "\(resource) pressure \(Self.format(share)) %"
            if share >= limit { high.append(line + " (at least \(Self.format(limit)) %)") } else { fine.append(line) }
        }
        if let battery = dischargingBattery() { high.append("on battery (\(battery) discharging)") }
        if !high.isEmpty { return FactReading(value: false, detail: high.joined(separator: ", ")) }
        return FactReading(value: true, detail: fine.joined(separator: ", "))
    }

    /// `avg10` of the `some` line of a PSI file.
    static func someAverage10(_ text: String) -> Double? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("some ") }) else { return nil }
        let field = line.split(separator: " ").first { $0.hasPrefix("avg10=") }
        return field.flatMap { Double($0.dropFirst("avg10=".count)) }
    }

    /// The name of a battery that is discharging, if any.
    func dischargingBattery() -> String? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: powerSupply) else { return nil }
        for name in names.sorted() {
            let type = try? String(contentsOfFile: "\(powerSupply)/\(name)/type", encoding: .utf8)
            let status = try? String(contentsOfFile: "\(powerSupply)/\(name)/status", encoding: .utf8)
            if type?.trimmingCharacters(in: .whitespacesAndNewlines) == "Battery",
                status?.trimmingCharacters(in: .whitespacesAndNewlines) == "Discharging"
            {
                return name
            }
        }
        return nil
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }
}
