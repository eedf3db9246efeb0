import ArgumentParser
import CTaskHostABI
import Foundation
import TaskHostCore

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
        abstract: "List, inspect, validate and re-enable drop-in plugins.",
        discussion: """
            A plugin is a folder in the plugins directory holding a manifest.json and the shared
            libraries it names. A running `taskhost serve` picks up a folder copied in (once its
            files stop changing), a new version when a file changes, and unregisters the tasks of
            a folder that is removed (their running instances are canceled with Uninstall).
            """,
        subcommands: [List.self, Inspect.self, Validate.self, Enable.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List plugins: state, version, tasks, and why one is quarantined or disabled.")
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
            var rows = records.map { record in
                [record.name, record.state.rawValue, record.version ?? "-", record.identity.isEmpty ? "-" : record.identity,
                 record.tasks.isEmpty ? "-" : record.tasks.joined(separator: ","), record.reason ?? ""]
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
                print("  C functions: \(cFunctions.prefix(20).joined(separator: ", "))\(cFunctions.count > 20 ? ", … (\(cFunctions.count))" : "")")
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
            discussion: "Reads its manifest.json, finds each library inside the folder, loads it in a sandboxed scanner, and checks every task's entry point.")
        @Argument(help: "The plugin folder (or its manifest.json).") var path: String
        @OptionGroup var sandboxFlags: SandboxFlags
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let folder = path.hasSuffix("manifest.json") ? (path as NSString).deletingLastPathComponent : path
            let directory = folder.isEmpty ? "." : folder
            guard FileManager.default.fileExists(atPath: directory + "/manifest.json") else {
                throw CLIError("\(directory): no manifest.json in this folder; a plugin folder holds its manifest.json and its libraries")
            }
            let checker = ManifestChecker(
                resolver: LibraryResolver(searchPaths: []),
                inspector: PluginInspector(workerPath: try locateWorker(), sandbox: sandboxFlags.options()))
            let validation = PluginManager.validate(
                directory: directory, plugin: (directory as NSString).lastPathComponent, checker: checker, reservedIdentity: nil, registry: nil)
            guard let manifest = validation.manifest, validation.problems.isEmpty else {
                throw CLIError(validation.problems.joined(separator: "\n"))
            }
            let name = (directory as NSString).lastPathComponent
            if FileManager.default.fileExists(atPath: stateOptions.directory.databasePath),
                let other = try stateOptions.openStore().plugins().first(where: { $0.identity == manifest.identity.name && $0.name != name })
            {
                throw CLIError("its Identity.Name \"\(manifest.identity.name)\" is already used by plugin \"\(other.name)\" in \(stateOptions.directory.path); each plugin needs an identity of its own")
            }
            for inspection in validation.inspections {
                print("library \(inspection.libraryPath): ABI \(inspection.abiVersion), \(inspection.buildSignature)")
            }
            for task in manifest.tasks {
                print("task \(manifest.identity.name)/\(task.name): \(task.entryPoint); triggers: \(task.triggers.map(\.description).joined(separator: ", "))")
            }
            print("\(directory): OK, ready to drop into the plugins directory (\(manifest.identity.name) \(manifest.identity.version ?? ""))")
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let a disabled or quarantined plugin run again.",
            discussion: "A running taskhost serve tries it again at its next look at the plugins directory; its waiting triggers then run.")
        @Argument(help: "The plugin's folder name or app identity.") var name: String
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            guard let record = try stateOptions.openStore().enablePlugin(name: name) else {
                throw CLIError("no plugin named \"\(name)\" (see taskhost plugins list)")
            }
            if record.state == .active {
                print("\(record.name) is already active")
            } else {
                print("\(record.name) was \(record.state.rawValue)\(record.reason.map { " (\($0))" } ?? ""); taskhost serve will try it again")
            }
        }
    }
}
