import Foundation
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

/// One host per state directory, and the instances of a host (or a
/// `taskhost run`) that died: `taskhost serve` and `taskhost run` as
/// processes, killed and doubled as a user would.
@Suite(.serialized) struct HostLifecycleTests {
    /// Runs `taskhost` with `arguments` (and `--state-dir`), killing it after
    /// `timeout`; returns its status (nil when it had to be killed) and output.
    static func bounded(_ arguments: [String], stateDirectory: String, timeout: TimeInterval = 60) throws -> (
        status: Int32?, out: String, err: String
    ) {
        let outPath = stateDirectory + "/bounded-\(UUID().uuidString).out"
        let errPath = outPath + ".err"
        let process = try ChildProcess.start(
            TestSupport.taskhostPath, arguments: arguments + ["--state-dir", stateDirectory], workingDirectory: stateDirectory,
            output: .file(outPath), error: .file(errPath))
        let finished = process.waitBlocking(timeout: timeout) != nil
        if !finished { process.signal(SIGKILL) }
        process.waitUntilExit()
        return (finished ? process.terminationStatus : nil, process.readBlocking(.output), process.readBlocking(.error))
    }

    static func slowManifest(in directory: String) throws -> String {
        try ServeProcess.manifest(in: directory, [("Slow", "FaultyTasks.SlowTask", "")])
    }

