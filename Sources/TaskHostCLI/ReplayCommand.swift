import ArgumentParser
import Foundation
import TaskHostCore
import TaskHostStore

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Queue the trigger that started a past instance again, to debug its task against real input.",
        discussion: """
            The new trigger carries the same payload, channel, headers and arguments, has a new id \
            (printed), starts at attempt 1 with no time to live, and is marked as a replay of INSTANCE: \
            taskhost history shows the instance that runs it as "replay of" INSTANCE. A running \
            taskhost serve runs it like any queued trigger. Only instances started from the queue \
            (pushes, taskhost trigger, timers) can be replayed: taskhost run keeps no payload.
            """)

    @Argument(help: "The instance id, or its first characters (at least 4; see taskhost history).") var instance: String
    @OptionGroup var stateOptions: StateOptions

    func run() throws {
        let store = try stateOptions.openStore()
        let trigger: QueuedTrigger
        do {
            trigger = try store.replay(instance: instance)
        } catch {
            throw CLIError(error.description)
        }
        print(trigger.id)
        // Stored either way (exit 0); say when nothing will run it yet.
        if HostLock.holder(of: stateOptions.directory) == nil {
            writeStandardError(
                "taskhost: no host is running on the state directory \(stateOptions.directory.path); the replay waits in the queue until taskhost serve starts there (see taskhost queue)\n"
            )
        }
    }
}
