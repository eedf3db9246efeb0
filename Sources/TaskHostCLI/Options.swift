import ArgumentParser
import Foundation
import TaskHostCore
import TaskHostIsolation
import TaskHostManifest
import TaskHostServer
import TaskHostStore
import TaskHostStoreBackends

/// Where state lives.
struct StateOptions: ParsableArguments {
    @Option(
        name: .customLong("state-dir"),
        help: ArgumentHelp(
            "The state directory (settings, history, logs).",
            discussion: "Default: $TASKHOST_STATE_DIR, else $XDG_STATE_HOME/taskhost, else ~/.local/state/taskhost.",
            valueName: "dir"))
    var stateDir: String?

    @Option(
        name: .customLong("store"),
        help: ArgumentHelp(
            "Where the queue, channels, settings and history are: sqlite, or a PostgreSQL URL that several hosts share.",
            discussion:
                "sqlite is the state directory's database. postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or ?host=/SOCKET/DIR) "
                + "is a PostgreSQL database; TLS as libpq sets it, ?sslmode=verify-full&sslrootcert=CA.pem (also sslcert, sslkey; "
                + "default sslmode=prefer). Default: $TASKHOST_STORE, else sqlite.",
            valueName: "sqlite|url"))
    var store: String?

    var directory: StateDirectory { StateDirectory.resolve(explicit: stateDir) }

    /// Where the store is: `--store`, else `$TASKHOST_STORE`, else the state directory's database.
    func storeLocation() throws -> StoreLocation {
        do {
            return try StoreLocation.parse(store, stateDirectory: directory)
        } catch {
            throw CLIError(error.description)
        }
    }

    func openStore() throws -> any HostStore {
        let location = try storeLocation()
        do {
            return try location.open()
        } catch {
            throw CLIError(error.description)
        }
    }
}

/// How instances are sandboxed.
struct SandboxFlags: ParsableArguments {
    @Option(
        name: .customLong("sandbox-user"),
        help: ArgumentHelp(
            "When taskhost runs as root, the user instances run as ('' keeps root, reported as not enforced).", valueName: "name"))
    var sandboxUser: String = "nobody"

    @Flag(
        name: .customLong("require-sandbox"),
        help: "Refuse to run an instance unless every sandbox layer is enforced (see taskhost doctor).")
    var requireSandbox = false

    /// The options, with private working directories under `state`'s `work/` (or a temporary directory).
    func options(state: StateDirectory? = nil) -> SandboxOptions {
        var options = SandboxOptions(user: sandboxUser.isEmpty ? nil : sandboxUser, required: requireSandbox)
        if let state { options.workRoot = state.path + "/work" }
        return options
    }
}

extension IsolationMode: ExpressibleByArgument {}
extension IngestMode: ExpressibleByArgument {}

/// How instances get their process (commands that run instances).
struct IsolationOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "How instances get their process: prefork (forked from a worker that has the plugin loaded) or spawn (a fresh worker each).",
            discussion: "Default: $TASKHOST_ISOLATION, else prefork.", valueName: "mode"))
    var isolation: IsolationMode = .fromEnvironment()
}

/// Which manifest, and where its libraries are.
struct ManifestOptions: ParsableArguments {
    @Option(name: .customLong("manifest"), help: ArgumentHelp("The app manifest (default: manifest.json).", valueName: "path"))
    var manifest: String?

    @Option(
        name: .customLong("library-path"),
        help: ArgumentHelp(
            "A directory to search for plugin libraries (repeatable).",
            discussion:
                "Searched after the manifest's directory and its lib/, before $TASKHOST_LIBRARY_PATH and the taskhost executable's directory.",
            valueName: "dir"))
    var libraryPaths: [String] = []

    var path: String { manifest ?? "manifest.json" }

    var resolver: LibraryResolver { LibraryResolver.standard(extraPaths: libraryPaths) }

    func load() throws -> AppManifest {
        do {
            return try AppManifest.load(path: path)
        } catch {
            throw CLIError(error.description)
        }
    }

    /// The manifest, or `nil` when none was named and there is no manifest.json here.
    func loadIfPresent() throws -> AppManifest? {
        if manifest == nil, !FileManager.default.fileExists(atPath: path) { return nil }
        return try load()
    }

