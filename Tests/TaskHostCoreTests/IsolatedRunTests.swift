import Foundation
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostStore

/// The refusal message of an instance that was refused; records an issue otherwise.
func refusal(_ record: InstanceRecord, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    guard case .refused(let message) = record.outcome else {
        Issue.record("expected a refusal, got \(String(describing: record.outcome))", sourceLocation: sourceLocation)
        return nil
    }
    return message
}

/// Real plugins, real worker processes: each instance runs outside the test
/// process, and whatever it does, the host (this process) carries on.
@Suite struct IsolatedRunTests {
    @Test func theSampleTaskStoresRawContentFromAnotherProcess() async throws {
        let runner = try Fixtures.runner()
        let task = Fixtures.task("SampleBackgroundTask", "BackgroundTasks.SampleBackgroundTask", library: Fixtures.sampleTasks)
        let record = try await runner.run(task, trigger: .rawNotification(Array("hello".utf8)))
        #expect(record.outcome == .completed)
        #expect(record.triggerKind == .pushNotification)
        let pid = try #require(record.pid)
        #expect(pid != getpid())
        #expect(record.hostPid == getpid())
        #expect(try runner.store.setting(app: "com.example.tests", key: "SampleBackgroundTask")?.value == .string("hello"))
        let log = try runner.store.log(instanceId: record.id).map(\.text)
        #expect(log == ["Background SampleBackgroundTask starting...", "Background SampleBackgroundTask completed!"])
        #expect(try runner.store.instance(idPrefix: record.id)?.outcome == .completed)
    }

    @Test func aCrashingTaskIsRecordedAndTheNextRunWorks() async throws {
        let runner = try Fixtures.runner()
        let crashed = try await runner.run(Fixtures.task("Crash", "FaultyTasks.CrashingTask"))
        guard case .crashed(let signal) = crashed.outcome else {
            Issue.record("expected a crash, got \(String(describing: crashed.outcome))")
            return
        }
        #expect(signal == SIGILL || signal == SIGTRAP)
        let log = try runner.store.log(instanceId: crashed.id)
        #expect(log.contains { $0.stream == .task && $0.text == "about to crash" })
        #expect(log.contains { $0.stream == .stderr && $0.text.contains("CrashingTask crashes on purpose") })

        let task = Fixtures.task("SampleBackgroundTask", "BackgroundTasks.SampleBackgroundTask", library: Fixtures.sampleTasks)
        let next = try await runner.run(task, trigger: .rawNotification(Array("after".utf8)))
        #expect(next.outcome == .completed)
    }

    @Test func aTaskThatNeverReturnsIsCanceledThenKilledWithinLimitAndGrace() async throws {
        let runner = try Fixtures.runner()
        let limit = Duration.milliseconds(800)
        let grace = Duration.milliseconds(500)
        let record = try await runner.run(Fixtures.task("Hang", "FaultyTasks.HangingTask", timeLimit: limit, grace: grace))
        #expect(record.outcome == .timedOut)
        let duration = try #require(record.duration)
        #expect(duration >= limit + grace)
        #expect(duration < limit + grace + .seconds(5), "killed promptly once the grace period was over")
        let log = try runner.store.log(instanceId: record.id).map(\.text)
        #expect(log.contains("host: canceling the instance (ExecutionTimeExceeded); grace period 0.5 seconds"))
        #expect(log.contains("host: the grace period is over; killing the instance"))
    }

