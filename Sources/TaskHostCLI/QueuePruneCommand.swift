import ArgumentParser
import Foundation
import TaskHostCore
import TaskHostStore

struct QueuePruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete the settled triggers (done, dead, expired) older than --older-than, and the history of their instances.",
        discussion:
            "What taskhost serve does every minute with --keep-done, now. Pending, retrying, running and parked triggers are never touched. Prints how many triggers and instances were removed; safe while serve runs (it deletes in batches of 1,000 rows)."
    )

    @Option(
        name: .customLong("older-than"),
        help: ArgumentHelp(
            "Prune what settled longer ago than this: 0 (everything settled), or e.g. 7d, 36h, 90m.",
            discussion: "Default: $TASKHOST_KEEP_DONE, else 7d (as serve's --keep-done).", valueName: "duration"))
    var olderThan: String?
    @OptionGroup var stateOptions: StateOptions

    func validate() throws {
        _ = try KeepDone.option(olderThan, name: "--older-than")
    }

    func run() throws {
        let retention = try KeepDone.option(olderThan, name: "--older-than")
        guard let cutoff = retention.cutoff(now: Date()) else {
            print("pruned nothing: the retention is forever")
            return
        }
        let result = try stateOptions.openStore().pruneSettled(before: cutoff)
        print(
            "pruned \(result.triggers) settled trigger(s) and \(result.instances) instance(s) with their logs (settled more than \(retention) ago)"
        )
    }
}

extension KeepDone {
    /// The retention an option gives: its `text`, else `$TASKHOST_KEEP_DONE`,
    /// else ``KeepDone/default``; a validation error naming `name` (or the
    /// variable) when it is not one.
    static func option(_ text: String?, name: String) throws -> KeepDone {
        let environment = ProcessInfo.processInfo.environment["TASKHOST_KEEP_DONE"].flatMap { $0.isEmpty ? nil : $0 }
        guard let given = text ?? environment else { return .default }
        guard let retention = KeepDone(parsing: given) else {
            let source = text == nil ? "$TASKHOST_KEEP_DONE" : name
            throw ValidationError("\(source) \"\(given)\" is not a retention: give \(KeepDone.syntax)")
        }
        return retention
    }
}
