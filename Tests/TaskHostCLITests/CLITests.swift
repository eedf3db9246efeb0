import Foundation
import TaskHostTestSupport
import Testing

/// The `taskhost` executable as a user runs it: exit statuses, what it
/// prints, and the README's walk-through.
@Suite struct CLITests {
    static let repository = TestSupport.repository
    static let buildDirectory = TestSupport.buildDirectory

    let stateDirectory = NSTemporaryDirectory() + "taskhost-cli-" + UUID().uuidString

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs taskhost in the repository (so ./manifest.json is the sample's).
    func taskhost(_ arguments: [String], interruptAfter: Duration? = nil) throws -> Result {
        let outPath = stateDirectory + ".out-" + UUID().uuidString
        let errPath = outPath + ".err"
        let process = try ChildProcess.start(
            Self.buildDirectory + "/taskhost", arguments: arguments, overrides: ["TASKHOST_STATE_DIR": stateDirectory],
            workingDirectory: Self.repository, output: .file(outPath), error: .file(errPath))
        if let interruptAfter {
            Thread.sleep(forTimeInterval: Double(interruptAfter.components.seconds) + Double(interruptAfter.components.attoseconds) / 1e18)
            process.signal(SIGINT)
        }
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: process.readBlocking(.output),
            stderr: process.readBlocking(.error))
    }

    func writeManifest(_ text: String) throws -> String {
        let path = stateDirectory + "-manifest-" + UUID().uuidString + ".json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func faultyManifest(_ name: String, _ entryPoint: String, extra: String = "") throws -> String {
        try writeManifest(
            """
            {"Identity": {"Name": "com.example.faulty"}, "BackgroundTasks": [
              {"Name": "\(name)", "TaskEntryPoint": "\(entryPoint)", "Library": "\(Self.buildDirectory)/libFaultyTasks.so",
               "Triggers": [{"Type": "Application"}]\(extra)}]}
            """)
    }

    @Test func theReadmeWalkThrough() throws {
        let run = try taskhost(["run", "SampleBackgroundTask", "--raw-content", "hello"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("of SampleBackgroundTask: completed"))
        #expect(run.stderr.contains("Background SampleBackgroundTask starting..."))

        let get = try taskhost(["settings", "get", "SampleBackgroundTask"])
        #expect(get.status == 0)
        #expect(get.stdout == "hello\n")

        let history = try taskhost(["history"])
        #expect(history.status == 0)
        let lines = history.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("INSTANCE  TASK") == true)
        let row = try #require(lines.dropFirst().first).split(separator: " ", omittingEmptySubsequences: true)
        #expect(row[1] == "SampleBackgroundTask")
        #expect(row[2] == "push")
        #expect(row[4] != row[5], "the worker pid differs from the host pid")
        #expect(row.last == "completed")

        let logs = try taskhost(["logs", String(row[0])])
        #expect(logs.status == 0)
        #expect(logs.stdout.contains("Background SampleBackgroundTask completed!"))
    }

