import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

/// The README's "Write your first plugin" scenario: a plugin folder installed
/// in the state directory's plugins/ (active in the store), and commands run
/// from the plugin's own source folder, which holds the same manifest.json.
/// One identity is one app wherever it was read from.
@Suite struct TaskResolutionTests {
    let state = TestSupport.temporaryDirectory()
    let source = TestSupport.temporaryDirectory()

    static let identity = "com.example.weathersync"

    /// The plugin's manifest; `extra` adds tasks (for the source folder only).
    static func manifest(extraTask: String? = nil) -> String {
        let task = { (name: String) in
            """
            {"Name": "\(name)", "TaskEntryPoint": "BackgroundTasks.SampleBackgroundTask", "Library": "BackgroundTasks",
             "Triggers": [{"Type": "PushNotification"}, {"Type": "Application"}]}
            """
        }
        let tasks = [task("WeatherSyncTask")] + (extraTask.map { [task($0)] } ?? [])
        return """
            {"Identity": {"Name": "\(identity)", "Version": "1.0"}, "BackgroundTasks": [\(tasks.joined(separator: ", "))]}
            """
    }

    static func writeFolder(_ path: String, manifest: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestSupport.sampleTasks, toPath: path + "/libBackgroundTasks.so")
        try manifest.write(toFile: path + "/manifest.json", atomically: true, encoding: .utf8)
    }

    /// Installs the plugin as `weather` (folder, staged copy, active record) and
    /// writes the source folder; `localExtra` is a task only the source folder declares.
    func install(localExtra: String? = nil) throws {
        try Self.writeFolder(state + "/plugins/weather", manifest: Self.manifest())
        let staged = state + "/plugin-versions/weather/0123456789ab"
        try Self.writeFolder(staged, manifest: Self.manifest())
        try SQLiteTaskStore(stateDirectory: StateDirectory(path: state)).savePlugin(
            PluginRecord(
                name: "weather", identity: Self.identity, version: "1.0", state: .active, reason: nil, fingerprint: "0123456789ab",
                stagedPath: staged, tasks: ["WeatherSyncTask"], updatedAt: Date()))
        try Self.writeFolder(source, manifest: Self.manifest(extraTask: localExtra))
    }

    /// Runs taskhost in the plugin's source folder.
    func taskhost(_ arguments: String...) throws -> (status: Int32, out: String, err: String) {
        let result = try TaskHostCommand.run(arguments, in: source, stateDirectory: state)
        return (result.status, result.stdout, result.stderr)
    }

    func queuedApps() throws -> [String] {
        try SQLiteTaskStore(stateDirectory: StateDirectory(path: state)).queuedTriggers(states: [.pending], limit: 10).map(\.app)
    }

    @Test func triggerFromThePluginsOwnFolderFindsTheInstalledTask() throws {
        try install()
        for name in ["WeatherSyncTask", "\(Self.identity)/WeatherSyncTask", "weather/WeatherSyncTask"] {
            let result = try taskhost("trigger", name)
            #expect(result.status == 0, "trigger \(name): \(result.err)")
            #expect(!result.err.contains("several apps"), "\(result.err)")
        }
        #expect(try queuedApps() == [Self.identity, Self.identity, Self.identity])
    }

    @Test func channelsCreateFromThePluginsOwnFolderFindsTheInstalledTask() throws {
        try install()
        for name in ["WeatherSyncTask", "\(Self.identity)/WeatherSyncTask"] {
            let result = try taskhost("channels", "create", name)
            #expect(result.status == 0, "channels create \(name): \(result.err)")
            #expect(result.out.contains("/push/v1/"), "\(result.out)")
        }
        let channels = try SQLiteTaskStore(stateDirectory: StateDirectory(path: state)).channels(app: nil)
        #expect(channels.map(\.app) == [Self.identity, Self.identity])
    }

    @Test func hostFacingCommandsUseTheInstalledCopy() throws {
        try install(localExtra: "NotInstalledYet")
        let result = try taskhost("trigger", "NotInstalledYet")
        #expect(result.status == 1)
        #expect(
            result.err.contains(
                "no task named \"NotInstalledYet\"; known tasks: \(Self.identity)/WeatherSyncTask; manifest.json declares it, "
                    + "but the installed plugin \(Self.identity), which the host runs, does not: copy the new version into the plugins directory"
            ), "\(result.err)")
    }

    @Test func runWithTheManifestHerePrefersIt() throws {
        try install(localExtra: "NotInstalledYet")
        for (name, task) in [
            ("WeatherSyncTask", "WeatherSyncTask"), ("NotInstalledYet", "NotInstalledYet"),
            ("\(Self.identity)/NotInstalledYet", "NotInstalledYet"),
        ] {
            let result = try taskhost("run", name, "--manifest", "manifest.json", "--raw-content", "hi", "--quiet")
            #expect(result.status == 0, "run \(name): \(result.err)")
            #expect(result.out.contains("of \(task): completed"), "\(result.out)")
        }
    }
}
