import ArgumentParser
import Foundation
import NIOHTTP1
import TaskHostCore
import TaskHostManifest
import TaskHostStore

struct TriggerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trigger",
        abstract: "Queue an application trigger for a task; a running `taskhost serve` runs it.",
        discussion:
            "The arguments reach the task as ApplicationTriggerDetails.arguments. Prints the trigger id (see taskhost queue). Exits 0 once the trigger is stored, also when no host is running (it then says so on standard error: the trigger waits until taskhost serve starts on this state directory)."
    )

    @Argument(help: "The task's Name (APP/Name when several apps declare it).") var task: String
    @Option(name: .customLong("arg"), help: ArgumentHelp("An argument (repeatable).", valueName: "key=value")) var arguments: [String] = []
    @OptionGroup var manifestOptions: ManifestOptions
    @OptionGroup var stateOptions: StateOptions

    func run() throws {
        let found = try manifestOptions.findTask(task, state: stateOptions)
        let event = TriggerEvent(kind: .application, triggerId: NewTrigger.newId(), arguments: try parseArguments(arguments))
        try stateOptions.openStore().enqueue([NewTrigger(app: found.app.identity.name, task: found.task.name, event: event)])
        print(event.triggerId)
        // Stored either way (exit 0); say when nothing will run it yet.
        if HostLock.holder(of: stateOptions.directory) == nil {
            FileHandle.standardError.write(
                Data(
                    "taskhost: no host is running on the state directory \(stateOptions.directory.path); the trigger waits in the queue until taskhost serve starts there (see taskhost queue)\n"
                        .utf8))
        }
    }
}

struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Show the trigger queue: counts by state, and the triggers not yet done.",
        subcommands: [QueuePruneCommand.self])

    @Option(name: .shortAndLong, help: "How many triggers to list.") var limit: Int = 30
    @Flag(help: "Also list triggers that are done.") var all = false
    @Flag(name: .shortAndLong, help: "Show each LAST ERROR whole (otherwise it is cut at a word, marked with …).") var wide = false
    @OptionGroup var stateOptions: StateOptions

    /// The longest LAST ERROR shown without --wide.
    static let errorWidth = 70

    func run() throws {
        let store = try stateOptions.openStore()
        let counts = try store.queueCounts()
        print(TriggerState.allCases.map { "\($0.rawValue) \(counts[$0, default: 0])" }.joined(separator: "  "))
        let states: [TriggerState] = all ? TriggerState.allCases : [.pending, .running, .retrying, .parked, .waiting, .dead, .expired]
        let triggers = try store.queuedTriggers(states: states, limit: max(1, limit))
        guard !triggers.isEmpty else { return }
        print("")
        print(
            Format.table(
                ["TRIGGER", "TASK", "KIND", "STATE", "ATTEMPTS", "NEXT", "LAST ERROR"],
                triggers.map { trigger in
                    [
                        trigger.id, trigger.task, trigger.event.kind.rawValue, trigger.state.rawValue,
                        String(trigger.attempts),
                        [.pending, .retrying].contains(trigger.state) ? Format.timestamp(trigger.availableAt) : "-",
                        wide
                            ? (trigger.lastError ?? "").replacingOccurrences(of: "\n", with: " ")
                            : Format.truncated(trigger.lastError ?? "", to: Self.errorWidth),
                    ]
                }))
    }
}

struct RetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Queue a dead-lettered or expired trigger again, with its attempts reset.")

    @Argument(help: "The trigger id (or its first characters).") var id: String
    @OptionGroup var stateOptions: StateOptions

    func run() throws {
        let store = try stateOptions.openStore()
        guard let trigger = try store.queuedTrigger(idPrefix: id) else { throw CLIError("no trigger \"\(id)\" (taskhost queue)") }
        guard try store.requeue(id: trigger.id) else {
            throw CLIError("trigger \(trigger.id) is \(trigger.state.rawValue); only dead or expired triggers can be retried")
        }
        print("trigger \(trigger.id) queued again")
    }
}

struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Send a raw push to a channel URI, as an app server would.",
        discussion: """
            Equivalent to:

              curl -X POST CHANNEL-URI -H 'Authorization: Bearer TOKEN' \\
                -H 'X-WNS-Type: wns/raw' -H 'Content-Type: application/octet-stream' \\
                --data-binary 'TEXT'

            Exits 0 when the host answered 200 (the push is durably stored).
            """)

    @Argument(help: "The channel URI (taskhost channels create).") var uri: String
    @Option(help: "The payload as text.") var content: String?
    @Option(help: "The payload read from a file ('-': standard input).") var file: String?
    @Option(help: "The credential token (taskhost credentials create); default $TASKHOST_TOKEN.") var token: String?
    @Option(help: "X-WNS-TTL: seconds the push may wait before it is dropped.") var ttl: Int?
    @Flag(name: .customLong("no-cache"), help: "X-WNS-Cache-Policy: no-cache (drop unless the task can start now).") var noCache = false

    func validate() throws {
        if (content == nil) == (file == nil) { throw ValidationError("give exactly one of --content or --file") }
        guard let url = URL(string: uri), url.scheme == "http", url.host != nil else {
            throw ValidationError("\(uri) is not an http:// URI (the push server speaks plain HTTP; behind a TLS proxy, push with curl)")
        }
    }

    func run() async throws {
        guard let token = token ?? ProcessInfo.processInfo.environment["TASKHOST_TOKEN"] else {
            throw CLIError("give --token (or set TASKHOST_TOKEN); create one with taskhost credentials create")
        }
        let payload: Data
        if let content {
            payload = Data(content.utf8)
        } else if file == "-" {
            payload = FileHandle.standardInput.readDataToEndOfFile()
        } else if let file, let data = FileManager.default.contents(atPath: file) {
            payload = data
        } else {
            throw CLIError("cannot read --file \(file ?? "")")
        }
        var headers = [
            ("Authorization", "Bearer \(token)"), ("X-WNS-Type", "wns/raw"), ("Content-Type", "application/octet-stream"),
        ]
        if let ttl { headers.append(("X-WNS-TTL", String(ttl))) }
        if noCache { headers.append(("X-WNS-Cache-Policy", "no-cache")) }
        let response: PushClient.Response
        do {
            response = try await PushClient.post(URL(string: uri)!, headers: headers, body: Array(payload))
        } catch let failure as PushClient.Failure {
            throw CLIError("cannot push to \(uri): \(failure)")
        } catch {
            throw CLIError("cannot reach \(uri): \(error)")
        }
        let status = response.headers.first(name: "X-WNS-Status") ?? ""
        if response.status == 200 {
            print("\(response.status) \(status) \(response.headers.first(name: "X-WNS-Msg-ID") ?? "")")
        } else {
            let reason = response.headers.first(name: "X-WNS-Error-Description") ?? String(decoding: response.body, as: UTF8.self)
            throw CLIError("\(response.status) \(status.isEmpty ? "" : status + " ")\(reason)")
        }
    }
}
