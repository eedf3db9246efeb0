import ArgumentParser
import Foundation
import TaskHostCore

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List task instances, newest first.",
        discussion: "PID is the worker process that ran the instance; HOST is the taskhost process that supervised it.")

    @Option(help: ArgumentHelp("Only instances of this task.", valueName: "name")) var task: String?
    @Option(name: .shortAndLong, help: "How many instances to show.") var limit: Int = 20
    @Flag(name: .shortAndLong, help: "Keep running and print instances as they finish (Ctrl-C stops).") var follow = false
    @OptionGroup var stateOptions: StateOptions

    static let header = ["INSTANCE", "TASK", "TRIGGER", "ATTEMPT", "PID", "HOST", "STARTED", "DURATION", "OUTCOME"]

    static func row(_ record: InstanceRecord) -> [String] {
        [
            Format.shortId(record.id), record.task, record.triggerKind.rawValue, String(record.attempt),
            record.pid.map(String.init) ?? "-", String(record.hostPid), Format.timestamp(record.startedAt),
            Format.duration(record.duration), record.outcome.map { outcome in
                outcome.detail.isEmpty ? outcome.code : "\(outcome.code): \(outcome.detail.prefix(60))"
            } ?? "running",
        ]
    }

    func run() async throws {
        let store = try stateOptions.openStore()
        let records = try store.instances(task: task, limit: max(1, limit))
        if records.isEmpty, !follow {
            print("no instances yet")
            return
        }
        print(Format.table(Self.header, records.map(Self.row)))
        guard follow else { return }
        var seen = Set(records.filter { $0.outcome != nil }.map(\.id))
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(500))
            let finished = try store.instances(task: task, limit: 200).filter { $0.outcome != nil && !seen.contains($0.id) }
            for record in finished.reversed() {
                seen.insert(record.id)
                print(Self.row(record).joined(separator: "  "))
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
        print("instance \(record.id) of \(record.task) (\(record.app)): \(record.outcome?.description ?? "running")")
        if !record.sandbox.isEmpty { print("sandbox: \(record.sandbox)") }
        for line in try store.log(instanceId: record.id) {
            let prefix = line.stream == .task ? "" : "[\(line.stream.rawValue)] "
            print("\(Format.timestamp(line.at))  \(prefix)\(line.text)")
        }
    }
}
