import ArgumentParser
import CTaskHostABI
import Foundation
import TaskHostCore
import TaskHostIPC
import TaskHostIsolation
import TaskHostManifest
import TaskHostPlugins
import TaskHostStore

/// Which plugins directory.
struct PluginsDirectoryOption: ParsableArguments {
    @Option(
        name: .customLong("plugins-dir"),
        help: ArgumentHelp("The drop-in plugins directory (default: plugins/ in the state directory).", valueName: "dir"))
    var pluginsDir: String?

    func path(_ state: StateOptions) -> String { pluginsDir ?? state.directory.pluginsPath }
}

struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List, inspect, validate and re-enable drop-in plugins and their tasks.",
        discussion: """
            A plugin is a folder in the plugins directory holding a manifest.json and the shared \
            libraries it names. A running `taskhost serve` picks up a folder copied in (once its \
            files stop changing), a new version when a file changes, and unregisters the tasks of \
            a folder that is removed (their running instances are canceled with Uninstall).
            """,
        subcommands: [List.self, Dir.self, Inspect.self, Validate.self, Enable.self])

    struct Dir: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the plugins directory of the state directory: install a plugin by copying its folder there.",
            discussion:
                "The default directory that taskhost serve watches, plugins/ in the state directory (--state-dir, else $TASKHOST_STATE_DIR, else $XDG_STATE_HOME/taskhost, else ~/.local/state/taskhost). A serve started with --plugins-dir watches that one instead."
        )
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            print(stateOptions.directory.pluginsPath)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List plugins: state, version, tasks, and why a plugin is quarantined or a task disabled (one row each, PLUGIN/TASK)."
        )
        @OptionGroup var directory: PluginsDirectoryOption
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let store = try stateOptions.openStore()
            let records = try store.plugins()
            let known = Set(records.map(\.name))
            let path = directory.path(stateOptions)
            let waiting = PluginFolder.list(in: path).filter { !known.contains($0.name) }
            guard !records.isEmpty || !waiting.isEmpty else {
                print("no plugins in \(path) (copy a plugin folder there: its manifest.json and libraries)")
                return
            }
            let disabled = Dictionary(grouping: try store.disabledTasks(), by: \.plugin)
            var rows: [[String]] = []
            for record in records {
                let off = disabled[record.name] ?? []
                let tasks = record.tasks.map { task in off.contains { $0.task == task } ? task + " (disabled)" : task }
                let identity = record.identity.isEmpty ? "-" : record.identity
                rows.append([
                    record.name, record.state.rawValue, record.version ?? "-", identity,
                    tasks.isEmpty ? "-" : tasks.joined(separator: ","), record.reason ?? "",
                ])
                rows += off.map { [$0.qualifiedName, "disabled", record.version ?? "-", identity, $0.task, $0.reason] }
            }
            let pending: String
            if let host = HostLock.holder(of: stateOptions.directory) {
                pending = "not looked at yet by the running host (\(host.summary)); it registers it once its files stop changing"
            } else {
                pending = "not looked at yet: no host is running on this state directory (taskhost serve looks at start)"
            }
            rows += waiting.map { [$0.name, "new", "-", "-", "-", pending] }
            print("plugins directory: \(path)\n")
            print(Format.table(["PLUGIN", "STATE", "VERSION", "IDENTITY", "TASKS", "REASON"], rows))
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what a plugin library exports: its ABI version, build signature and task classes.",
            discussion: "The library is loaded in a sandboxed scanner process, so its load-time code cannot harm this one.")
        @Argument(help: "A shared library, or a plugin folder (each library its manifest names).") var path: String
        @OptionGroup var sandboxFlags: SandboxFlags
        /// Accepted like every other command's; inspecting a library reads no state.
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            var libraries = [path]
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                libraries = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".so") }.sorted()
                    .map { path + "/" + $0 }
                guard !libraries.isEmpty else { throw CLIError("\(path): no .so file in this folder") }
            }
            let inspector = PluginInspector(workerPath: try locateWorker(), sandbox: sandboxFlags.options())
            var failed = false
            for library in libraries {
                failed = !inspect(library, inspector: inspector) || failed
            }
            if failed { throw ExitCode(1) }
        }

        private func inspect(_ library: String, inspector: PluginInspector) -> Bool {
            print("library \(library)")
            let symbols: ELFSymbols
            do {
                symbols = try ELFSymbols.read(path: library)
            } catch {
                print("  error: \(error)")
                return false
            }
            let exportsDescriptor = symbols.functions.contains(TH_PLUGIN_ENTRY_SYMBOL)
            print("  exports \(TH_PLUGIN_ENTRY_SYMBOL): \(exportsDescriptor ? "yes" : "no (no Swift task classes; C tasks name a Symbol)")")
            let cFunctions = symbols.cFunctions.filter { $0 != TH_PLUGIN_ENTRY_SYMBOL }
            if !cFunctions.isEmpty {
                print(
                    "  C functions: \(cFunctions.prefix(20).joined(separator: ", "))\(cFunctions.count > 20 ? ", … (\(cFunctions.count))" : "")"
                )
            }
            guard exportsDescriptor else { return true }
            let classes = symbols.swiftClasses
            switch inspector.inspect(libraryPath: library, entryPoints: classes) {
            case .failure(let error):
                print("  error: \(error.reason)")
                return false
            case .success(let inspection):
                print("  ABI version: \(inspection.abiVersion)")
                print("  SDK version: \(inspection.sdkVersion)")
                print("  build signature: \(inspection.buildSignature)")
                let tasks = zip(classes, inspection.entryPoints).filter { $0.1.code == TH_CHECK_OK.rawValue }.map(\.0)
                print("  task classes (TaskEntryPoint): \(tasks.isEmpty ? "none" : tasks.joined(separator: ", "))")
                for (name, report) in zip(classes, inspection.entryPoints) where report.code != TH_CHECK_OK.rawValue {
                    print("  not a task: \(name) \(report.message)")
                }
                return true
            }
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a plugin folder as taskhost serve will before registering it.",
            discussion: "Reads its manifest.json, finds each library in the folder or its lib/ (then, for a plugin package being built, "
                + "in its .build/debug and .build/release and each --library-path), loads it in a sandboxed scanner, and checks every task's entry point."
        )
        @Argument(help: "The plugin folder (or its manifest.json).") var path: String
        @Option(
            name: .customLong("library-path"),
            help: ArgumentHelp(
                "A directory to search for plugin libraries (repeatable).",
                discussion:
                    "Searched after the folder, its lib/, .build/debug and .build/release. A dropped-in folder must hold its libraries itself.",
                valueName: "dir"))
        var libraryPaths: [String] = []
        @OptionGroup var sandboxFlags: SandboxFlags
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let folder = path.hasSuffix("manifest.json") ? (path as NSString).deletingLastPathComponent : path
            let directory = folder.isEmpty ? "." : folder
            guard FileManager.default.fileExists(atPath: directory + "/manifest.json") else {
                throw CLIError("\(directory): no manifest.json in this folder; a plugin folder holds its manifest.json and its libraries")
            }
            // The folder's own name, also for "." or "./": the name it would be installed under.
            let name = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent
            let checker = ManifestChecker(
                resolver: LibraryResolver(searchPaths: [".build/debug", ".build/release"] + libraryPaths),
                inspector: PluginInspector(workerPath: try locateWorker(), sandbox: sandboxFlags.options()))
            let validation = PluginManager.validate(
                directory: directory, plugin: name, checker: checker, reservedIdentity: nil, registry: nil,
                searchesOutside: true)
            guard let manifest = validation.manifest, validation.problems.isEmpty else {
                throw CLIError(validation.problems.joined(separator: "\n"))
            }
            let own = LibraryResolver(searchPaths: [])
            let elsewhere = validation.tasks.filter { task in
                (try? own.resolve(task.task.library, manifestDirectory: directory).get()) == nil
            }
            if FileManager.default.fileExists(atPath: stateOptions.directory.databasePath),
                let other = try stateOptions.openStore().plugins().first(where: { $0.identity == manifest.identity.name && $0.name != name }
                )
            {
                throw CLIError(
                    "\(directory)/manifest.json: its Identity.Name \"\(manifest.identity.name)\" is already used by the plugin folder \"\(other.name)\" in \(stateOptions.directory.path);"
                        + " dropped in as \"\(name)\" it would be quarantined: give it an identity of its own, or install it as \"\(other.name)\""
                )
            }
            for inspection in validation.inspections {
                print("library \(inspection.libraryPath): ABI \(inspection.abiVersion), \(inspection.buildSignature)")
            }
            for task in manifest.tasks {
                print(
                    "task \(manifest.identity.name)/\(task.name): \(task.entryPoint); triggers: \(task.triggers.map(\.description).joined(separator: ", "))"
                )
            }
            for task in elsewhere {
                print(
                    "note: task \(task.task.name): its library is \(task.libraryPath), outside the folder and its lib/; copy it into the folder before dropping the folder in"
                )
            }
            print(
                "\(directory): OK, "
                    + (elsewhere.isEmpty ? "ready to drop into the plugins directory" : "usable once its libraries are copied into it")
                    + " (\(manifest.identity.name) \(manifest.identity.version ?? ""))")
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let a disabled task, or a quarantined plugin and its disabled tasks, run again.",
            discussion: """
                PLUGIN/TASK enables one task that was disabled for crashing too often; PLUGIN enables \
                the plugin (if quarantined) and every disabled task of it. A running taskhost serve \
                picks this up at its next look at the plugins directory; the waiting triggers then run.
                """)
        @Argument(help: "The plugin's folder name or app identity, or PLUGIN/TASK for one of its tasks.") var name: String
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let store = try stateOptions.openStore()
            if let slash = name.lastIndex(of: "/") {
                try enable(task: String(name[name.index(after: slash)...]), of: String(name[..<slash]), store: store)
                return
            }
            let tasks = try store.disabledTasks().filter { $0.plugin == name || $0.app == name }
            guard let record = try store.enablePlugin(name: name) else {
                throw CLIError("no plugin named \"\(name)\" (see taskhost plugins list)")
            }
            if record.state == .active {
                print("\(record.name) is already active")
            } else {
                print(
                    "\(record.name) was \(record.state.rawValue)\(record.reason.map { " (\($0))" } ?? ""); taskhost serve will try it again"
                )
            }
            for task in tasks {
                print("enabled \(task.qualifiedName); the running host runs it again at its next look, and its parked triggers with it")
            }
        }

        private func enable(task: String, of plugin: String, store: any HostStore) throws {
            guard let record = try store.plugins().first(where: { $0.name == plugin || $0.identity == plugin }) else {
                throw CLIError("no plugin named \"\(plugin)\" (see taskhost plugins list)")
            }
            guard record.tasks.contains(task) else {
                throw CLIError(
                    "plugin \"\(record.name)\" has no task named \"\(task)\"; its tasks: \(record.tasks.joined(separator: ", "))")
            }
            guard let enabled = try store.enableTask(plugin: record.name, task: task) else {
                print("\(record.name)/\(task) is not disabled")
                return
            }
            print(
                "enabled \(enabled.qualifiedName) (disabled since \(Format.timestamp(enabled.disabledAt)) for crashing); the running host runs it again at its next look, and its parked triggers with it"
            )
        }
    }
}

extension FoundTask {
    /// Throws, saying why and how to enable it, when this is a disabled task
    /// of a plugin (its triggers would only wait in the queue).
    func refuseIfDisabled(state: StateOptions) throws {
        guard let plugin, FileManager.default.fileExists(atPath: state.directory.databasePath) else { return }
        if let disabled = try state.openStore().disabledTasks().first(where: { $0.plugin == plugin && $0.task == task.name }) {
            throw CLIError("task \"\(qualifiedName)\" of plugin \"\(plugin)\" is disabled: \(disabled.reason)")
        }
    }
}
