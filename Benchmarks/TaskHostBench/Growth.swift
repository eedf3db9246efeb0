import Foundation
import TaskHostCore
import TaskHostIsolation
import TaskHostManifest
import TaskHostPlugins
import TaskHostScheduling
import TaskHostStore
import TaskHostStoreBackends

extension Bench {
    func growth(_ products: Products, state: String) async throws {
        try await residentMemory(products, state: state + "/growth-serve")
        try await dispatchLatency(products, state: state + "/growth-dispatch")
    }

    /// Waits until the process's RSS stops moving (three equal-ish readings 0.5 s apart), then returns it in kB.
    private func settledResident(_ server: ServeProcess) async -> Int {
        var previous = server.residentKilobytes
        for _ in 0..<20 {
            try? await Task.sleep(for: .milliseconds(500))
            let now = server.residentKilobytes
            if abs(now - previous) < 256 { return now }
            previous = now
        }
        return previous
    }

    /// RSS of `taskhost serve`: idle, with `plugins` registered plugins, with `queued` queued triggers.
    func residentMemory(_ products: Products, state: String) async throws {
        let server = try ServeProcess(products, state: state, arguments: ["--plugins-poll", "0.5"])
        defer { server.stop() }
        try? await Task.sleep(for: .seconds(1))
        let idle = await settledResident(server)

        // Drop in `plugins` copies of the no-op plugin, each with its own identity.
        let directory = StateDirectory(path: state).pluginsPath
        let start = Clock.monotonic()
        for index in 0..<plugins {
            let folder = directory + "/" + String(format: "bench-%03d", index)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: products.noopLibrary, toPath: folder + "/libBenchmarkTasks.so")
            try """
            { "Identity": { "Name": "com.example.bench.p\(index)", "Version": "1.0.0" },
              "BackgroundTasks": [ { "Name": "Noop", "TaskEntryPoint": "\(Products.noopEntryPoint)", "Library": "BenchmarkTasks",
                "Triggers": [ { "Type": "Application" } ] } ] }
            """.write(toFile: folder + "/manifest.json", atomically: true, encoding: .utf8)
        }
        var active = 0
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline {
            active = try Self.activePlugins(products, state: state)
            if active >= plugins { break }
            try? await Task.sleep(for: .milliseconds(250))
        }
        let registration = Double(Clock.monotonic() - start) / 1e9
        guard active >= plugins else { throw BenchError("only \(active) of \(plugins) plugins became active; see \(state)/serve.log") }
        let withPlugins = await settledResident(server)

        // Queue triggers for one of them, due in a day: they stay queued, the dispatcher polls past them.
        let store = try StoreLocation.stateDirectory(StateDirectory(path: state)).open()
        let later = Date().addingTimeInterval(86400)
        var remaining = queued
        while remaining > 0 {
            let batch = min(remaining, 5000)
            try store.enqueue(
                (0..<batch).map { _ in
                    NewTrigger(
                        app: "com.example.bench.p0", task: "Noop", event: .application(arguments: ["n": "\(remaining)"]), availableAt: later
                    )
                })
            remaining -= batch
        }
        // Let the dispatcher poll past them a few times.
        try? await Task.sleep(for: .seconds(2))
        let withQueue = await settledResident(server)
        let counts = try store.queueCounts()

