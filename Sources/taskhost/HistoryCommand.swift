import ArgumentParser
import Foundation
import TaskHostCore

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List task instances, newest first.",
        discussion: "PID is the worker process that ran the instance; HOST is the taskhost process that supervised it.")

    @Option(help: ArgumentHelp("Only instances of this task.", valueName: "name")) var task: String?
    @Option(name: .shortAndLong, help: "How many instances to show.") var limit: Int = 20
    @OptionGroup var stateOptions: StateOptions

    func run() throws {
        let records = try stateOptions.openStore().instances(task: task, limit: max(1, limit))
        guard !records.isEmpty else {
            print("no instances yet")
            return
        }
        print(Format.table(
            ["INSTANCE", "TASK", "TRIGGER", "ATTEMPT", "PID", "HOST", "STARTED", "DURATION", "OUTCOME"],
            records.map { record in
                [
                    Format.shortId(record.id), record.task, record.triggerKind.rawValue, String(record.attempt),
                    record.pid.map(String.init) ?? "-", String(record.hostPid), Format.timestamp(record.startedAt),
                    Format.duration(record.duration), record.outcome.map { outcome in
                        outcome.detail.isEmpty ? outcome.code : "\(outcome.code): \(outcome.detail.prefix(60))"
                    } ?? "running",
                ]
            }))
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
        for line in try store.log(instanceId: record.id) {
            let prefix = line.stream == .task ? "" : "[\(line.stream.rawValue)] "
            print("\(Format.timestamp(line.at))  \(prefix)\(line.text)")
        }
    }
}