    @Test func aSecondServeOnTheSameStateDirectoryIsRefusedAndRunsNothing() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try Self.slowManifest(in: directory)
        let first = try ServeProcess(manifest: manifest, stateDirectory: directory)
        defer { _ = first.terminate() }
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        let triggered = try ServeProcess.taskhost(
            ["trigger", "Slow", "--arg", "ms=5000", "--manifest", manifest], stateDirectory: directory)
        #expect(triggered.status == 0)
        #expect(!triggered.err.contains("no host is running"), "a host runs: \(triggered.err)")
        let triggerId = triggered.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await TestSupport.eventually { try store.instances(task: "Slow", limit: 5).count == 1 })

        let holder = "pid \(first.process.processIdentifier) on 127.0.0.1:\(first.port)"
        for port in ["0", String(first.port)] {
            let second = try Self.bounded(["serve", "--port", port, "--manifest", manifest], stateDirectory: directory, timeout: 30)
            #expect(second.status == 1, "a second host exits at once with status 1 (port \(port))")
            #expect(
                second.err.contains("another taskhost serve (\(holder)) is running on the state directory \(directory)"), "\(second.err)")
            #expect(!second.out.contains("listening"))
            // Nothing was requeued: the first host's trigger is still its own, run once.
            let trigger = try #require(try store.queuedTrigger(idPrefix: triggerId))
            #expect([.running, .done].contains(trigger.state), "\(trigger.state)")
            #expect(trigger.attempts == 1 && trigger.lastError == nil)
        }
        #expect(try await TestSupport.eventually(timeout: .seconds(30)) { try store.queuedTrigger(idPrefix: triggerId)?.state == .done })
        let instances = try store.instances(task: "Slow", limit: 10)
        #expect(instances.count == 1, "one instance only: \(instances.map { "\($0.outcome.map(\.code) ?? "running")" })")
        #expect(instances.first?.outcome == .completed)
        #expect(!first.errors.contains("requeued"))
    }

    @Test func aHostThatCannotBindLeavesTheQueueUntouched() async throws {
        // A trigger claimed by a host that died, in a state directory whose
        // next host cannot bind its port (another host, elsewhere, has it).
        let directory = TestSupport.temporaryDirectory()
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        let event = TriggerEvent(kind: .application, triggerId: NewTrigger.newId())
        try store.enqueue([NewTrigger(app: "com.example.tests", task: "Slow", event: event)])
        let claimed = try store.claim(limit: 1, owner: "gone/1/dead", now: Date()) { _, _ in true }
        #expect(claimed.map(\.id) == [event.triggerId])

        let elsewhere = TestSupport.temporaryDirectory()
        let other = try ServeProcess(manifest: nil, stateDirectory: elsewhere)
        defer { _ = other.terminate() }
        let refused = try Self.bounded(
            ["serve", "--port", String(other.port), "--plugins-dir", ""], stateDirectory: directory, timeout: 30)
        #expect(refused.status == 1)
        #expect(refused.err.contains("the address is in use"), "\(refused.err)")
        let trigger = try #require(try store.queuedTrigger(idPrefix: event.triggerId))
        #expect(trigger.state == .running, "not requeued by a host that never listened")
        #expect(trigger.lastError == nil)
        // Once the directory's host can listen, it requeues and runs it as before.
        #expect(HostLock.holder(of: StateDirectory(path: directory)) == nil, "the refused host released the state directory")
    }

    @Test func theInstancesOfAKilledHostEndAsAbandonedAndTheirTriggersRunAgain() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try Self.slowManifest(in: directory)
        let first = try ServeProcess(
            manifest: manifest, stateDirectory: directory, arguments: ["--concurrency", "3", "--retry-delay", "0.05"])
        let firstPid = first.process.processIdentifier
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        var triggers: [String] = []
        for _ in 0..<3 {
            let triggered = try ServeProcess.taskhost(
                // Long enough that all three run at once even on a loaded machine, before the kill.
                ["trigger", "Slow", "--arg", "ms=20000", "--manifest", manifest], stateDirectory: directory)
            triggers.append(triggered.out.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(
            try await TestSupport.eventually {
                try store.instances(task: "Slow", limit: 10).filter { $0.outcome == nil }.count == 3
            })
        first.kill9()
        // The host is gone: anything that opens the store settles its instances.
        let reopened = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        let abandoned = try reopened.instances(task: "Slow", limit: 10)
        #expect(abandoned.count == 3)
        for instance in abandoned {
            #expect(instance.outcome == .abandoned("its host (pid \(firstPid)) stopped before the instance ended; no outcome was recorded"))
            #expect(instance.endedAt != nil)
        }
        let history = try ServeProcess.taskhost(["history"], stateDirectory: directory)
        #expect(history.out.components(separatedBy: "abandoned").count - 1 == 3, "\(history.out)")

        // The next host runs their triggers again.
        let second = try ServeProcess(
            manifest: manifest, stateDirectory: directory, arguments: ["--concurrency", "3", "--retry-delay", "0.05"])
        #expect(
            try await TestSupport.eventually(timeout: .seconds(120)) {
                try triggers.allSatisfy { try store.queuedTrigger(idPrefix: $0)?.state == .done }
            })
        #expect(second.terminate() == 0)
        let all = try store.instances(task: "Slow", limit: 20)
        #expect(all.filter { $0.outcome == .completed }.count == 3)
        #expect(all.allSatisfy { $0.outcome != nil }, "no instance is left running")
    }

    @Test func channelURIsReachTheRunningServer() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("Recorder", "FaultyTasks.RecordingTask", "")])
        let (store, _, token) = try ServeProcessTests.prepare(directory, task: "Recorder")

        let offline = try ServeProcess.taskhost(["channels", "create", "Recorder", "--manifest", manifest], stateDirectory: directory)
        #expect(offline.status == 0)
        #expect(offline.out.hasPrefix("http://127.0.0.1:8080/push/v1/"))
        #expect(offline.err.contains("no host is running on the state directory \(directory)"), "\(offline.err)")
        let queued = try ServeProcess.taskhost(["trigger", "Recorder", "--manifest", manifest], stateDirectory: directory)
        #expect(queued.status == 0)
        #expect(
            queued.err.contains("no host is running on the state directory \(directory); the trigger waits in the queue"), "\(queued.err)")

        let server = try ServeProcess(manifest: manifest, stateDirectory: directory)
        defer { _ = server.terminate() }
        #expect(server.port != 8080)
        #expect(HostLock.holder(of: StateDirectory(path: directory))?.publicURL == "http://127.0.0.1:\(server.port)")
        let created = try ServeProcess.taskhost(["channels", "create", "Recorder", "--manifest", manifest], stateDirectory: directory)
        #expect(created.status == 0, "\(created.err)")
        #expect(created.err.isEmpty, "\(created.err)")
        let uri = created.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(uri.hasPrefix("http://127.0.0.1:\(server.port)/push/v1/"))
        let pushed = try ServeProcess.taskhost(
            ["push", uri, "--content", "to the right port", "--token", token], stateDirectory: directory)
        #expect(pushed.status == 0, "\(pushed.err)")
        #expect(try await TestSupport.eventually { try store.setting(app: "com.example.tests", key: "seen:to the right port") != nil })
    }

    @Test func serveRefusesARootManifestItCannotRun() throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(in: directory, [("NotFinal", "FaultyTasks.NotFinalTask", "")])
        let serve = try Self.bounded(["serve", "--port", "0", "--manifest", manifest], stateDirectory: directory, timeout: 60)
        #expect(serve.status == 1, "serve exits with status 1 instead of serving")
        #expect(serve.err.contains("TaskEntryPoint \"FaultyTasks.NotFinalTask\""), "\(serve.err)")
        #expect(serve.err.contains("final"), "\(serve.err)")
        #expect(serve.err.contains("not starting"), "\(serve.err)")
        #expect(!serve.out.contains("listening"))
    }

    @Test func pluginsListSaysWhetherAHostWillLook() throws {
        let directory = TestSupport.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory + "/plugins/later", withIntermediateDirectories: true)
        let listed = try ServeProcess.taskhost(["plugins", "list"], stateDirectory: directory)
        #expect(listed.out.contains("no host is running on this state directory"), "\(listed.out)")
        #expect(!listed.out.contains("is taskhost serve running?"))

        // A host that has not looked yet (its next look is far away) is named.
        let server = try ServeProcess(manifest: nil, stateDirectory: directory, arguments: ["--plugins-poll", "1000"])
        defer { _ = server.terminate() }
        try FileManager.default.createDirectory(atPath: directory + "/plugins/copied-now", withIntermediateDirectories: true)
        let pending = try ServeProcess.taskhost(["plugins", "list"], stateDirectory: directory)
        #expect(
            pending.out.contains(
                "not looked at yet by the running host (pid \(server.process.processIdentifier) on 127.0.0.1:\(server.port))"),
            "\(pending.out)")
    }

    @Test func aRunKilledWithSIGKILLLeavesItsInstanceAbandoned() async throws {
        let directory = TestSupport.temporaryDirectory()
        let manifest = try Self.slowManifest(in: directory)
        let run = try ChildProcess.start(
            TestSupport.taskhostPath, arguments: ["run", "Slow", "--arg", "ms=30000", "--manifest", manifest, "--state-dir", directory],
            output: .null, error: .null)
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        #expect(try await TestSupport.eventually { try store.instances(task: "Slow", limit: 1).first?.pid != nil })
        run.signal(SIGKILL)
        _ = await run.waitForExit()

        let history = try ServeProcess.taskhost(["history"], stateDirectory: directory)
        #expect(history.status == 0)
        #expect(history.out.contains("abandoned"), "\(history.out)")
        let instance = try #require(try store.instances(task: "Slow", limit: 5).first)
        #expect(instance.outcome == .abandoned("its host (pid \(run.pid)) stopped before the instance ended; no outcome was recorded"))
        #expect(try store.instances(task: "Slow", limit: 5).count == 1)
    }

    @Test func aRunWhoseReaderGoesAwayFinishesItsInstance() throws {
        // `taskhost run … 2>&1 | head -1`: the reader is gone before the first log line.
        let directory = TestSupport.temporaryDirectory()
        let manifest = try Self.slowManifest(in: directory)
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        let run = try ChildProcess.start(
            TestSupport.taskhostPath, arguments: ["run", "Slow", "--arg", "ms=300", "--manifest", manifest, "--state-dir", directory],
            output: .descriptor(ends[1]), error: .standardOutput)
        close(ends[1])
        close(ends[0])
        run.waitUntilExit()
        #expect(run.terminationReason == .exit, "not killed by SIGPIPE (status \(run.terminationStatus))")
        #expect(run.terminationStatus == 0)
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        let instance = try #require(try store.instances(task: "Slow", limit: 5).first)
        #expect(instance.outcome == .completed)
        #expect(try store.setting(app: "com.example.tests", key: "SlowTask")?.value == .string("finished after 300 ms"))
    }
}
