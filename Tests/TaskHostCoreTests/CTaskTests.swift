import CTaskHostABI
import Foundation
import TaskHostIPC
import TaskHostShared
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostManifest
@testable import TaskHostPlugins
@testable import TaskHostStore

/// C tasks (`"Abi": "c"`): plain C functions called through libffi in a worker
/// process, with the host's callbacks handed over as libffi closures.
@Suite struct CTaskTests {
    let app = "com.example.tests"

    @Test func thePushCounterCountsPushesAndKeepsTheLastPayload() async throws {
        let runner = try Fixtures.runner()
        let task = Fixtures.cTask("PushCounter", "on_push", library: Fixtures.cPushCounter, triggers: [.pushNotification])
        let first = try await runner.run(task, trigger: .rawNotification(Array("hello".utf8)))
        #expect(first.outcome == .completed)
        #expect(first.progress == 100)
        #expect(try #require(first.pid) != getpid())
        #expect(try runner.store.setting(app: app, key: "PushCount")?.value == .int(1))

        let second = try await runner.run(task, trigger: .rawNotification(Array("wörld".utf8)))
        #expect(second.outcome == .completed)
        #expect(try runner.store.setting(app: app, key: "PushCount")?.value == .int(2))
        #expect(try runner.store.setting(app: app, key: "LastPayload")?.value == .string("wörld"))
        let log = try runner.store.log(instanceId: second.id).map(\.text)
        #expect(log == ["Background PushCounter starting (attempt 1): wörld", "Background PushCounter completed: 2 pushes"])
    }