    @Test func aTaskThatHonoursCancellationEndsCanceled() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.task("Coop", "FaultyTasks.CooperativeTask", timeLimit: .milliseconds(300)))
        #expect(record.outcome == .canceled(.executionTimeExceeded))
        #expect(try runner.store.setting(app: "com.example.tests", key: "CooperativeTask")?.value == "saw ExecutionTimeExceeded")
    }

    @Test func externalCancellationReachesTheTask() async throws {
        let runner = try Fixtures.runner()
        let cancellation = InstanceCancellation()
        async let record = runner.run(Fixtures.task("Coop", "FaultyTasks.CooperativeTask"), cancellation: cancellation)
        try await Task.sleep(for: .milliseconds(300))
        cancellation.cancel(.terminating)
        #expect(try await record.outcome == .canceled(.terminating))
    }

    @Test func externalCancellationOfATaskThatIgnoresItKills() async throws {
        let runner = try Fixtures.runner()
        let cancellation = InstanceCancellation()
        cancellation.cancel(.uninstall)  // before it even started
        let record = try await runner.run(
            Fixtures.task("Hang", "FaultyTasks.HangingTask", grace: .milliseconds(200)), cancellation: cancellation)
        #expect(record.outcome == .killed(.uninstall))
    }

    @Test func aDeferralKeepsTheInstanceAliveUntilCompleted() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.task("DeferralTask", "FaultyTasks.DeferralTask"))
        #expect(record.outcome == .completed)
        #expect(try runner.store.setting(app: "com.example.tests", key: "DeferralTask")?.value == "completed after run returned")
        let log = try runner.store.log(instanceId: record.id).map(\.text)
        #expect(log.firstIndex(of: "run returning with a deferral")! < log.firstIndex(of: "deferral completing")!)
        #expect(log.contains("BackgroundTaskDeferral.complete() called more than once; ignored"))
        #expect(log.last == "still alive", "a second complete() does not end the instance early")
    }

    @Test func aDeferralNeverCompletedEndsAtTheTimeLimit() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(
            Fixtures.task(
                "Forgotten", "FaultyTasks.ForgottenDeferralTask", timeLimit: .milliseconds(300), grace: .milliseconds(200)))
        #expect(record.outcome == .timedOut)
    }

    @Test func asyncTasksGetTheirTriggerArguments() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(
            Fixtures.task("Async", "FaultyTasks.AsyncEchoTask"), trigger: .application(arguments: ["message": "hi there"]))
        #expect(record.outcome == .completed)
        #expect(try runner.store.setting(app: "com.example.tests", key: "AsyncEchoTask")?.value == "hi there")
    }

    @Test func settingsGoThroughTheHostWithEveryType() async throws {
        let runner = try Fixtures.runner()
        let app = "com.example.tests"
        try runner.store.setSetting(app: app, key: "seed", value: "from the CLI")
        let record = try await runner.run(Fixtures.task("Settings", "FaultyTasks.SettingsTask"))
        #expect(record.outcome == .completed)
        #expect(record.progress == 100)
        func value(_ key: String) throws -> SettingValue? { try runner.store.setting(app: app, key: key)?.value }
        #expect(try value("echo") == "seed was from the CLI")
        #expect(try value("count") == .int(42))
        #expect(try value("ratio") == .double(0.5))
        #expect(try value("flag") == .bool(true))
        #expect(try value("id") == .uuid(UUID(uuidString: record.id)!))
        #expect(try value("blob") == .bytes([0, 1, 2, 255]))
        #expect(try value("composite") == .composite(["a": 1, "b": "two"]))
        #expect(try value("triggerId") == .string(record.triggerId))
        #expect(try value("keys") == "blob,composite,count,echo,flag,id,ratio,seed,triggerId")
        #expect(try value("temporary") == nil)
        #expect(try value("too-big") == nil)
        #expect(try value("limit") == .string(SettingsError.valueTooLarge(name: "too-big", size: 8193).description))
    }

    @Test func breakingALimitThroughTheSubscriptStopsTheInstanceAndStoresNothing() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.task("Oversized", "FaultyTasks.OversizedSettingTask"))
        guard case .crashed = record.outcome else {
            Issue.record("expected the instance to be stopped, got \(String(describing: record.outcome))")
            return
        }
        let log = try runner.store.log(instanceId: record.id).map(\.text)
        #expect(log.contains { $0.hasPrefix("LocalSettings: setting name \"kkkk") && $0.hasSuffix("is 300 characters; the limit is 255") })
        #expect(try runner.store.settings(app: "com.example.tests").isEmpty)
    }

    @Test func aThrowingRunFailsWithTheErrorsDescription() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.task("Throw", "FaultyTasks.ThrowingTask"))
        #expect(record.outcome == .failed("the upstream server said no"))
    }

    @Test func exitingFromRunIsNotCompletion() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.task("Exit", "FaultyTasks.ExitingTask"))
        #expect(record.outcome == .exited(code: 3))
    }

    @Test func floodedOutputIsBoundedAndMarked() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.task("Flood", "FaultyTasks.FloodingTask"))
        #expect(record.outcome == .completed)
        let log = try runner.store.log(instanceId: record.id)
        let limits = SupervisionLimits(timeLimit: .seconds(1), gracePeriod: .zero)
        #expect(log.count <= limits.maxLogLines + 2)
        #expect(log.reduce(0) { $0 + $1.text.utf8.count } <= limits.maxLogBytes + 1024)
        let marker = try #require(log.last)
        #expect(marker.stream == .host)
        #expect(marker.text.hasPrefix("host: log truncated: "))
        #expect(log.contains { $0.stream == .stdout } && log.contains { $0.stream == .task } && log.contains { $0.stream == .stderr })
    }

    @Test(arguments: [
        ("FaultyTasks.NotFinalTask", "is not a final class"),
        ("FaultyTasks.NotATask", "is not a BackgroundTask"),
        ("FaultyTasks.Missing", "does not exist as a class"),
    ])
    func unusableEntryPointsAreRefusedWithoutRunning(_ entryPoint: String, _ phrase: String) async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.task("Refused", entryPoint))
        guard let message = refusal(record) else { return }
        #expect(message.hasPrefix("TaskEntryPoint \"\(entryPoint)\" \(phrase)"))
        #expect(message.hasSuffix("(library \(Fixtures.faultyTasks))"))
    }

    @Test func aPluginBuiltDifferentlyIsRefusedWithWhatDiffers() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.task("Mismatch", "X.Y", library: Fixtures.mismatchedPlugin))
        guard let message = refusal(record) else { return }
        #expect(message.contains("plugin was built with ABI version 99, the host needs 1; Swift 5.9, the host runs Swift"))
        #expect(message.contains("rebuild it against this taskhost's BackgroundTaskKit"))
    }

    @Test func aLibraryThatIsNotELFIsRefused() async throws {
        let path = Fixtures.temporaryDirectory() + "/libGarbage.so"
        _ = FileManager.default.createFile(atPath: path, contents: Data("not a library".utf8))
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.task("Garbage", "Garbage.Task", library: path))
        guard let message = refusal(record) else { return }
        #expect(message.hasPrefix("cannot load \(path): "))
    }

    @Test func aMissingWorkerIsAClearRefusal() async throws {
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: Fixtures.temporaryDirectory()))
        let runner = TaskRunner(store: store, workerPath: "/nonexistent/taskhost-worker")
        let record = try await runner.run(Fixtures.task("Crash", "FaultyTasks.CrashingTask"))
        guard let message = refusal(record) else { return }
        #expect(message.hasPrefix("cannot start /nonexistent/taskhost-worker: No such file or directory"))
    }
}

/// A cancel request that reaches the worker together with its start request
/// (one read) must not be lost.
@Suite struct EarlyCancellationTests {
    @Test(arguments: 0..<5)
    func aCancelSentRightAfterStartIsHonoured(_ round: Int) async throws {
        let runner = try Fixtures.runner()
        let cancellation = InstanceCancellation()
        cancellation.cancel(.terminating)
        let record = try await runner.run(
            Fixtures.task("Coop", "FaultyTasks.CooperativeTask", grace: .seconds(10)), cancellation: cancellation)
        #expect(record.outcome == .canceled(.terminating), "round \(round)")
    }
}
