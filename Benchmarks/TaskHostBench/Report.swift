import Foundation

/// Samples of one measurement, in nanoseconds.
struct Samples {
    var values: [Int64] = []

    mutating func add(_ nanoseconds: Int64) { values.append(nanoseconds) }

    /// The `p`th percentile (nearest rank), in milliseconds.
    func percentile(_ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return Double(sorted[min(max(rank, 0), sorted.count - 1)]) / 1e6
    }

    var p50: Double { percentile(50) }
    var p99: Double { percentile(99) }
}

/// Clocks, in nanoseconds: monotonic for durations within the bench,
/// realtime across processes, the calling thread's CPU time for what it costs.
enum Clock {
    static func monotonic() -> Int64 { read(CLOCK_MONOTONIC) }

    static func realtime() -> Int64 { read(CLOCK_REALTIME) }

    static func threadCPU() -> Int64 { read(CLOCK_THREAD_CPUTIME_ID) }

    private static func read(_ clock: clockid_t) -> Int64 {
        var now = timespec()
        clock_gettime(clock, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// The timestamp of a NoopTask's `entered <ns>` line.
    static func entered(_ line: String) -> Int64? {
        guard line.hasPrefix("entered ") else { return nil }
        return Int64(line.dropFirst("entered ".count))
    }
}

/// A markdown table, printed as it is (it pastes into the README).
struct Table {
    var title: String
    var header: [String]
    var rows: [[String]] = []
    var notes: [String] = []

    init(_ title: String, _ header: [String]) {
        self.title = title
        self.header = header
    }

    mutating func row(_ cells: String...) { rows.append(cells) }
    mutating func note(_ text: String) { notes.append(text) }

    func print() {
        Swift.print("\n### \(title)\n")
        Swift.print("| " + header.joined(separator: " | ") + " |")
        Swift.print("|" + String(repeating: "---|", count: header.count))
        for row in rows { Swift.print("| " + row.joined(separator: " | ") + " |") }
        if !notes.isEmpty { Swift.print("") }
        for note in notes { Swift.print(note) }
        fflush(nil)
    }
}

/// Number formatting for the tables.
enum Format {
    static func ms(_ value: Double) -> String {
        guard value.isFinite else { return "–" }
        if value >= 100 { return String(format: "%.0f ms", value) }
        if value >= 10 { return String(format: "%.1f ms", value) }
        return String(format: "%.3f ms", value)
    }

    static func ratio(_ value: Double, over base: Double) -> String {
        guard value.isFinite, base.isFinite, base > 0 else { return "–" }
        let r = value / base
        if r >= 10 { return String(format: "%.0f×", r) }
        return r >= 0.1 ? String(format: "%.2f×", r) : String(format: "%.3f×", r)
    }

    static func count(_ value: Double) -> String {
        guard value.isFinite else { return "–" }
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.maximumFractionDigits = value < 100 ? 1 : 0
        formatter.locale = Locale(identifier: "en_US")
        return formatter.string(from: NSNumber(value: value)) ?? "\(value)"
    }

    static func megabytes(kilobytes: Int) -> String { String(format: "%.1f MB", Double(kilobytes) / 1024) }
}

/// This machine, as the report names it.
enum Machine {
    static func describe() -> [String] {
        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model =
            cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        let memory =
            ((try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? "").split(separator: "\n")
            .first { $0.hasPrefix("MemTotal") }.map {
                String($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0")
            }
            .flatMap(Int.init) ?? 0
        return [
            "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores (nproc), \(model), \(memory / 1024 / 1024 + (memory % (1024 * 1024) > 512 * 1024 ? 1 : 0)) GB RAM, Linux \(kernel)",
            "load average at start: \(loadAverage())",
        ]
    }

    /// The 1, 5 and 15 minute load averages.
    static func loadAverage() -> String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// VmRSS of `pid`, in kB.
    static func residentKilobytes(pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
    }
}