    @Test func everyHostCallbackAnswersAsTheHeaderSays() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.cTask("Probe", "probe_host"))
        #expect(record.outcome == .completed)
        #expect(record.progress == 42)
        let report = try runner.store.setting(app: app, key: "report")?.value
        #expect(
            report
                == .string(
                    "set=0 too_small=\(TH_BUFFER_TOO_SMALL.rawValue) small_length=6 get=0 length=6 value=héllo wrong=\(TH_WRONG_TYPE.rawValue) "
                        + "raw=0 raw_length=7 tag=1 set_int=0 get_int=0 number=-42 wrong_string=\(TH_WRONG_TYPE.rawValue) "
                        + "bad=\(TH_INVALID_ARGUMENT.rawValue) raw_set=0 deleted=0 deleted_again=\(TH_NOT_FOUND.rawValue) "
                        + "missing=\(TH_NOT_FOUND.rawValue) canceled=0"))
        #expect(try runner.store.setting(app: app, key: "n")?.value == .int(-42))
        #expect(try runner.store.setting(app: app, key: "flag")?.value == .bool(true), "raw SettingValue encodings pass through")
        #expect(try runner.store.setting(app: app, key: "s") == nil, "deleted")
        #expect(try runner.store.setting(app: app, key: "bad") == nil, "a malformed encoding is refused")
        let log = try runner.store.log(instanceId: record.id).map(\.text)
        #expect(log.contains("probe done"))
        #expect(log.contains { $0.hasPrefix("host: refused setting \"bad\"") })
    }

    @Test func aNonzeroReturnIsAFailureWithTheCode() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.cTask("Fails", "fails_with_3"))
        #expect(record.outcome == .failed("fails_with_3 returned 3"))
        #expect(try runner.store.log(instanceId: record.id).map(\.text).contains("failing on purpose"))
    }

    @Test func thePayloadCanComeFirstInTheSignature() async throws {
        let runner = try Fixtures.runner()
        let task = Fixtures.cTask(
            "Store", "store_payload", signature: try CSignature(parsing: "int32 (payload, host)"), triggers: [.pushNotification])
        let record = try await runner.run(task, trigger: .rawNotification(Array("raw bytes ✓".utf8)))
        #expect(record.outcome == .completed)
        #expect(try runner.store.setting(app: app, key: "payload")?.value == .string("raw bytes ✓"))
    }

    @Test func aVoidFunctionGetsTheInstanceAfterTheHost() async throws {
        let runner = try Fixtures.runner()
        let task = Fixtures.cTask("Note", "note_trigger", signature: try CSignature(parsing: "void (host, instance)"))
        let record = try await runner.run(task, trigger: .application(arguments: ["message": "hi there", "other": "x"]))
        #expect(record.outcome == .completed)
        #expect(
            try runner.store.setting(app: app, key: "trigger")?.value
                == .string("kind=\(TH_TRIGGER_APPLICATION.rawValue) attempt=1 size=1 task=Note message=hi there"))
    }

    @Test func aSettingsWriteRefusedForItsSizeSaysWhichLimitInTheLog() async throws {
        let runner = try Fixtures.runner()
        let task = Fixtures.cTask("Big", "set_oversized", signature: try CSignature(parsing: "int32 (host)"))
        let record = try await runner.run(task)
        #expect(record.outcome == .completed)
        #expect(try runner.store.setting(app: app, key: "status")?.value == .string("\(TH_INVALID_ARGUMENT.rawValue)"))
        #expect(try runner.store.setting(app: app, key: "big") == nil)
        let log = try runner.store.log(instanceId: record.id).map(\.text)
        #expect(log.contains { $0.contains("refused setting \"big\"") && $0.contains("the limit is 131072 bytes") }, "\(log)")
    }

    @Test func cancellationIsCooperative() async throws {
        let runner = try Fixtures.runner()
        let task = Fixtures.cTask(
            "Wait", "wait_for_cancel", signature: try CSignature(parsing: "int32 (host)"), timeLimit: .milliseconds(300))
        let record = try await runner.run(task)
        #expect(record.outcome == .canceled(.executionTimeExceeded))
        #expect(try runner.store.setting(app: app, key: "cancel")?.value == .string("saw cancel"))
    }

    @Test func aCancelSentBeforeTheCallIsSeenAtOnce() async throws {
        let runner = try Fixtures.runner()
        let cancellation = InstanceCancellation()
        cancellation.cancel(.uninstall)
        let record = try await runner.run(
            Fixtures.cTask("Wait", "wait_for_cancel", signature: try CSignature(parsing: "int32 (host)")), cancellation: cancellation)
        #expect(record.outcome == .canceled(.uninstall))
    }

    @Test func aCTaskThatIgnoresCancellationIsKilledAfterTheGracePeriod() async throws {
        let runner = try Fixtures.runner()
        let limit = Duration.milliseconds(300)
        let grace = Duration.milliseconds(300)
        let record = try await runner.run(
            Fixtures.cTask(
                "Hang", "never_returns", signature: try CSignature(parsing: "int32 ()"), timeLimit: limit, grace: grace))
        #expect(record.outcome == .timedOut)
        #expect(try #require(record.duration) >= limit + grace)
        #expect(try runner.store.log(instanceId: record.id).map(\.text).contains("host: the grace period is over; killing the instance"))
    }

    @Test func aMissingSymbolIsRefusedAtRunTime() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.cTask("Nope", "no_such_function"))
        let message = try #require(refusal(record))
        #expect(message.hasPrefix("symbol \"no_such_function\" not found in libCFaultyTasks.so; export it from the library"))
    }

    @Test func theCheckerFindsMissingSymbolsAndNeedsNoDescriptorForCLibraries() throws {
        let checker = ManifestChecker(
            resolver: LibraryResolver(searchPaths: [Fixtures.buildDirectory]),
            inspector: PluginInspector(workerPath: Fixtures.workerPath))
        let text = """
            {"Identity": {"Name": "a"}, "BackgroundTasks": [
              {"Name": "Counter", "Abi": "c", "Symbol": "on_push", "Library": "CPushCounter", "Triggers": [{"Type": "Application"}]},
              {"Name": "Missing", "Abi": "c", "Symbol": "on_pull", "Library": "CPushCounter", "Triggers": [{"Type": "Application"}]},
              {"Name": "Probe", "Abi": "c", "Symbol": "probe_host", "Library": "CFaultyTasks", "Triggers": [{"Type": "Application"}]},
              {"Name": "Sample", "TaskEntryPoint": "BackgroundTasks.SampleBackgroundTask", "Triggers": [{"Type": "Application"}]}
            ]}
            """
        let manifest = try AppManifest.parse(Array(text.utf8), path: Fixtures.temporaryDirectory() + "/manifest.json")
        let (problems, inspections) = checker.check(manifest)
        #expect(problems.count == 1)
        #expect(problems.first?.position?.line == 3)
        #expect(
            problems.first?.description.hasPrefix(
                "task \"Missing\": Symbol \"on_pull\" not found in libCPushCounter.so; export it from the library") == true)
        let counter = try #require(inspections.first { $0.libraryPath.hasSuffix("libCPushCounter.so") })
        #expect(!counter.hasDescriptor)
        #expect(counter.symbols.map(\.entryPoint) == ["on_push", "on_pull"])
        #expect(inspections.contains { $0.libraryPath.hasSuffix("libBackgroundTasks.so") && $0.hasDescriptor })
    }

    @Test func aSwiftTaskStillNeedsTheDescriptor() async throws {
        let runner = try Fixtures.runner()
        let record = try await runner.run(Fixtures.task("NotSwift", "CPushCounter.Counter", library: Fixtures.cPushCounter))
        #expect(try #require(refusal(record)).contains("is not a taskhost plugin: it does not export taskhost_plugin_v1"))
    }
}
