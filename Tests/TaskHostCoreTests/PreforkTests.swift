import Foundation
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostStore

/// Pre-forked workers: one zygote per library serves every instance, a
/// misbehaving child ends exactly as a spawned worker would, and a zygote
/// that dies is replaced.
@Suite struct PreforkTests {
    func runner(_ isolation: IsolationMode) throws -> TaskRunner {
        TaskRunner(store: try Fixtures.store(), workerPath: Fixtures.workerPath, isolation: isolation)
    }

    @Test func oneZygoteServesEveryInstanceOfALibrary() async throws {
        let runner = try runner(.prefork)
        var pids: Set<Int32> = []
        for index in 0..<4 {
            let record = try await runner.run(Fixtures.task("Echo\(index)", "FaultyTasks.AsyncEchoTask"))
            #expect(record.outcome == .completed)
            pids.insert(try #require(record.pid))
        }
        #expect(pids.count == 4, "a fresh process per instance")
        #expect(runner.zygoteCount == 1)
        let zygote = try #require(runner.zygotePids.first)
        #expect(!pids.contains(zygote), "the zygote itself never runs a task")
        let record = try await runner.run(Fixtures.task("Sample", "BackgroundTasks.SampleBackgroundTask", library: Fixtures.sampleTasks))
        #expect(record.outcome == .completed)
        #expect(runner.zygoteCount == 2, "one zygote per library")
    }

    /// The worker and the SDK use FoundationEssentials, not Foundation: a
    /// plugin that does not import Foundation itself gets a zygote, and so
    /// children, without libFoundation and ICU mapped (6 MB less resident
    /// per plugin library).
    @Test func aZygoteOfAPluginWithoutFoundationMapsNoFoundation() async throws {
        let runner = try runner(.prefork)
        let record = try await runner.run(Fixtures.task("Sample", "BackgroundTasks.SampleBackgroundTask", library: Fixtures.sampleTasks))
        #expect(record.outcome == .completed)
        let zygote = try #require(runner.zygotePids.first)
        let maps = try #require(FileHandle(forReadingAtPath: "/proc/\(zygote)/maps")).readDataToEndOfFile()
        let libraries = Set(
            String(decoding: maps, as: UTF8.self).split(separator: "\n").compactMap { line in
                line.split(separator: " ", omittingEmptySubsequences: true).last.flatMap { $0.split(separator: "/").last.map(String.init) }
            })
        #expect(libraries.contains("libBackgroundTasks.so"), "the zygote loaded the sample plugin: \(libraries.sorted())")
        #expect(libraries.contains("libFoundationEssentials.so"))
        #expect(!libraries.contains("libFoundation.so"), "\(libraries.sorted())")
        #expect(!libraries.contains("lib_FoundationICU.so"), "\(libraries.sorted())")
    }

    @Test func concurrentFirstInstancesStartOneZygote() async throws {
        let runner = try runner(.prefork)
        let outcomes = try await withThrowingTaskGroup(of: InstanceOutcome?.self) { group in
            for index in 0..<6 {
                group.addTask { try await runner.run(Fixtures.task("Echo\(index)", "FaultyTasks.AsyncEchoTask")).outcome }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { $0 == .completed })
        #expect(runner.zygoteCount == 1, "a burst does not start several zygotes, nor count them as deaths")
        // Later instances are forked by it.
        let pid = try #require(runner.zygotePids.first)
        #expect(try await runner.run(Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask")).outcome == .completed)
        #expect(runner.zygotePids == [pid])
        // The burst was one start, not several deaths: a zygote that dies now is restarted.
        kill(pid, SIGKILL)
        #expect(try await runner.run(Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask")).outcome == .completed)
        // (That instance may have used the spare the dead zygote forked; its successor starts in the background.)
        #expect(await TestSupport.eventually { runner.zygoteCount == 1 && runner.zygotePids != [pid] })
        #expect(try await runner.run(Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask")).outcome == .completed)
    }

    @Test func aForkedInstanceIsSandboxedLikeASpawnedOne() async throws {
        let spawned = try await runner(.spawn).run(Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask"))
        let forked = try await runner(.prefork).run(Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask"))
        /// The enforced and the missing layers, each as a set of names.
        func layers(_ record: InstanceRecord) -> [Set<String>] {
            record.sandbox.components(separatedBy: "; ").map { part in
                Set(part.components(separatedBy: ": ").last!.components(separatedBy: ", "))
            }
        }
        #expect(
            layers(spawned).first?.isSuperset(of: ["rlimits", "seccomp", "no-new-privs", "working-directory"]) == true, "\(spawned.sandbox)"
        )
        #expect(layers(forked) == layers(spawned), "prefork: \(forked.sandbox); spawn: \(spawned.sandbox)")
    }

    @Test(arguments: [
        "FaultyTasks.SegfaultTask", "FaultyTasks.AbortTask", "FaultyTasks.CrashingTask", "FaultyTasks.ExitingTask",
        "FaultyTasks.ThrowingTask", "FaultyTasks.ClosesIPCSocketTask", "FaultyTasks.GarbageFramesTask", "FaultyTasks.HangingTask",
    ])
    func aMisbehavingChildEndsAsASpawnedWorkerWould(_ entryPoint: String) async throws {
        var outcomes: [IsolationMode: InstanceOutcome] = [:]
        for isolation in IsolationMode.allCases {
            let runner = try runner(isolation)
            // Only the hanging task needs its time limit to end; the others end
            // by themselves, and a short limit could end a worker still
            // starting on a loaded machine (a spawned one loads the Swift runtime).
            let limit: Duration = entryPoint == "FaultyTasks.HangingTask" ? .milliseconds(800) : .seconds(30)
            let task = Fixtures.task("Hostile", entryPoint, timeLimit: limit, grace: .milliseconds(200))
            outcomes[isolation] = try await runner.run(task).outcome
            // The zygote survives its child: the next instance runs normally.
            let next = try await runner.run(Fixtures.task("Next", "FaultyTasks.AsyncEchoTask"))
            #expect(
                next.outcome == .completed,
                "\(String(describing: next.outcome)) \(isolation) log: \((try? runner.store.log(instanceId: next.id).map(\.text)) ?? [])")
            if isolation == .prefork { #expect(runner.zygoteCount == 1) }
        }
        #expect(
            outcomes[.prefork] == outcomes[.spawn],
            "\(entryPoint): prefork \(String(describing: outcomes[.prefork])), spawn \(String(describing: outcomes[.spawn]))")
    }

    @Test func aZygoteThatDiesIsReplaced() async throws {
        let runner = try runner(.prefork)
        #expect(try await runner.run(Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask")).outcome == .completed)
        let first = try #require(runner.zygotePids.first)
        kill(first, SIGKILL)
        #expect(try await runner.run(Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask")).outcome == .completed)
        // That instance may have used the spare the dead zygote forked; its successor starts in the background.
        #expect(await TestSupport.eventually { runner.zygotePids.count == 1 && runner.zygotePids != [first] })
        #expect(try await runner.run(Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask")).outcome == .completed)
    }

    @Test func theZygoteOfAReplacedLibraryIsRetired() async throws {
        let runner = try runner(.prefork)
        #expect(try await runner.run(Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask")).outcome == .completed)
        runner.retireZygotes(keeping: [Fixtures.faultyTasks])
        #expect(runner.zygoteCount == 1, "still in use")
        let zygote = try #require(runner.zygotePids.first)
        runner.retireZygotes(keeping: [])
        #expect(runner.zygoteCount == 0)
        #expect(kill(zygote, 0) != 0, "the retired zygote is gone (and reaped)")
        #expect(try await runner.run(Fixtures.task("Echo", "FaultyTasks.AsyncEchoTask")).outcome == .completed)
    }

    @Test func cancellationReachesAForkedChild() async throws {
        let runner = try runner(.prefork)
        let cancellation = InstanceCancellation()
        // A time limit no loaded machine reaches: the instance must still be running when its pid is read.
        let task = Fixtures.task("Cooperative", "FaultyTasks.CooperativeTask", timeLimit: .seconds(600))
        async let record = runner.run(task, cancellation: cancellation)
        #expect(try await Fixtures.eventually { try runner.store.instances(task: "Cooperative", limit: 1).first?.pid != nil })
        // The forked worker is the host's own child (CLONE_PARENT, or reparented), not the zygote's.
        let running = try #require(try runner.store.instances(task: "Cooperative", limit: 1).first?.pid)
        let status = try String(contentsOfFile: "/proc/\(running)/status", encoding: .utf8)
        #expect(status.split(separator: "\n").contains("PPid:\t\(getpid())"), "\(status.prefix(400))")
        try await Task.sleep(for: .milliseconds(200))  // let it reach its wait
        cancellation.cancel(.abort)
        #expect(try await record.outcome == .canceled(.abort))
    }

    @Test func aLibraryThatCannotLoadIsRefusedAsInSpawnMode() async throws {
        let runner = try runner(.prefork)
        let record = try await runner.run(Fixtures.task("Old", "Old.Task", library: Fixtures.mismatchedPlugin))
        guard case .refused(let message) = record.outcome else {
            Issue.record("expected a refusal, got \(String(describing: record.outcome))")
            return
        }
        #expect(message.contains("ABI version 99"))
        #expect(runner.zygoteCount == 0)
    }
}