    /// The task `name` names, in the root manifest or an active drop-in plugin.
    ///
    /// `name` is a task's Name, or `APP/Name` where APP is an app identity or
    /// a plugin folder's name (needed when several apps declare the task).
    /// One identity is one app, wherever it was read from: when the manifest
    /// here (or `--manifest`) is also an installed plugin, `prefer` says which
    /// copy is used (``TaskSource/installed`` for commands that act on the
    /// running host's tasks, as the host does; ``TaskSource/local`` for `run`).
    func findTask(_ name: String, state: StateOptions, prefer: TaskSource = .installed) throws -> FoundTask {
        let apps = try candidateApps(state: state, prefer: prefer)
        let candidates = apps.flatMap { app in
            app.manifest.tasks.map { FoundTask(app: app.manifest, task: $0, plugin: app.plugin, resolver: app.resolver) }
        }
        let aliases = Dictionary(apps.map { ($0.manifest.identity.name, $0.aliases) }) { first, _ in first }
        let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
        let (scope, taskName) = parts.count == 2 ? (parts[0], parts[1]) : (nil, name)
        let matches = candidates.filter { found in
            found.task.name == taskName && (scope.map { aliases[found.app.identity.name, default: []].contains($0) } ?? true)
        }
        if matches.count == 1 {
            try matches[0].refuseIfDisabled(state: state)
            return matches[0]
        }
        if matches.isEmpty {
            let known = candidates.map(\.qualifiedName).joined(separator: ", ")
            // A task only the manifest here declares, when its app is installed: the host runs the installed copy.
            var onlyHere: AppManifest?
            if prefer == .installed, let here = try? loadIfPresent(), here.task(named: taskName) != nil { onlyHere = here }
            throw CLIError(
                "no task named \"\(name)\""
                    + (candidates.isEmpty
                        ? " (there is no \(path) here and no active plugin; see taskhost plugins list)"
                        : "; known tasks: \(known)")
                    + (onlyHere.map {
                        "; \(path) declares it, but the installed plugin \($0.identity.name), which the host runs, does not: copy the new version into the plugins directory"
                    } ?? ""))
        }
        throw CLIError(
            "several apps declare a task named \"\(taskName)\": \(matches.map(\.qualifiedName).joined(separator: ", ")); name one as APP/\(taskName)"
        )
    }

    /// The apps whose tasks ``findTask(_:state:prefer:)`` looks at, one per identity.
    private func candidateApps(state: StateOptions, prefer: TaskSource) throws -> [CandidateApp] {
        var local: [CandidateApp] = []
        if let root = try loadIfPresent() {
            local.append(CandidateApp(manifest: root, plugin: nil, resolver: resolver, aliases: [root.identity.name]))
        }
        let plugins =
            FileManager.default.fileExists(atPath: state.directory.databasePath)
            ? try state.openStore().plugins().filter { $0.state == .active } : []
        let installed = plugins.compactMap { plugin -> CandidateApp? in
            guard let app = try? AppManifest.load(path: plugin.stagedManifestPath) else { return nil }
            return CandidateApp(
                manifest: app, plugin: plugin.name, resolver: LibraryResolver(searchPaths: []), aliases: [app.identity.name, plugin.name])
        }
        var apps: [CandidateApp] = []
        for app in prefer == .installed ? installed + local : local + installed {
            if let index = apps.firstIndex(where: { $0.manifest.identity.name == app.manifest.identity.name }) {
                apps[index].aliases.formUnion(app.aliases)
            } else {
                apps.append(app)
            }
        }
        return apps
    }
}

/// Which copy of an app ``ManifestOptions/findTask(_:state:prefer:)`` uses
/// when the manifest here and an installed plugin have the same identity.
enum TaskSource {
    /// The active plugin's staged copy, which the running host runs.
    case installed
    /// The manifest given with `--manifest`, or `manifest.json` here.
    case local
}

/// An app whose tasks a name is looked up in.
private struct CandidateApp {
    var manifest: AppManifest
    /// The plugin folder it comes from; `nil` for the manifest here.
    var plugin: String?
    var resolver: LibraryResolver
    /// What `APP/` may say to name it: its identity and the plugin folder names it is installed as.
    var aliases: Set<String>
}

