import ArgumentParser
import TaskHostShared

@main
struct TaskHost: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "taskhost",
        abstract: "Run background tasks from Swift plugins, each instance in an isolated process.",
        discussion: """
            Tasks are declared in an app manifest (manifest.json) and implemented as \
            `public final class X: BackgroundTask` in a Swift dynamic library. State (settings, \
            history, logs) lives in SQLite in the state directory: --state-dir, else \
            $TASKHOST_STATE_DIR, else $XDG_STATE_HOME/taskhost, else ~/.local/state/taskhost.
            """,
        version: "taskhost \(BuildInfo.sdkVersion) (\(BuildInfo.signature))",
        subcommands: [
            ServeCommand.self, ValidateCommand.self, RunCommand.self, TriggerCommand.self, PushCommand.self,
            ChannelsCommand.self, SubscriptionsCommand.self, CredentialsCommand.self, QueueCommand.self, RetryCommand.self,
            ReplayCommand.self, ListenCommand.self,
            SettingsCommand.self, HistoryCommand.self, LogsCommand.self, PluginsCommand.self, DoctorCommand.self, NewPluginCommand.self,
        ])
}
