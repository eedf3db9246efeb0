import Foundation
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

/// What an operator sees of a task's progress while it runs: `taskhost run`
/// prints it (plain lines when standard output is not a terminal), and
/// `taskhost history --follow` streams it with the outcomes. The task holds
/// at 60 until the test writes the setting `release`, so "while it runs"
/// needs no timing (the waits are long and end as soon as what they wait
/// for is there: a loaded machine can starve the test's own tasks for a while).
@Suite struct LiveProgressCLITests {
    let state = TestSupport.temporaryDirectory()
    let here = TestSupport.temporaryDirectory()
    let app = "com.example.progress"

    var store: SQLiteTaskStore { get throws { try SQLiteTaskStore(stateDirectory: StateDirectory(path: state)) } }

    init() throws {
        try """
        {"Identity": {"Name": "\(app)"}, "BackgroundTasks": [
          {"Name": "Progress", "TaskEntryPoint": "FaultyTasks.ProgressTask", "Library": "\(TestSupport.faultyTasks)",
           "Triggers": [{"Type": "Application"}], "TimeLimitSeconds": 300}]}
        """.write(toFile: here + "/manifest.json", atomically: true, encoding: .utf8)
    }

    /// Starts `taskhost arguments` in the test's directory, its output in pipes.
    func start(_ arguments: [String]) throws -> ChildProcess {
        let process = TaskHostCommand.start(arguments, in: here, stateDirectory: state)
        process.standardOutputDestination = .pipe
        process.standardErrorDestination = .pipe
        try process.run()
        return process
    }

    func release() throws {
        try store.setSetting(app: app, key: "release", value: .bool(true))
    }

    @Test func runPrintsPlainProgressLinesWhenStandardOutputIsNotATerminal() async throws {
        let run = try start(["run", "Progress"])
        let midRun = await TestSupport.eventually(timeout: .seconds(120)) { run.readSoFar(.output).contains("progress 60%\n") }
        let soFar = run.readSoFar(.output)
        try release()
        let termination = await run.waitForExit()
        let output = await run.read(.output)
        let errors = await run.read(.error)

        #expect(midRun, "progress 60% printed while the task waited: \(soFar); log: \(run.readSoFar(.error))")
        #expect(!soFar.contains("instance "), "the outcome was not there yet: \(soFar)")
        #expect(termination == .exited(0), "\(errors)")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(3)) == ["progress 25%", "progress 60%", "progress 100%"], "\(output)")
        #expect(lines.dropFirst(3).first?.hasPrefix("instance ") == true, "then the outcome: \(output)")
        #expect(!output.contains("\u{1B}") && !output.contains("\r"), "no bar, no escape sequences off a terminal")
        #expect(errors.contains("at 60, waiting for the setting release"), "the log still goes to standard error")
    }

    @Test func runShowsNoProgressWithProgressNone() async throws {
        try release()  // the task does not wait
        let result = try TaskHostCommand.run(["run", "Progress", "--progress", "none"], in: here, stateDirectory: state)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains("progress"), "\(result.stdout)")
        #expect(result.stdout.hasPrefix("instance "), "\(result.stdout)")
    }

    @Test func runDrawsABarWhenAskedTo() async throws {
        try release()
        let result = try TaskHostCommand.run(["run", "Progress", "--progress", "bar"], in: here, stateDirectory: state)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout.contains("\r\u{1B}[2K  [" + String(repeating: "#", count: 30) + "] 100%\n"), "\(result.stdout.debugDescription)")
        #expect(result.stdout.contains("] 25%"), "\(result.stdout.debugDescription)")
    }

    @Test func historyFollowStreamsProgressThenTheOutcome() async throws {
        _ = try store  // the state directory exists before both commands open it
        let follow = try start(["history", "--follow"])
        #expect(await TestSupport.eventually { follow.readSoFar(.output).hasPrefix("INSTANCE") })
        let run = try start(["run", "Progress", "--quiet"])
        let sawProgress = await TestSupport.eventually(timeout: .seconds(120)) {
            follow.readSoFar(.output).split(separator: "\n").contains { $0.contains("Progress") && $0.hasSuffix("running 60%") }
        }
        try release()
        #expect(await run.waitForExit() == .exited(0))
        let ran = await run.read(.output)
        let id = try #require(ran.split(separator: "\n").first { $0.hasPrefix("instance ") }?.split(separator: " ").dropFirst().first)
        let ended = await TestSupport.eventually {
            follow.readSoFar(.output).split(separator: "\n").contains { $0.hasPrefix(id.prefix(8)) && $0.hasSuffix("completed") }
        }
        _ = follow.signal(SIGTERM)
        _ = await follow.waitForExit()
        let lines = await follow.read(.output).split(separator: "\n").filter { $0.hasPrefix(id.prefix(8)) }

        #expect(sawProgress, "a line with the progress while the instance ran: \(lines)")
        #expect(ended, "then its outcome: \(lines)")
        #expect(lines.last?.hasSuffix("completed") == true, "\(lines)")
        #expect(lines.filter { $0.hasSuffix("completed") }.count == 1, "the outcome once: \(lines)")
        #expect(Set(lines).count == lines.count, "no line repeated: \(lines)")
    }
}