/// A task found by ``ManifestOptions/findTask(_:state:prefer:)``.
struct FoundTask {
    var app: AppManifest
    var task: TaskDeclaration
    /// The plugin folder it comes from; `nil` for the root manifest.
    var plugin: String?
    /// Finds its library.
    var resolver: LibraryResolver

    /// `identity/Name`.
    var qualifiedName: String { app.identity.name + "/" + task.name }

    /// Its library's path.
    func libraryPath() throws -> String {
        switch resolver.resolve(task.library, manifestDirectory: app.directory) {
        case .success(let path): return path
        case .failure(let notFound): throw CLIError("\(app.path): task \"\(task.name)\": \(notFound)")
        }
    }
}

/// `--arg key=value` options as a dictionary.
func parseArguments(_ arguments: [String]) throws -> [String: String] {
    var values: [String: String] = [:]
    for argument in arguments {
        let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw CLIError("--arg \(argument): expected key=value") }
        values[String(parts[0])] = String(parts[1])
    }
    return values
}

/// An error the CLI prints as it is and exits with status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    var exitCode: Int32 = 1
    init(_ description: String, exitCode: Int32 = 1) {
        self.description = description
        self.exitCode = exitCode
    }
}

extension CLIError: LocalizedError {
    var errorDescription: String? { description }
}

/// Prints `error` on standard error and exits non-zero.
func fail(_ error: CLIError) -> Never {
    FileHandle.standardError.write(Data("taskhost: \(error.description)\n".utf8))
    exit(error.exitCode)
}

func locateWorker() throws -> String {
    do {
        return try WorkerExecutable.locate()
    } catch {
        throw CLIError(error.description)
    }
}

/// Formatting shared by commands.
enum Format {
    static func duration(_ duration: Duration?) -> String {
        guard let duration else { return "-" }
        let ms = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        if ms < 1000 { return String(format: "%.0f ms", ms) }
        if ms < 60_000 { return String(format: "%.2f s", ms / 1000) }
        return String(format: "%.1f min", ms / 60_000)
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    static func shortId(_ id: String) -> String { String(id.prefix(8)) }

    /// Left-aligned columns separated by two spaces.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let widths = columnWidths(header, rows)
        return ([header] + rows).map { line($0, widths: widths) }.joined(separator: "\n")
    }

    /// Each column's width: its widest cell, at least `minimum[column]`.
    static func columnWidths(_ header: [String], _ rows: [[String]], minimum: [Int] = []) -> [Int] {
        header.indices.map { column in
            ([header] + rows).map { printable($0[column]).count }.reduce(column < minimum.count ? minimum[column] : 0, max)
        }
    }

    /// One row of a table: every cell made printable, all but the last padded to its column's width.
    static func line(_ row: [String], widths: [Int]) -> String {
        row.map { printable($0) }.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: max(widths[index], cell.count), withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }

    /// `text` safe to print on a terminal: what a plugin or a push wrote
    /// (settings, log lines, errors) cannot move the cursor, recolour the
    /// screen, rewrite earlier lines or reorder text. Control characters
    /// (C0, DEL, C1, so every escape sequence) and bidirectional overrides
    /// are shown escaped (`\n`, `\u{1B}`); tabs are kept only with `keepingTabs`.
    static func printable(_ text: String, keepingTabs: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0, keepingTabs: keepingTabs) }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar, keepingTabs: keepingTabs) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return out
    }

    private static func needsEscape(_ scalar: Unicode.Scalar, keepingTabs: Bool) -> Bool {
        switch scalar.value {
        case 0x09: !keepingTabs
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// `text` cut to at most `width` characters at a word boundary, with `…`
    /// when something was cut.
    static func truncated(_ text: String, to width: Int) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        guard flat.count > width else { return flat }
        let cut = flat.prefix(width - 1)
        let atWord = cut.lastIndex(of: " ").map { cut[..<$0] } ?? cut
        let kept = atWord.count >= width / 2 ? atWord : cut
        return kept.trimmingCharacters(in: .whitespaces) + "…"
    }
}
