import CTaskHostABI
import Foundation
import TaskHostIPC
import TaskHostTestSupport
import Testing

@testable import TaskHostCore
@testable import TaskHostIsolation
@testable import TaskHostManifest
@testable import TaskHostPlugins
@testable import TaskHostStore

/// Manifest checks that load the libraries, in a scanner process.
@Suite struct PluginInspectorTests {
    let checker = ManifestChecker(
        resolver: LibraryResolver(searchPaths: [Fixtures.buildDirectory]),
        inspector: PluginInspector(workerPath: Fixtures.workerPath))

    func manifest(_ tasks: [(String, String, String)]) throws -> AppManifest {
        let entries = tasks.map { name, entryPoint, library in
            "{\"Name\": \"\(name)\", \"TaskEntryPoint\": \"\(entryPoint)\", \"Library\": \"\(library)\", \"Triggers\": [{\"Type\": \"Application\"}]}"
        }
        let text = "{\"Identity\": {\"Name\": \"a\"}, \"BackgroundTasks\": [\n" + entries.joined(separator: ",\n") + "\n]}"
        return try AppManifest.parse(Array(text.utf8), path: Fixtures.temporaryDirectory() + "/manifest.json")
    }

    @Test func theSampleManifestPasses() throws {
        let (problems, inspections) = checker.check(
            try manifest([
                ("SampleBackgroundTask", "BackgroundTasks.SampleBackgroundTask", "BackgroundTasks"),
                ("Async", "FaultyTasks.AsyncEchoTask", "FaultyTasks"),
            ]))
        #expect(problems.isEmpty)
        #expect(inspections.count == 2)
        #expect(inspections[0].abiVersion == TH_ABI_VERSION)
        #expect(inspections[0].buildSignature.hasPrefix("sdk=0.1.0;abi=1;swift="))
    }

    @Test func eachUnusableEntryPointGetsItsOwnMessage() throws {
        let (problems, _) = checker.check(
            try manifest([
                ("NotFinal", "FaultyTasks.NotFinalTask", "FaultyTasks"),
                ("NotATask", "FaultyTasks.NotATask", "FaultyTasks"),
                ("Missing", "FaultyTasks.Missing", "FaultyTasks"),
                ("Fine", "FaultyTasks.CrashingTask", "FaultyTasks"),
            ]))
        #expect(
            problems.map(\.description) == [
                "task \"NotFinal\": TaskEntryPoint \"FaultyTasks.NotFinalTask\" in libFaultyTasks.so is not a final class (declare it as `public final class`, Swift's spelling of Windows' sealed)",
                "task \"NotATask\": TaskEntryPoint \"FaultyTasks.NotATask\" in libFaultyTasks.so is not a BackgroundTask (the class must conform to BackgroundTask or AsyncBackgroundTask)",
                "task \"Missing\": TaskEntryPoint \"FaultyTasks.Missing\" in libFaultyTasks.so does not exist as a class (is it a public class, and is its module name right?)",
            ])
        #expect(problems.map { $0.position?.line } == [2, 3, 4])
    }

    @Test func missingAndBrokenLibrariesAreReported() throws {
        let garbage = Fixtures.temporaryDirectory() + "/libGarbage.so"
        _ = FileManager.default.createFile(atPath: garbage, contents: Data("nope".utf8))
        let (problems, _) = checker.check(
            try manifest([
                ("Nowhere", "Nowhere.Task", "Nowhere"),
                ("Garbage", "Garbage.Task", garbage),
                ("Mismatch", "X.Y", "MismatchedPlugin"),
            ]))
        #expect(problems.count == 3)
        #expect(problems[0].description.hasPrefix("task \"Nowhere\": Library \"Nowhere\" not found; looked for "))
        #expect(problems[1].description.hasPrefix("task \"Garbage\": Library libGarbage.so: cannot load \(garbage): "))
        #expect(
            problems[2].description.hasPrefix(
                "task \"Mismatch\": Library libMismatchedPlugin.so: plugin was built with ABI version 99, the host needs 1"))
    }

    @Test func inspectionReportsWhatALibraryIs() throws {
        let inspection = try PluginInspector(workerPath: Fixtures.workerPath)
            .inspect(libraryPath: Fixtures.faultyTasks, entryPoints: ["FaultyTasks.CrashingTask", "FaultyTasks.StructTask"]).get()
        #expect(inspection.sdkVersion == "0.1.0")
        #expect(inspection.entryPoints.map(\.code) == [TH_CHECK_OK.rawValue, TH_CHECK_NOT_FOUND.rawValue])
    }

    @Test func aLibraryWhoseLoadTimeCodeHangsIsStoppedByTheScannersTimeLimit() throws {
        let inspector = PluginInspector(workerPath: Fixtures.workerPath, timeLimit: .milliseconds(700))
        let started = ContinuousClock.now
        let result = inspector.inspect(libraryPath: Fixtures.hangingConstructor, entryPoints: ["Hang.Task"])
        guard case .failure(let error) = result else {
            Issue.record("expected a failure, got \(result)")
            return
        }
        #expect(error.reason.contains("did not finish loading within 0.7 seconds"), "\(error.reason)")
        #expect(error.code == .timedOut)
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func aLibraryWhoseLoadTimeCodeCrashesIsReportedNotFatal() throws {
        let result = PluginInspector(workerPath: Fixtures.workerPath).inspect(libraryPath: Fixtures.crashingConstructor, entryPoints: [])
        guard case .failure(let error) = result else {
            Issue.record("expected a failure, got \(result)")
            return
        }
        #expect(error.reason.contains("crashed the scanner while loading (signal 11, SIGSEGV)"), "\(error.reason)")
        #expect(error.code == .crashed)
    }
}
