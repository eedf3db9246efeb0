import ArgumentParser
import Foundation
import TaskHostCore
import TaskHostStore

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List task instances, newest first.",
        discussion: """
            PID is the worker process that ran the instance; HOST is the taskhost process that supervised it, \
            and HOST NAME, when hosts share a PostgreSQL store, the name of the host it ran on. \
            A running instance shows the progress its task reported so far (running 40%); a replayed one \
            names the instance it replays in TRIGGER (taskhost replay). Triggers waiting for their task's \
            conditions have no instance yet; a line after the table counts them. With --follow, a line is printed \
            each time a running instance's progress changes and when an instance ends, until Ctrl-C.
            """)

    @Option(help: ArgumentHelp("Only instances of this task.", valueName: "name")) var task: String?
    @Option(name: .shortAndLong, help: "How many instances to show.") var limit: Int = 20
    @Flag(name: .shortAndLong, help: "Keep running and print instances as their progress changes and as they finish (Ctrl-C stops).")
    var follow = false
    @OptionGroup var stateOptions: StateOptions

    static let header = ["INSTANCE", "TASK", "TRIGGER", "ATTEMPT", "PID", "HOST", "STARTED", "DURATION", "OUTCOME"]

    /// The narrowest each column is with --follow, so that rows printed later line up
    /// with the header (a longer cell pushes the rest of its row to the right).
    static let followWidths = [8, 24, 11, 7, 7, 7, 20, 9, 0]

    /// Where the HOST NAME column goes (after HOST), its header and its narrowest width with --follow.
    static let hostNameColumn = (index: 6, header: "HOST NAME", followWidth: 12)

    /// The header: with HOST NAME when `hostNames` (some instance has a host name:
    /// hosts share a PostgreSQL store; SQLite's store, one host's, has none).
    static func header(hostNames: Bool) -> [String] {
        var header = Self.header
        if hostNames { header.insert(hostNameColumn.header, at: hostNameColumn.index) }
        return header
    }

    /// The --follow widths, with HOST NAME's when `hostNames`.
    static func followWidths(hostNames: Bool) -> [Int] {
        var widths = Self.followWidths
        if hostNames { widths.insert(hostNameColumn.followWidth, at: hostNameColumn.index) }
        return widths
    }

    /// `record`'s row, with its host's name (`-` when unknown) when `hostNames`.
    static func row(_ record: InstanceRecord, hostNames: Bool) -> [String] {
        var row = Self.row(record)
        if hostNames { row.insert(record.hostName ?? "-", at: hostNameColumn.index) }
        return row
    }

    /// How many of the newest instances --follow looks at each time.
    static let followWindow = 200

    /// How often --follow looks at the store (the host records progress at most every 500 ms).
    static let followInterval: Duration = .milliseconds(500)

    static func row(_ record: InstanceRecord) -> [String] {
        [
            Format.shortId(record.id), record.task, trigger(record), String(record.attempt),
            record.pid.map(String.init) ?? "-", String(record.hostPid), Format.timestamp(record.startedAt),
            Format.duration(record.duration), record.outcome.map { Format.truncated($0.summary, to: 80) } ?? running(record),
        ]
    }

    /// The TRIGGER cell: the kind, and the instance a replay repeats.
    static func trigger(_ record: InstanceRecord) -> String {
        guard let original = record.replayOf else { return record.triggerKind.rawValue }
        return "\(record.triggerKind.rawValue), replay of \(Format.shortId(original))"
    }

    /// The OUTCOME cell of an instance that has not ended: with its progress once it reported some.
    static func running(_ record: InstanceRecord) -> String {
        record.progress == 0 ? "running" : "running \(ProgressDisplay.percent(record.progress))"
    }

    func run() async throws {
        let store = try stateOptions.openStore()
        let shown = max(1, limit)
        guard follow else {
            let records = try store.instances(task: task, limit: shown)
            let hostNames = records.contains { $0.hostName != nil }
            print(
                records.isEmpty
                    ? "no instances yet"
                    : Format.table(Self.header(hostNames: hostNames), records.map { Self.row($0, hostNames: hostNames) }))
            // Triggers waiting for their task's conditions have no instance yet: say so.
            let waiting = try store.queuedTriggers(states: [.waiting], limit: 100_000).filter { task == nil || $0.task == task }.count
            if waiting > 0 {
                print("\n\(waiting) trigger(s) waiting for their task's conditions, not run yet (taskhost queue --wide says which)")
            }
            return
        }
        // One look gives both the table and what already ended: an instance that
        // ended before --follow started is never printed again, nor is the
        // progress a running one had then.
        let window = try store.instances(task: task, limit: max(shown, Self.followWindow))
        var seen = Set(window.filter { $0.outcome != nil }.map(\.id))
        var progress = Dictionary(window.filter { $0.outcome == nil }.map { ($0.id, $0.progress) }) { first, _ in first }
        // HOST NAME is there when an instance of the first look has one (hosts share a PostgreSQL store).
        let hostNames = window.contains { $0.hostName != nil }
        let header = Self.header(hostNames: hostNames)
        let rows = window.prefix(shown).map { Self.row($0, hostNames: hostNames) }
        let widths = Format.columnWidths(header, rows, minimum: Self.followWidths(hostNames: hostNames))
        print(([header] + rows).map { Format.line($0, widths: widths) }.joined(separator: "\n"))
        fflush(nil)
        while !Task.isCancelled {
            try await Task.sleep(for: Self.followInterval)
            // Oldest first: a line per progress change of a running instance, one when an instance ends.
            for record in try store.instances(task: task, limit: Self.followWindow).reversed() {
                if record.outcome == nil {
                    guard record.progress != progress[record.id, default: 0] else { continue }
                    progress[record.id] = record.progress
                } else {
                    guard seen.insert(record.id).inserted else { continue }
                    progress[record.id] = nil
                }
                print(Format.line(Self.row(record, hostNames: hostNames), widths: widths))
            }
            fflush(nil)
        }
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print an instance's log: Debug.writeLine lines, the worker's output, and host notes.")

    @Argument(help: "The instance id, or its first characters (at least 4).") var instance: String
    @OptionGroup var stateOptions: StateOptions

    func run() throws {
        let store = try stateOptions.openStore()
        guard let record = try store.instance(idPrefix: instance) else {
            throw CLIError("no instance \"\(instance)\" (see taskhost history)")
        }
        print(
            "instance \(record.id) of \(record.task) (\(record.app)): \(Format.printable(record.outcome?.description ?? HistoryCommand.running(record)))"
        )
        if let original = record.replayOf { print("replay of instance \(original) (taskhost replay)") }
        if let host = record.hostName { print("host: \(Format.printable(host))") }
        if !record.sandbox.isEmpty { print("sandbox: \(record.sandbox)") }
        for line in try store.log(instanceId: record.id) {
            let prefix = line.stream == .task ? "" : "[\(line.stream.rawValue)] "
            print("\(Format.timestamp(line.at))  \(prefix)\(Format.printable(line.text, keepingTabs: true))")
        }
    }
}
