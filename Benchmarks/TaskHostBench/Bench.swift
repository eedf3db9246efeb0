import ArgumentParser
import Foundation
import Logging
import TaskHostCore
import TaskHostIsolation
import TaskHostStore

/// The benchmark suite of taskhost: isolation cost, throughput, durable push
/// ingest and cost growth, each figure next to baselines measured in the same run.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "taskhost-bench",
        abstract: "Measure taskhost against its baselines, in the same run (build in release first: swift build -c release).",
        discussion: """
            Sections: isolation (latency of one isolated no-op run vs posix_spawn(/bin/true) and an \
            in-process call), throughput (isolated no-op runs per second), ingest (acknowledged pushes \
            per second through the HTTP endpoint, with wrk, vs the same server storing nothing and \
            committing each push alone), webpush (Web Push ingest, decryption and VAPID included, vs \
            WNS-style ingest in the same run), metrics (ingest with metrics on vs off, in rotating rounds, \
            next to an A/A pair of identical servers: the noise floor), store (the CPU of one durable enqueue transaction by batch \
            size, without HTTP), growth (host memory and dispatch latency with 100 plugins \
            and 100,000 queued triggers), listen (a push sent → its 200 and → a foreground listener has it), \
            postgres (not run by default; needs a server --postgres names, \
            pgbench, psql and wrk: durable push ingest through the HTTP endpoint into PostgreSQL at 1, 16 \
            and 64 clients next to pgbench's one INSERT per transaction, the same endpoint storing nothing \
            and SQLite's group commit; the PostgreSQL store's enqueue transaction by batch size; dispatch \
            throughput with one and two hosts on one database next to SQLite; claim latency on an empty \
            queue and with --queued triggers queued). Prints markdown tables.
            """)

    @Option(help: "Sequential runs per latency measurement.") var runs: Int = 300
    @Option(help: "Seconds per throughput and ingest measurement.") var seconds: Double = 5
    @Option(
        help: ArgumentHelp(
            "Sections to run, comma-separated: isolation, throughput, ingest, webpush, metrics, store, growth, listen, postgres.",
            valueName: "list"
        ))
    var sections: String = "isolation,throughput,ingest,webpush,metrics,store,growth,listen"
    @Option(
        help: ArgumentHelp("Isolation modes to measure, comma-separated (spawn, prefork).", valueName: "list"))
    var isolation: String = "prefork,spawn"
    @Option(help: "Triggers queued for the growth section and the postgres section's claim latency.") var queued: Int = 100_000
    @Option(
        help: ArgumentHelp("The PostgreSQL server of the postgres section (its role must be able to create databases).", valueName: "url"))
    var postgres: String?
    @Option(help: "Plugins registered for the growth section.") var plugins: Int = 100
    @Flag(help: "A short run: fewer runs, 2 s per measurement, 20,000 queued triggers, 20 plugins.") var quick = false

    /// Figures later sections and the summary refer to.
    final class Results: @unchecked Sendable {
        var spawnTrueP50 = Double.nan
        var isolationEntered: [IsolationMode: Double] = [:]
        var runsPerSecond: [IsolationMode: Double] = [:]
    }

    var results: Results { Self.results }
    static let results = Results()

    var isolationModes: [IsolationMode] {
        isolation.split(separator: ",").compactMap { IsolationMode(rawValue: String($0).trimmingCharacters(in: .whitespaces)) }
    }

    mutating func validate() throws {
        if quick {
            runs = min(runs, 100)
            seconds = min(seconds, 2)
            queued = min(queued, 20_000)
            plugins = min(plugins, 20)
        }
        guard runs > 0, seconds > 0, queued >= 0, plugins >= 0 else {
            throw ValidationError("--runs, --seconds, --queued and --plugins must be positive")
        }
        guard !isolationModes.isEmpty else { throw ValidationError("--isolation: name spawn and/or prefork") }
        for section in sections.split(separator: ",") where !Self.allSections.contains(String(section)) {
            throw ValidationError("unknown section \(section); sections are \(Self.allSections.joined(separator: ", "))")
        }
    }

    static let allSections = ["isolation", "throughput", "ingest", "webpush", "metrics", "store", "growth", "listen", "postgres"]

    func run() async throws {
        let products = try Products.locate()
        let state = NSTemporaryDirectory() + "taskhost-bench-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: state) }

        print("## taskhost-bench")
        print("")
        print(
            "command: \(CommandLine.arguments.map { ($0 as NSString).lastPathComponent == "taskhost-bench" ? "taskhost-bench" : $0 }.joined(separator: " "))"
        )
        for line in Machine.describe() { print(line) }
        print(
            "build: \(products.directory) (\(products.directory.hasSuffix("release") ? "release" : "NOT a release build: numbers are meaningless"))"
        )
        print(
            "isolation modes: \(isolationModes.map(\.rawValue).joined(separator: ", ")); TaskRunner sandbox: defaults (\(geteuid() == 0 ? "root host: instances run as nobody" : "unprivileged host"))"
        )
        fflush(nil)

        let chosen = Set(sections.split(separator: ",").map(String.init))
        if chosen.contains("isolation") { try await isolationLatency(products, state: state) }
        if chosen.contains("throughput") { try await isolationThroughput(products, state: state) }
        if chosen.contains("ingest") { try await ingest(products, state: state) }
        if chosen.contains("webpush") { try await webPushIngest(products, state: state) }
        if chosen.contains("metrics") { try await metricsCost(products, state: state) }
        if chosen.contains("store") { try storeCost(state: state) }
        if chosen.contains("growth") { try await growth(products, state: state) }
        if chosen.contains("listen") { try await listenLatency(products, state: state) }
        if chosen.contains("postgres") {
            try await postgres(products, state: state)
            try await postgresWakeupLatency()
        }
        print("\nload average at end: \(Machine.loadAverage())")
    }
}

extension Bench {
    /// Runs `executable` to its end and returns the numbers of the line it
    /// prints that starts with `RESULT ` (standard output and error).
    static func resultLine(of executable: String, _ arguments: [String], environment: [String: String]? = nil, fields: Int) throws
        -> [Double]
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let name = (executable as NSString).lastPathComponent
        let text = String(decoding: data, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RESULT ") }) else {
            throw BenchError("\(name) printed no result (exit status \(process.terminationStatus)): \(text)")
        }
        let numbers = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard numbers.count == fields else { throw BenchError("cannot read \(name)'s result: \(line)") }
        return numbers
    }

    static func which(_ name: String) -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }
}

/// The build products the suite runs: its siblings in the build directory.
struct Products: Sendable {
    static let noopEntryPoint = "BenchmarkTasks.NoopTask"
    var directory: String
    var worker: String { directory + "/taskhost-worker" }
    var taskhost: String { directory + "/taskhost" }
    var noopLibrary: String { directory + "/libBenchmarkTasks.so" }
    var forkFloor: String { directory + "/taskhost-fork-floor" }

    static func locate() throws -> Products {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let products = Products(directory: (executable as NSString).deletingLastPathComponent)
        for path in [products.worker, products.taskhost, products.noopLibrary, products.forkFloor]
        where !FileManager.default.fileExists(atPath: path) {
            throw BenchError(
                "\(path) is missing: build every product first (swift build -c release), then swift run -c release taskhost-bench")
        }
        return products
    }
}

/// Why the suite stopped.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Logger {
    /// A logger that drops everything.
    static var silent: Logger { Logger(label: "taskhost-bench") { _ in SwiftLogNoOpLogHandler() } }
}