    @Test func validateAcceptsTheSampleAndExplainsBrokenManifests() throws {
        let ok = try taskhost(["validate"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("manifest.json: OK (com.example.rawpush, 2 tasks)"))
        #expect(ok.stdout.contains("task PushCounter: C function on_push: int32 (instance, host) in CPushCounter"))
        #expect(ok.stdout.contains("libCPushCounter.so: C symbols on_push\n"))

        let broken = try writeManifest("{\n  \"Identity\": { \"Name\": \"a\" },\n  \"BackgroundTasks\": [1, 2,, 3]\n}")
        let invalid = try taskhost(["validate", "--manifest", broken])
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("\(broken):3:28: invalid JSON: unexpected character ','; expected a value"))

        let notFinal = try taskhost(["validate", "--manifest", try faultyManifest("NotFinal", "FaultyTasks.NotFinalTask")])
        #expect(notFinal.status == 1)
        #expect(
            notFinal.stderr.contains(
                "task \"NotFinal\": TaskEntryPoint \"FaultyTasks.NotFinalTask\" in libFaultyTasks.so is not a final class"))
    }

    @Test func aFailedInstanceExitsNonZeroAndPointsAtItsLog() throws {
        let result = try taskhost(["run", "Crash", "--manifest", try faultyManifest("Crash", "FaultyTasks.CrashingTask"), "--quiet"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("of Crash: crashed (signal"))
        #expect(result.stdout.contains("log: taskhost logs "))
    }

    @Test func ctrlCCancelsTheInstanceWithAbort() throws {
        let manifest = try faultyManifest("Coop", "FaultyTasks.CooperativeTask")
        let result = try taskhost(["run", "Coop", "--manifest", manifest], interruptAfter: .milliseconds(700))
        #expect(result.status == 1)
        #expect(result.stdout.contains("of Coop: canceled (Abort)"))
        #expect(result.stderr.contains("canceled: Abort"))
    }

    @Test func settingsCommandsReadAndWriteTypedValues() throws {
        #expect(try taskhost(["settings", "set", "count", "41", "--type", "int"]).status == 0)
        #expect(try taskhost(["settings", "get", "count", "--type"]).stdout == "int 41\n")
        #expect(try taskhost(["settings", "set", "when", "2026-01-02T03:04:05Z", "--type", "date"]).status == 0)
        let list = try taskhost(["settings", "list"])
        #expect(list.stdout.contains("count  int"))
        #expect(list.stdout.contains("2026-01-02T03:04:05Z"))
        #expect(try taskhost(["settings", "delete", "count"]).status == 0)
        let missing = try taskhost(["settings", "get", "count"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no setting \"count\" in app com.example.rawpush"))
        let bad = try taskhost(["settings", "set", "n", "abc", "--type", "int"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("\"abc\" is not a valid int"))
        let tooBig = try taskhost(["settings", "set", String(repeating: "k", count: 256), "v"])
        #expect(tooBig.status == 1)
        #expect(tooBig.stderr.contains("the limit is 255"))
    }

    @Test func pluginsInspectShowsWhatALibraryExports() throws {
        let inspected = try taskhost(["plugins", "inspect", Self.buildDirectory + "/libBackgroundTasks.so"])
        #expect(inspected.status == 0, "\(inspected.stderr)")
        #expect(inspected.stdout.contains("exports taskhost_plugin_v1: yes"))
        #expect(inspected.stdout.contains("ABI version: 1"))
        #expect(inspected.stdout.contains("build signature: sdk=0.1.0;abi=1;swift="))
        #expect(inspected.stdout.contains("task classes (TaskEntryPoint): BackgroundTasks.SampleBackgroundTask"))
        let mismatched = try taskhost(["plugins", "inspect", Self.buildDirectory + "/libMismatchedPlugin.so"])
        #expect(mismatched.status == 1)
        #expect(mismatched.stdout.contains("ABI version 99, the host needs 1"), "\(mismatched.stdout)")
        let empty = try taskhost(["plugins", "list"])
        #expect(empty.status == 0 && empty.stdout.contains("no plugins in \(stateDirectory)/plugins"), "\(empty.stdout)")
    }

    @Test func mistakesGetClearMessages() throws {
        let unknown = try taskhost(["run", "NoSuchTask"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no task named \"NoSuchTask\"; known tasks: com.example.rawpush/SampleBackgroundTask"))
        let both = try taskhost(["run", "SampleBackgroundTask", "--raw-content", "a", "--raw-file", "b"])
        #expect(both.status != 0)
        #expect(both.stderr.contains("give --raw-content or --raw-file, not both"))
        let noInstance = try taskhost(["logs", "ffffffff"])
        #expect(noInstance.status == 1)
        #expect(noInstance.stderr.contains("no instance \"ffffffff\""))
        let https = try taskhost(["push", "https://push.example.com/push/v1/x", "--content", "x", "--token", "t"])
        #expect(https.status != 0)
        #expect(https.stderr.contains("is not an http:// URI"))
        // Nothing listens on port 1.
        let unreachable = try taskhost(["push", "http://127.0.0.1:1/push/v1/x", "--content", "x", "--token", "t"])
        #expect(unreachable.status == 1)
        #expect(
            unreachable.stderr.contains("cannot connect to 127.0.0.1:1: connection refused (is taskhost serve running?)"),
            "\(unreachable.stderr)")
        #expect(!unreachable.stderr.contains("SingleConnectionFailure"))
    }

    @Test(arguments: [
        [], ["validate"], ["run"], ["settings"], ["settings", "get"], ["settings", "set"], ["settings", "list"],
        ["settings", "delete"], ["history"], ["logs"],
    ])
    func everyCommandHasHelp(_ command: [String]) throws {
        let result = try taskhost(command + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("USAGE: taskhost"))
    }
}
