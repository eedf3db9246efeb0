import Foundation
import TaskHostCore
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

/// Messages and output that used to mislead: unknown apps, options every
/// command takes, libraries of a plugin package, signals, cut errors.
@Suite struct CLIMessagesTests {
    let state = TestSupport.temporaryDirectory()
    let here = TestSupport.temporaryDirectory()

    var store: SQLiteTaskStore { get throws { try SQLiteTaskStore(stateDirectory: StateDirectory(path: state)) } }

    func taskhost(_ arguments: String..., in directory: String? = nil) throws -> TaskHostCommand.Result {
        try TaskHostCommand.run(arguments, in: directory ?? here, stateDirectory: state)
    }

    @Test func anUnknownAppIsAnErrorNamingTheKnownOnes() throws {
        try store.setSetting(app: "com.example.known", key: "k", value: .string("v"))
        let unknown = try taskhost("settings", "list", "--app", "nosuch")
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no app named \"nosuch\"; known apps: com.example.known"), "\(unknown.stderr)")
        let known = try taskhost("settings", "list", "--app", "com.example.known")
        #expect(known.status == 0 && known.stdout.contains("k "), "\(known.stderr)")
    }

    /// Writing commands may name an app before anything of it is here (a
    /// token made before the first channel, a setting seeded before the first
    /// run): they say the app is new and go on.
    @Test func aCommandThatWritesMayNameANewApp() throws {
        let seeded = try taskhost("settings", "set", "greeting", "hi", "--app", "com.example.new")
        #expect(seeded.status == 0, "\(seeded.stderr)")
        #expect(seeded.stderr.contains("no app named \"com.example.new\""), "\(seeded.stderr)")
        let read = try taskhost("settings", "get", "greeting", "--app", "com.example.new")
        #expect(read.status == 0 && read.stdout.contains("hi"), "\(read.stderr)")
        let token = try taskhost("credentials", "create", "--app", "com.example.other")
        #expect(token.status == 0 && !token.stdout.isEmpty, "\(token.stderr)")
        let list = try taskhost("credentials", "list")
        #expect(list.stdout.contains("com.example.other"), "\(list.stdout)")
    }

    @Test func validateAndPluginsInspectAcceptStateDir() throws {
        let validate = try taskhost("validate", "--no-load", "--state-dir", state, in: TestSupport.repository)
        #expect(validate.status == 0, "\(validate.stderr)")
        let inspect = try taskhost("plugins", "inspect", TestSupport.sampleTasks, "--state-dir", state)
        #expect(inspect.status == 0, "\(inspect.stderr)")
    }

    /// A plugin package right after `swift build`: its library is in .build/debug.
    func writePackage() throws {
        try """
        {"Identity": {"Name": "com.example.fresh"}, "BackgroundTasks": [
          {"Name": "Fresh", "TaskEntryPoint": "BackgroundTasks.SampleBackgroundTask", "Library": "Fresh",
           "Triggers": [{"Type": "Application"}]}]}
        """.write(toFile: here + "/manifest.json", atomically: true, encoding: .utf8)
    }

    @Test func pluginsValidateFindsAFreshBuildAndSaysWhereItLooked() throws {
        try writePackage()
        let missing = try taskhost("plugins", "validate", ".")
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("\(here)/.build/debug/libFresh.so, \(here)/.build/release/libFresh.so"), "\(missing.stderr)")

        let elsewhere = TestSupport.temporaryDirectory()
        try FileManager.default.copyItem(atPath: TestSupport.sampleTasks, toPath: elsewhere + "/libFresh.so")
        let withPath = try taskhost("plugins", "validate", ".", "--library-path", elsewhere)
        #expect(withPath.status == 0, "\(withPath.stderr)")
        #expect(withPath.stdout.contains("note: task Fresh: its library is \(elsewhere)/libFresh.so"), "\(withPath.stdout)")

        try FileManager.default.createDirectory(atPath: here + "/.build/debug", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestSupport.sampleTasks, toPath: here + "/.build/debug/libFresh.so")
        let built = try taskhost("plugins", "validate", ".")
        #expect(built.status == 0, "\(built.stderr)")
        #expect(built.stdout.contains("its library is \(here)/.build/debug/libFresh.so"), "\(built.stdout)")
    }

    /// The README installs a plugin into `$(taskhost plugins dir)`: the
    /// plugins directory of the state directory in effect, however it was chosen.
    @Test func pluginsDirNamesThePluginsDirectoryOfTheStateDirectory() throws {
        let byOption = try taskhost("plugins", "dir")
        #expect(byOption.status == 0)
        #expect(byOption.stdout == state + "/plugins\n", "\(byOption.stdout)")
        let process = try ChildProcess.start(
            TestSupport.taskhostPath, arguments: ["plugins", "dir"],
            environment: ["TASKHOST_STATE_DIR": here, "PATH": "/usr/bin:/bin"], output: .pipe)
        let printed = process.readBlocking(.output)
        process.waitUntilExit()
        #expect(printed == here + "/plugins\n", "\(printed)")
    }

    /// `plugins validate .` in a package that is installed under its own
    /// folder's name is the same plugin, not one that takes its identity.
    @Test func pluginsValidateDotKnowsTheFoldersName() throws {
        try writePackage()
        try FileManager.default.createDirectory(atPath: here + "/.build/debug", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestSupport.sampleTasks, toPath: here + "/.build/debug/libFresh.so")
        func install(as name: String) throws {
            try store.savePlugin(
                PluginRecord(
                    name: name, identity: "com.example.fresh", version: nil, state: .active, reason: nil, fingerprint: "f",
                    stagedPath: state + "/plugin-versions/" + name, tasks: ["Fresh"], updatedAt: Date()))
        }
        let folderName = URL(fileURLWithPath: here).lastPathComponent
        try install(as: folderName)
        for spelling in [".", "./", here] {
            let same = try taskhost("plugins", "validate", spelling)
            #expect(same.status == 0, "\(spelling): \(same.stderr)")
        }
        try store.deletePlugin(name: folderName)
        try install(as: "Other")
        let taken = try taskhost("plugins", "validate", ".")
        #expect(taken.status == 1)
        #expect(taken.stderr.contains("is already used by the plugin folder \"Other\""), "\(taken.stderr)")
        #expect(taken.stderr.contains("dropped in as \"\(folderName)\" it would be quarantined"), "\(taken.stderr)")
    }

    func instance(_ task: String, _ outcome: InstanceOutcome?, startedAt: Date) throws -> InstanceRecord {
        let record = InstanceRecord(
            id: UUID().uuidString.lowercased(), app: "com.example.old", task: task, triggerKind: .application, triggerId: "t",
            attempt: 1, pid: 1, hostPid: getpid(), startedAt: startedAt, endedAt: outcome == nil ? nil : startedAt.addingTimeInterval(0.1),
            outcome: outcome)
        try store.insertInstance(record)
        return record
    }

    /// What a plugin or a push wrote reaches the operator's terminal escaped:
    /// no escape sequence, no broken table row.
    @Test func pluginTextIsPrintedEscaped() throws {
        let hostile = "red\u{1B}[31m\nforged row\u{202E}txt"
        try store.setSetting(app: "com.example.old", key: "k", value: .string(hostile))
        let listed = try taskhost("settings", "list", "--app", "com.example.old")
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(!listed.stdout.contains("\u{1B}") && !listed.stdout.contains("\u{202E}"), "\(listed.stdout)")
        #expect(listed.stdout.contains("red\\u{1B}[31m\\nforged row\\u{202E}txt"), "\(listed.stdout)")
        #expect(listed.stdout.split(separator: "\n").count == 2, "one header, one row: \(listed.stdout)")
        let record = try instance("Loud", .failed("boom\u{1B}[2J"), startedAt: Date())
        try store.appendLog(instanceId: record.id, lines: [LogLine(stream: .task, text: "a\tb\u{1B}]0;title\u{07}")])
        let logs = try taskhost("logs", String(record.id.prefix(8)))
        #expect(logs.status == 0, "\(logs.stderr)")
        #expect(!logs.stdout.contains("\u{1B}") && !logs.stdout.contains("\u{07}"), "\(logs.stdout)")
        #expect(logs.stdout.contains("a\tb\\u{1B}]0;title\\u{7}"), "\(logs.stdout)")
        #expect(logs.stdout.contains("boom\\u{1B}[2J"), "\(logs.stdout)")
        let history = try taskhost("history")
        #expect(!history.stdout.contains("\u{1B}"), "\(history.stdout)")
    }

    @Test func historyNamesACrashsSignal() throws {
        _ = try instance("Crasher", .crashed(signal: 4), startedAt: Date())
        let history = try taskhost("history")
        #expect(history.stdout.contains("crashed: SIGILL (4)"), "\(history.stdout)")
    }

    @Test func theQueueCutsLastErrorAtAWordAndWideShowsItWhole() throws {
        let message = (1...12).map { "word\($0)" }.joined(separator: " ") + " and a tail that goes past the column's width"
        let trigger = NewTrigger(app: "com.example.old", task: "T", event: TriggerEvent(kind: .application, triggerId: NewTrigger.newId()))
        try store.enqueue([trigger])
        try store.markDead(id: trigger.id, instanceId: nil, error: message)
        let queue = try taskhost("queue")
        let row = try #require(queue.stdout.split(separator: "\n").first { $0.hasPrefix(trigger.id) })
        let cell = try #require(row.range(of: "word1 ").map { String(row[$0.lowerBound...]) })
        #expect(cell.hasSuffix("…") && cell.count <= 70, "\(cell)")
        let kept = String(cell.dropLast())
        #expect(message.hasPrefix(kept + " "), "cut at a word boundary: \(cell)")
        let wide = try taskhost("queue", "--wide")
        #expect(wide.stdout.contains(message), "\(wide.stdout)")
    }

    @Test func historyFollowPrintsOnlyInstancesThatEndAfterIt() async throws {
        let start = Date().addingTimeInterval(-3600)
        let old = try (0..<30).map { try instance("T", .completed, startedAt: start.addingTimeInterval(Double($0))) }
        let output = here + "/follow.out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let follow = TaskHostCommand.start(["history", "--follow"], in: here, stateDirectory: state)
        follow.standardOutputDestination = .file(output)
        try follow.run()
        defer { follow.signal(SIGTERM) }
        let read = { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }
        #expect(await TestSupport.eventually { read().hasPrefix("INSTANCE") })

        let run = try taskhost("run", "SampleBackgroundTask", "--raw-content", "x", "--quiet", in: TestSupport.repository)
        #expect(run.status == 0, "\(run.stderr)")
        let id = try #require(run.stdout.split(separator: " ").dropFirst().first.map { String($0.prefix(8)) })
        #expect(await TestSupport.eventually { read().contains(id) }, "\(read())")
        try await Task.sleep(for: .seconds(1))  // a second look of the follower must not repeat anything
        follow.signal(SIGTERM)
        _ = await follow.waitForExit()

        let lines = read().split(separator: "\n").map(String.init)
        // The table shows the newest 20 once; the older ones ended before --follow started.
        for (index, record) in old.enumerated() {
            let count = lines.filter { $0.hasPrefix(String(record.id.prefix(8))) }.count
            #expect(count == (index < 10 ? 0 : 1), "\(record.id.prefix(8)) printed \(count) times")
        }
        #expect(lines.filter { $0.hasPrefix(id) }.count == 1)
        let header = try #require(lines.first)
        let row = try #require(lines.first { $0.hasPrefix(id) })
        #expect(row.hasSuffix("completed"))
        #expect(row.count - "completed".count == header.count - "OUTCOME".count, "aligned with the header:\n\(header)\n\(row)")
    }
}
