import ArgumentParser
import Dispatch
import Foundation
import TaskHostCore
import TaskHostIPC
import TaskHostIsolation
import TaskHostShared
import TaskHostStore

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Fire a task once, in an isolated worker process, and wait for its outcome.",
        discussion: """
            With --raw-content or --raw-file the task receives a RawNotification, as if a \
            raw push had arrived; without them it gets an application trigger (with \
            --arg values as ApplicationTriggerDetails). The task's log is shown as it \
            runs (on standard error). The task's progress is shown on standard output \
            as it changes: a bar on a terminal, a line per value (`progress 40%`) \
            otherwise (see --progress). Ctrl-C cancels the instance with reason Abort; \
            it then has its grace period to finish. Exits 0 when the instance \
            completed, 1 otherwise.
            """)

    @Argument(help: "The task's Name (APP/Name when several apps declare it).")
    var task: String

    @Option(name: .customLong("raw-content"), help: ArgumentHelp("Raw notification content (UTF-8 text).", valueName: "text"))
    var rawContent: String?

    @Option(
        name: .customLong("raw-file"),
        help: ArgumentHelp("Raw notification content read from a file ('-' for standard input).", valueName: "path"))
    var rawFile: String?

    @Option(name: .customLong("arg"), help: ArgumentHelp("An application trigger argument (repeatable).", valueName: "key=value"))
    var arguments: [String] = []

    @Flag(name: .shortAndLong, help: "Do not show the task's log while it runs.")
    var quiet = false

    @Option(
        help: ArgumentHelp(
            "How to show the task's progress on standard output: auto (a bar on a terminal, lines otherwise), bar, lines or none.",
            valueName: "style"))
    var progress: ProgressStyle = .auto

    @OptionGroup var manifestOptions: ManifestOptions
    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var sandboxFlags: SandboxFlags
    @OptionGroup var isolationOption: IsolationOption

    func validate() throws {
        if rawContent != nil, rawFile != nil {
            throw ValidationError("give --raw-content or --raw-file, not both")
        }
        if rawContent != nil || rawFile != nil, !arguments.isEmpty {
            throw ValidationError("--arg goes with an application trigger; it cannot be combined with raw content")
        }
        for argument in arguments where !argument.contains("=") {
            throw ValidationError("--arg \(argument): expected key=value")
        }
    }

    func run() async throws {
        // A reader that goes away (`taskhost run … | head -1`) must not kill
        // the supervisor of a running instance: writes to it fail instead, and
        // are dropped, while the instance runs to its outcome. (Set first:
        // opening the store may already warn, about a state directory's mode.)
        signal(SIGPIPE, SIG_IGN)
        let found = try manifestOptions.findTask(task, state: stateOptions, prefer: .local)
        let manifest = found.app
        let declaration = found.task
        let libraryPath = try found.libraryPath()
        let trigger = try makeTrigger()
        let runner = TaskRunner(
            store: try stateOptions.openStore(), workerPath: try locateWorker(),
            sandbox: sandboxFlags.options(state: stateOptions.directory), isolation: isolationOption.isolation)

        let cancellation = InstanceCancellation()
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT)
        interrupt.setEventHandler {
            writeStandardError("taskhost: canceling the instance (Abort); Ctrl-C again to quit at once\n")
            cancellation.cancel(.abort)
            signal(SIGINT, SIG_DFL)
        }
        interrupt.resume()
        defer { interrupt.cancel() }

        let quiet = self.quiet
        let display = ProgressDisplay(style: progress)
        let record: InstanceRecord
        do {
            defer { display.finish() }
            record = try await runner.run(
                app: manifest, task: declaration, libraryPath: libraryPath, trigger: trigger,
                cancellation: cancellation,
                onLog: { line in
                    guard !quiet || line.stream == .host else { return }
                    let prefix = line.stream == .task ? "" : "[\(line.stream.rawValue)] "
                    display.log("  \(prefix)\(Format.printable(line.text, keepingTabs: true))\n")
                },
                onProgress: { display.show($0) })
        } catch {
            throw CLIError(error.description)
        }
        let outcome = record.outcome ?? .protocolError("no outcome")
        print("instance \(record.id) of \(record.task): \(Format.printable(outcome.description))")
        print(
            "  trigger \(record.triggerKind.rawValue) \(record.triggerId), duration \(Format.duration(record.duration)), worker pid \(record.pid.map(String.init) ?? "-"), host pid \(record.hostPid)"
        )
        if !outcome.isSuccess {
            print("  log: taskhost logs \(Format.shortId(record.id))")
            throw ExitCode(1)
        }
    }

    func makeTrigger() throws -> TriggerEvent {
        if let rawContent { return .rawNotification(Array(rawContent.utf8)) }
        if let rawFile {
            let data = rawFile == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: rawFile)
            guard let data else { throw CLIError("cannot read --raw-file \(rawFile)") }
            return .rawNotification(Array(data))
        }
        return .application(arguments: try parseArguments(arguments))
    }
}

/// Writes `text` to standard error; a closed standard error drops it (with
/// SIGPIPE ignored) instead of stopping the command.
func writeStandardError(_ text: String) {
    FileDescriptorIO.writeAll(toFile: STDERR_FILENO, Array(text.utf8))
}
