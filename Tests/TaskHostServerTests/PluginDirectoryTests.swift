import Foundation
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

/// The drop-in plugins directory under a running `taskhost serve` (no root
/// manifest): install, replace, remove, quarantine, crash loops, scoping.
@Suite(.serialized) struct PluginDirectoryTests {
    let directory = TestSupport.temporaryDirectory()
    var plugins: String { directory + "/plugins" }

    /// Serves the plugins directory only, looking at it every 100 ms.
    func serve(_ arguments: [String] = []) throws -> ServeProcess {
        try ServeProcess(manifest: nil, stateDirectory: directory, arguments: ["--plugins-poll", "0.1"] + arguments)
    }

    func taskhost(_ arguments: String...) throws -> (status: Int32, out: String, err: String) {
        try ServeProcess.taskhost(arguments, stateDirectory: directory)
    }

    var store: SQLiteTaskStore { get throws { try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory)) } }

    /// Writes plugin folder `name`: `library` copied in as `libProbe.so` (the
    /// way `cp` does it: truncate and rewrite) and a manifest declaring `tasks`.
    func writePlugin(
        _ name: String, identity: String, version: String = "1.0", library: String = TestSupport.faultyTasks,
        tasks: [(name: String, entryPoint: String)]
    ) throws {
        let target = plugins + "/" + name
        // A new folder is assembled beside the plugins directory and moved in
        // whole, so that a scan never sees it without its manifest.json.
        let isNew = !FileManager.default.fileExists(atPath: target)
        let folder = isNew ? plugins + "-staging-" + name : target
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { if isNew { try? FileManager.default.moveItem(atPath: folder, toPath: target) } }
        try Data(contentsOf: URL(fileURLWithPath: library)).write(to: URL(fileURLWithPath: folder + "/libProbe.so"))
        let entries = tasks.map { task in
            """
            {"Name": "\(task.name)", "TaskEntryPoint": "\(task.entryPoint)", "Library": "Probe",
             "Triggers": [{"Type": "Application"}, {"Type": "PushNotification"}]}
            """
        }
        try """
        {"Identity": {"Name": "\(identity)", "Version": "\(version)"}, "BackgroundTasks": [\(entries.joined(separator: ","))]}
        """.write(toFile: folder + "/manifest.json", atomically: false, encoding: .utf8)
    }

    func record(_ name: String) throws -> PluginRecord? { try store.plugins().first { $0.name == name } }

    func waitFor(_ name: String, _ state: PluginState, timeout: Duration = .seconds(30)) async throws -> PluginRecord {
        #expect(
            try await TestSupport.eventually(timeout: timeout) { try record(name)?.state == state },
            "plugin \(name) never became \(state): \(String(describing: try? record(name)))")
        return try #require(try record(name))
    }

    func setting(_ app: String, _ key: String) throws -> String? {
        try store.setting(app: app, key: key).map { $0.value.description }
    }

    @Test func aFolderDroppedInWhileServingRunsByTriggerAndByPush() async throws {
        let server = try serve()
        defer { _ = server.terminate() }
        try writePlugin(
            "probe", identity: "com.test.probe", tasks: [("Slow", "FaultyTasks.SlowTask"), ("Recorder", "FaultyTasks.RecordingTask")])
        let record = try await waitFor("probe", .active)
        #expect(record.identity == "com.test.probe" && record.version == "1.0" && record.tasks == ["Slow", "Recorder"])
        #expect(FileManager.default.fileExists(atPath: record.stagedPath + "/libProbe.so"), "instances load a copy")

        let triggered = try taskhost("trigger", "Slow", "--arg", "ms=10")
        #expect(triggered.status == 0, "\(triggered.err)")
        #expect(try await TestSupport.eventually { try setting("com.test.probe", "SlowTask") == "finished after 10 ms" })

        let channel = try taskhost("channels", "create", "Recorder", "--base-url", "http://127.0.0.1:\(server.port)")
        #expect(channel.status == 0, "\(channel.err)")
        let token = try taskhost("credentials", "create", "--app", "com.test.probe").out.trimmingCharacters(in: .whitespacesAndNewlines)
        let pushed = try taskhost(
            "push", channel.out.trimmingCharacters(in: .whitespacesAndNewlines), "--content", "dropped in", "--token", token)
        #expect(pushed.status == 0, "\(pushed.err)")
        #expect(try await TestSupport.eventually { try setting("com.test.probe", "seen:dropped in") != nil })

        let listed = try taskhost("plugins", "list")
        #expect(listed.out.contains("probe") && listed.out.contains("active") && listed.out.contains("Slow,Recorder"), "\(listed.out)")
        let validated = try taskhost("plugins", "validate", "plugins/probe")  // a relative path, from the state directory
        #expect(
            validated.status == 0 && validated.out.contains("OK, ready to drop into the plugins directory"),
            "\(validated.out)\(validated.err)")
    }

    @Test func aReplacedLibraryRunsNewInstancesWhileTheRunningOneFinishesOnTheOld() async throws {
        let server = try serve()
        defer { _ = server.terminate() }
        try writePlugin("probe", identity: "com.test.probe", version: "1.0", tasks: [("Slow", "FaultyTasks.SlowTask")])
        let first = try await waitFor("probe", .active)
        #expect(try taskhost("trigger", "Slow", "--arg", "ms=2000").status == 0)
        #expect(try await TestSupport.eventually { try store.instances(task: "Slow", limit: 5).first?.pid != nil })

        // Overwrite the library in place (as cp does) and bump the version while version 1.0 runs.
        try writePlugin("probe", identity: "com.test.probe", version: "2.0", tasks: [("Slow", "FaultyTasks.SlowTask")])
        let second = try await waitFor("probe", .active)
        #expect(try await TestSupport.eventually { try record("probe")?.version == "2.0" })
        #expect(try record("probe")?.stagedPath != first.stagedPath)
        _ = second
        #expect(try taskhost("trigger", "Slow", "--arg", "ms=10").status == 0)

        #expect(
            try await TestSupport.eventually {
                try store.instances(task: "Slow", limit: 5).filter { $0.outcome == .completed }.count == 2
            })
        let instances = try store.instances(task: "Slow", limit: 5).sorted { $0.startedAt < $1.startedAt }
        #expect(instances.map(\.appVersion) == ["1.0", "2.0"])
        #expect(instances.map(\.outcome) == [.completed, .completed], "the old version finished on its own copy")
    }

    @Test func removingAPluginCancelsItsRunningInstancesWithUninstall() async throws {
        let server = try serve()
        defer { _ = server.terminate() }
        try writePlugin("waiter", identity: "com.test.waiter", tasks: [("Waiter", "FaultyTasks.CooperativeTask")])
        _ = try await waitFor("waiter", .active)
        let trigger = try taskhost("trigger", "Waiter").out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await TestSupport.eventually { try store.instances(task: "Waiter", limit: 1).first?.pid != nil })

        try FileManager.default.removeItem(atPath: plugins + "/waiter")
        #expect(try await TestSupport.eventually { try store.instances(task: "Waiter", limit: 1).first?.outcome == .canceled(.uninstall) })
        #expect(try setting("com.test.waiter", "CooperativeTask") == "saw Uninstall")
        #expect(
            try await TestSupport.eventually {
                try store.queuedTriggers(states: [.dead], limit: 10).first { $0.id == trigger }?.lastError
                    == "the plugin was removed during the run"
            })
        #expect(try record("waiter") == nil)
        #expect(try taskhost("trigger", "Waiter").status == 1, "its tasks are unregistered")
    }

    @Test func aPushForATaskWhosePluginIsGoneWaitsParkedAndRunsOnceItIsBack() async throws {
        let server = try serve()
        defer { _ = server.terminate() }
        try writePlugin("recorder", identity: "com.test.recorder", tasks: [("Recorder", "FaultyTasks.RecordingTask")])
        _ = try await waitFor("recorder", .active)
        let uri = try taskhost("channels", "create", "Recorder", "--base-url", "http://127.0.0.1:\(server.port)").out
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let token = try taskhost("credentials", "create", "--app", "com.test.recorder").out.trimmingCharacters(in: .whitespacesAndNewlines)

        // The plugin is taken out (as when it is being replaced); its channel stays.
        try FileManager.default.removeItem(atPath: plugins + "/recorder")
        #expect(try await TestSupport.eventually { try record("recorder") == nil })
        let pushed = try taskhost("push", uri, "--content", "while away", "--token", token)
        #expect(pushed.status == 0 && pushed.out.hasPrefix("200 received "), "acknowledged: \(pushed.out)\(pushed.err)")
        let id = try #require(pushed.out.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        #expect(try await TestSupport.eventually { try store.queuedTrigger(idPrefix: id)?.state == .parked }, "parked, not dead-lettered")
        let parked = try #require(try store.queuedTrigger(idPrefix: id))
        #expect(parked.attempts == 0)
        let queue = try taskhost("queue", "--wide").out
        #expect(
            queue.contains(id) && queue.contains("parked")
                && queue.contains("task \"Recorder\" of com.test.recorder not loaded on this host"), "\(queue)")
        // `no-cache`: it cannot start now, so it is dropped rather than parked.
        let noCache = try taskhost("push", uri, "--content", "now or never", "--token", token, "--no-cache")
        #expect(noCache.status == 0 && noCache.out.hasPrefix("200 dropped "), "\(noCache.out)\(noCache.err)")
        #expect(try store.queueCounts()[.dead, default: 0] == 0)

        // Dropped in again: the waiting push runs, on its first attempt.
        try writePlugin("recorder", identity: "com.test.recorder", tasks: [("Recorder", "FaultyTasks.RecordingTask")])
        #expect(try await TestSupport.eventually { try setting("com.test.recorder", "seen:while away") != nil })
        #expect(try await TestSupport.eventually { try store.queuedTrigger(idPrefix: id)?.state == .done })
        #expect(try store.queuedTrigger(idPrefix: id)?.attempts == 1)
        #expect(try setting("com.test.recorder", "seen:now or never") == nil)
    }

    @Test func aLibraryWhoseConstructorCrashesIsQuarantinedUntilItChanges() async throws {
        let server = try serve()
        defer { _ = server.terminate() }
        try writePlugin("boom", identity: "com.test.boom", library: TestSupport.crashingConstructor, tasks: [("Boom", "Boom.Task")])
        let quarantined = try await waitFor("boom", .quarantined)
        #expect(
            quarantined.reason?.contains("crashed the scanner while loading (signal 11, SIGSEGV)") == true, "\(quarantined.reason ?? "")")
        #expect(quarantined.reason?.contains(plugins + "/boom/manifest.json") == true, "the reason names the dropped folder, not the copy")
        #expect(server.process.isRunning)

        // Not tried again while its files stay the same…
        try await Task.sleep(for: .milliseconds(600))
        #expect(try record("boom")?.updatedAt == quarantined.updatedAt)
        // …tried again once they change, and usable once fixed.
        try writePlugin("boom", identity: "com.test.boom", tasks: [("Boom", "FaultyTasks.SlowTask")])
        _ = try await waitFor("boom", .active)
        let listed = try taskhost("plugins", "list")
        #expect(listed.out.contains("boom") && listed.out.contains("active"), "\(listed.out)")
    }

    @Test func aTaskThatKeepsCrashingIsDisabledAloneUntilEnabled() async throws {
        let arguments = [
            "--crash-limit", "3", "--crash-window", "60", "--max-attempts", "20", "--retry-delay", "0.05", "--max-retry-delay", "0.1",
        ]
        var server = try serve(arguments)
        defer { _ = server.terminate() }
        try writePlugin(
            "crasher", identity: "com.test.crasher", tasks: [("Work", "FaultyTasks.SegfaultTask"), ("Other", "FaultyTasks.AsyncEchoTask")])
        _ = try await waitFor("crasher", .active)
        let trigger = try taskhost("trigger", "Work").out.trimmingCharacters(in: .whitespacesAndNewlines)
        func disabled() throws -> DisabledTask? { try store.disabledTasks().first { $0.plugin == "crasher" && $0.task == "Work" } }
        #expect(try await TestSupport.eventually { try disabled() != nil }, "three crashes disable the task")
        let reason = try #require(try disabled()).reason
        #expect(reason.contains("crashed 3 times") && reason.contains("taskhost plugins enable crasher/Work"), "\(reason)")
        #expect(try record("crasher")?.state == .active, "the plugin is not disabled")
        #expect(
            try await TestSupport.eventually { try store.queuedTriggers(states: [.parked], limit: 10).contains { $0.id == trigger } },
            "its trigger is parked, out of the claim's way")

        // The plugin's other task runs on.
        #expect(try taskhost("trigger", "Other").status == 0)
        #expect(try await TestSupport.eventually { try store.instances(task: "Other", limit: 5).first?.outcome == .completed })
        #expect(try store.instances(task: "Work", limit: 10).count == 3, "no run while disabled")

        // The CLI says it is disabled, and how to enable it.
        let refused = try taskhost("trigger", "Work")
        #expect(refused.status != 0)
        #expect(refused.err.contains("is disabled") && refused.err.contains("taskhost plugins enable crasher/Work"), "\(refused.err)")
        let listed = try taskhost("plugins", "list").out
        #expect(listed.contains("crasher/Work") && listed.contains("Work (disabled)"), "\(listed)")

        // A restart keeps it disabled, and the other task running.
        #expect(server.terminate() == 0)
        server = try serve(arguments)
        #expect(try taskhost("trigger", "Other").status == 0)
        #expect(
            try await TestSupport.eventually { try store.instances(task: "Other", limit: 5).filter { $0.outcome == .completed }.count == 2 }
        )
        #expect(try store.instances(task: "Work", limit: 10).count == 3, "still disabled after a restart")
        #expect(try disabled() != nil)

        // Fixed (a new version does not enable it by itself), then enabled: the waiting trigger runs.
        try writePlugin(
            "crasher", identity: "com.test.crasher", version: "1.1",
            tasks: [("Work", "FaultyTasks.SlowTask"), ("Other", "FaultyTasks.AsyncEchoTask")])
        #expect(try await TestSupport.eventually { try record("crasher")?.version == "1.1" })
        try await Task.sleep(for: .milliseconds(300))
        #expect(try disabled() != nil && store.instances(task: "Work", limit: 10).count == 3, "a change does not enable it")
        let enabled = try taskhost("plugins", "enable", "crasher/Work")
        #expect(enabled.status == 0 && enabled.out.contains("enabled crasher/Work (disabled since "), "\(enabled.out)\(enabled.err)")
        #expect(try await TestSupport.eventually { try setting("com.test.crasher", "SlowTask") == "finished after 1000 ms" })
        #expect(try disabled() == nil)
        #expect(try taskhost("plugins", "enable", "crasher/Nothing").status == 1)
        #expect(try taskhost("plugins", "enable", "nothing").status == 1)
    }

    @Test func twoPluginsMayEachDeclareATaskOfTheSameName() async throws {
        let server = try serve()
        defer { _ = server.terminate() }
        try writePlugin("a", identity: "com.test.a", tasks: [("Sample", "FaultyTasks.SlowTask")])
        try writePlugin("b", identity: "com.test.b", tasks: [("Sample", "FaultyTasks.SlowTask")])
        _ = try await waitFor("a", .active)
        _ = try await waitFor("b", .active)

        let ambiguous = try taskhost("trigger", "Sample")
        #expect(ambiguous.status == 1)
        #expect(ambiguous.err.contains("com.test.a/Sample") && ambiguous.err.contains("com.test.b/Sample"), "\(ambiguous.err)")
        #expect(try taskhost("trigger", "com.test.a/Sample", "--arg", "ms=5").status == 0)
        #expect(try taskhost("trigger", "b/Sample", "--arg", "ms=6").status == 0, "the folder name works too")
        #expect(
            try await TestSupport.eventually {
                try setting("com.test.a", "SlowTask") == "finished after 5 ms" && setting("com.test.b", "SlowTask") == "finished after 6 ms"
            })

        // One identity per plugin: a second folder claiming com.test.a is quarantined.
        try writePlugin("c", identity: "com.test.a", tasks: [("Other", "FaultyTasks.SlowTask")])
        let clash = try await waitFor("c", .quarantined)
        #expect(clash.reason?.contains("already used by plugin \"a\"") == true, "\(clash.reason ?? "")")
        #expect(try taskhost("trigger", "com.test.a/Sample", "--arg", "ms=7").status == 0)
        #expect(
            try await TestSupport.eventually { try setting("com.test.a", "SlowTask") == "finished after 7 ms" },
            "the clash does not stop a's tasks")
    }

    @Test func aPluginBuiltForAnotherABIIsQuarantinedWithWhatToDo() async throws {
        let server = try serve()
        defer { _ = server.terminate() }
        try writePlugin("old", identity: "com.test.old", library: TestSupport.mismatchedPlugin, tasks: [("Old", "Old.Task")])
        let record = try await waitFor("old", .quarantined)
        #expect(record.reason?.contains("ABI version 99, the host needs 1") == true, "\(record.reason ?? "")")
        #expect(record.reason?.contains("rebuild it against this taskhost's BackgroundTaskKit") == true)
        let validated = try taskhost("plugins", "validate", plugins + "/old")
        #expect(validated.status == 1 && validated.err.contains("ABI version 99"), "\(validated.err)")
    }
}
