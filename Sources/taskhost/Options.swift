import ArgumentParser
import Foundation
import TaskHostCore

/// Where state lives.
struct StateOptions: ParsableArguments {
    @Option(
        name: .customLong("state-dir"),
        help: ArgumentHelp(
            "The state directory (settings, history, logs).",
            discussion: "Default: $TASKHOST_STATE_DIR, else $XDG_STATE_HOME/taskhost, else ~/.local/state/taskhost.",
            valueName: "dir"))
    var stateDir: String?

    var directory: StateDirectory { StateDirectory.resolve(explicit: stateDir) }

    func openStore() throws -> SQLiteTaskStore {
        do {
            return try SQLiteTaskStore(stateDirectory: directory)
        } catch {
            throw CLIError(error.description)
        }
    }
}

/// How instances are sandboxed.
struct SandboxFlags: ParsableArguments {
    @Option(
        name: .customLong("sandbox-user"),
        help: ArgumentHelp("When taskhost runs as root, the user instances run as ('' keeps root, reported as not enforced).", valueName: "name"))
    var sandboxUser: String = "nobody"

    @Flag(name: .customLong("require-sandbox"), help: "Refuse to run an instance unless every sandbox layer is enforced (see taskhost doctor).")
    var requireSandbox = false

    /// The options, with private working directories under `state`'s `work/` (or a temporary directory).
    func options(state: StateDirectory? = nil) -> SandboxOptions {
        var options = SandboxOptions(user: sandboxUser.isEmpty ? nil : sandboxUser, required: requireSandbox)
        if let state { options.workRoot = state.path + "/work" }
        return options
    }
}

/// Which manifest, and where its libraries are.
struct ManifestOptions: ParsableArguments {
    @Option(name: .customLong("manifest"), help: ArgumentHelp("The app manifest.", valueName: "path"))
    var manifest: String = "manifest.json"

    @Option(
        name: .customLong("library-path"),
        help: ArgumentHelp(
            "A directory to search for plugin libraries (repeatable).",
            discussion: "Searched after the manifest's directory and its lib/, before $TASKHOST_LIBRARY_PATH and the taskhost executable's directory.",
            valueName: "dir"))
    var libraryPaths: [String] = []

    var resolver: LibraryResolver { LibraryResolver.standard(extraPaths: libraryPaths) }

    func load() throws -> AppManifest {
        do {
            return try AppManifest.load(path: manifest)
        } catch {
            throw CLIError(error.description)
        }
    }
}

extension AppManifest {
    /// The task named `name`, or an error listing the tasks the manifest declares.
    func requireTask(named name: String) throws -> TaskDeclaration {
        guard let task = task(named: name) else {
            throw CLIError("\(path): no task named \"\(name)\"; the manifest declares: \(tasks.map(\.name).joined(separator: ", "))")
        }
        return task
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
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