        var table = Table(
            "Cost growth: resident memory of `taskhost serve` (release, fresh state directory)", ["state", "VmRSS", "vs idle"])
        table.row("idle (no plugins, empty queue)", Format.megabytes(kilobytes: idle), "1.00×")
        table.row(
            "\(plugins) registered plugins (all active)", Format.megabytes(kilobytes: withPlugins),
            Format.ratio(Double(withPlugins), over: Double(idle)))
        table.row(
            "\(plugins) plugins + \(Format.count(Double(queued))) queued triggers", Format.megabytes(kilobytes: withQueue),
            Format.ratio(Double(withQueue), over: Double(idle)))
        table.note(
            "VmRSS from /proc/PID/status once it stops moving. Plugins: copies of the no-op plugin, each folder with its own Identity, dropped "
                + "into the plugins directory at once; all \(plugins) active \(String(format: "%.1f", registration)) s later (each is loaded "
                + "in a sandboxed scanner process). Triggers: application triggers for one plugin's task, inserted with the store's `enqueue` (SQLite) "
                + "in batches of 5,000, due in a day so that they stay queued (queue: \(counts[.pending] ?? 0) pending). Target: idle < 40 MB."
        )
        table.print()
    }

    static func activePlugins(_ products: Products, state: String) throws -> Int {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: products.taskhost)
        process.arguments = ["plugins", "list", "--state-dir", state]
        process.currentDirectoryURL = URL(fileURLWithPath: state)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").filter { $0.contains(" active ") }.count
    }

    /// Enqueue one trigger, wake the dispatcher, wait for the instance's outcome: with an empty queue, then
    /// with `queued` other triggers of a parked (disabled) plugin, then with `queued` triggers due later.
    func dispatchLatency(_ products: Products, state: String) async throws {
        let mode = isolationModes.first ?? .prefork
        let store = try StoreLocation.stateDirectory(StateDirectory(path: state)).open()
        let noop = IsolatedNoop(store: store, products: products, isolation: mode)
        let registry = TaskRegistry([RegisteredTask(app: noop.app, task: noop.task, libraryPath: noop.library)])
        registry.setParked("com.example.parked", true)
        let dispatcher = Dispatcher(store: store, runner: noop.runner, registry: registry, logger: .silent)
        let (outcomes, continuation) = AsyncStream<Void>.makeStream()
        dispatcher.observeOutcomes { _, _ in continuation.yield() }
        let running = Task { await dispatcher.run() }
        defer {
            dispatcher.shutdown()
        }
        var iterator = outcomes.makeAsyncIterator()
        let samples = max(20, runs / 5)

        func measure() async throws -> Samples {
            var result = Samples()
            for index in 0..<(samples + 3) {
                let trigger = NewTrigger(app: noop.app.identity.name, task: noop.task.name, event: .application())
                let start = Clock.monotonic()
                try store.enqueue([trigger])
                dispatcher.wake()
                _ = await iterator.next()
                if index >= 3 { result.add(Clock.monotonic() - start) }  // the first ones warm up
            }
            return result
        }
        func fill(app: String, availableAt: Date) throws {
            var remaining = queued
            while remaining > 0 {
                let batch = min(remaining, 5000)
                try store.enqueue(
                    (0..<batch).map { _ in
                        NewTrigger(app: app, task: "Noop", event: .application(), availableAt: availableAt)
                    })
                remaining -= batch
            }
        }

        let empty = try await measure()
        try fill(app: "com.example.parked", availableAt: Date())
        let parked = try await measure()
        try fill(app: noop.app.identity.name, availableAt: Date().addingTimeInterval(86400))
        let both = try await measure()
        dispatcher.shutdown()
        await running.value

        var table = Table(
            "Cost growth: dispatch latency (enqueue one application trigger → its no-op instance's outcome recorded, \(samples) runs, isolation `\(mode)`)",
            ["queue", "p50", "p99", "p50 vs empty"])
        table.row("empty", Format.ms(empty.p50), Format.ms(empty.p99), "1.00×")
        table.row(
            "\(Format.count(Double(queued))) pending triggers of a parked (disabled) plugin", Format.ms(parked.p50), Format.ms(parked.p99),
            Format.ratio(parked.p50, over: empty.p50))
        table.row(
            "the same + \(Format.count(Double(queued))) triggers of the same task due in a day", Format.ms(both.p50), Format.ms(both.p99),
            Format.ratio(both.p50, over: empty.p50))
        table.note(
            "An in-process `Dispatcher` over a fresh SQLite store, woken after each enqueue as the push endpoint's committer wakes it. "
                + "Target: with 100k queued, within 2× of empty.")
        table.print()
    }
}
