import Foundation
import TaskHostManifest
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostStore

/// What an instance finds in its own process, in the isolation mode the tests
/// run in (`TASKHOST_ISOLATION`): the descriptors and the environment the
/// README promises, and a history that says what the sandbox applied.
@Suite struct IsolationProbeTests {
    let app = "com.example.tests"

    func setting(_ runner: TaskRunner, _ key: String) throws -> String? {
        try runner.store.setting(app: app, key: key)?.value.description
    }

    @Test func onlyTheStandardStreamsAndTheIPCSocketAreOpen() async throws {
        let runner = try Fixtures.runner()
        // Twice: a spawned worker, and (prefork) a zygote's spare as well as its first child.
        for _ in 0..<2 {
            let record = try await runner.run(Fixtures.task("Descriptors", "FaultyTasks.DescriptorProbeTask"))
            #expect(record.outcome == .completed, "\(String(describing: record.outcome))")
            #expect(try setting(runner, "descriptors") == "0,1,2,3")
        }
    }

    @Test func anInstanceSeesItsOwnIdAndNothingOfTheHostsEnvironment() async throws {
        let runner = try Fixtures.runner()
        for _ in 0..<2 {
            let record = try await runner.run(Fixtures.task("Environment", "FaultyTasks.EnvironmentProbeTask"))
            #expect(record.outcome == .completed)
            #expect(try setting(runner, "instance-id") == record.id)
            #expect(try setting(runner, "environment") == "LANG,PATH,TASKHOST_INSTANCE_ID")
            #expect(record.sandbox.hasPrefix("enforced: ") && record.sandbox.contains("environment"), "\(record.sandbox)")
        }
    }

    @Test func theNetworkOfATaskThatDeclaresInternetClientIsReportedAsNotApplied() async throws {
        let runner = try Fixtures.runner()
        var task = Fixtures.task("Online", "FaultyTasks.AsyncEchoTask")
        task.capabilities = [.internetClient]
        let record = try await runner.run(task)
        #expect(record.outcome == .completed)
        let enforced = record.sandbox.split(separator: ";").first.map(String.init) ?? ""
        #expect(!enforced.contains("network"), "\(record.sandbox)")
        #expect(record.sandbox.contains("not applied as declared: network"), "\(record.sandbox)")
        let log = try runner.store.log(instanceId: record.id).map(\.text)
        #expect(log.contains("host: sandbox: network: not applied (the task declares internetClient)"), "\(log)")

        let offline = try await runner.run(Fixtures.task("Offline", "FaultyTasks.AsyncEchoTask"))
        #expect(offline.sandbox.split(separator: ";").first?.contains("network") == true, "\(offline.sandbox)")
    }

    @Test func requireSandboxAcceptsANetworkTheTaskDeclares() async throws {
        var sandbox = SandboxOptions(required: true)
        sandbox.user = geteuid() == 0 ? "nobody" : nil
        let runner = TaskRunner(store: try Fixtures.store(), workerPath: Fixtures.workerPath, sandbox: sandbox)
        var task = Fixtures.task("Online", "FaultyTasks.AsyncEchoTask")
        task.capabilities = [.internetClient]
        let record = try await runner.run(task)
        // Unprivileged, state isolation is missing: refused for that, not for the network.
        if case .refused(let message) = record.outcome {
            #expect(!message.contains("network"), "\(message)")
        } else {
            #expect(record.outcome == .completed)
        }
    }
}
