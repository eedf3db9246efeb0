import Foundation
import TaskHostTestSupport

/// What `taskhost --experimental-dump-help` says about every command: its
/// path (`["channels", "create"]`), its help texts and the names of its options.
struct CommandReference {
    /// The words after `taskhost`; empty for `taskhost` itself.
    var path: [String]
    /// Every name of every displayed option and flag, spelled as typed: `--limit`, `-l`.
    var options: [String]
    /// Whether it has subcommands (a group such as `channels`).
    var isGroup: Bool

    /// `channels create`; `taskhost` for the root command.
    var name: String { path.isEmpty ? "taskhost" : path.joined(separator: " ") }

    private struct Dump: Decodable {
        var command: Command
    }

    private struct Command: Decodable {
        var commandName: String
        var arguments: [Argument]?
        var subcommands: [Command]?
    }

    private struct Argument: Decodable {
        var names: [Name]?
        var shouldDisplay: Bool
    }

    private struct Name: Decodable {
        var kind: String
        var name: String

        var spelled: String { kind == "long" ? "--" + name : "-" + name }
    }

    /// Every command of the built `taskhost`, the root first.
    static func all() throws -> [CommandReference] {
        let output = try CLIProcess.run(["--experimental-dump-help"])
        guard output.status == 0 else { throw CLIProcess.Failure("taskhost --experimental-dump-help failed: \(output.stderr)") }
        let dump = try JSONDecoder().decode(Dump.self, from: Data(output.stdout.utf8))
        var commands: [CommandReference] = []
        func walk(_ command: Command, path: [String]) {
            let options = (command.arguments ?? []).filter(\.shouldDisplay).flatMap { ($0.names ?? []).map(\.spelled) }
            commands.append(CommandReference(path: path, options: options, isGroup: !(command.subcommands ?? []).isEmpty))
            for subcommand in command.subcommands ?? [] {
                walk(subcommand, path: path + [subcommand.commandName])
            }
        }
        walk(dump.command, path: [])
        return commands
    }
}

/// Runs the built `taskhost` with help-sized output.
enum CLIProcess {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// The width help text is wrapped to (through `COLUMNS`) unless a run says otherwise.
    static let columns = 80

    static func run(_ arguments: [String], columns: Int = columns) throws -> (status: Int32, stdout: String, stderr: String) {
        let directory = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try TaskHostCommand.run(
            arguments, in: directory, stateDirectory: directory, environment: ["COLUMNS": String(columns), "LINES": "25"])
        return (result.status, result.stdout, result.stderr)
    }
}

/// README.md's `## CLI` section, read as the reference it is meant to be.
///
/// - The command table (the first table whose header starts with `Command`)
///   names commands in its first column: `` `taskhost channels create TASK` ``.
/// - "Options shared by several commands" is a table: options in the first
///   column, the commands that take them in the second (`` `serve` ``,
///   `` `plugins list` ``; a group such as `` `settings` `` covers its
///   subcommands; "every command" covers all).
/// - Every other option is under a heading that names its command:
///   `` #### `taskhost history` ``.
/// - "Environment variables" is a subsection listing every variable.
struct ReadmeCLIReference {
    /// The CLI section, fenced code blocks removed.
    var text: String

    init(readme: String) throws {
        guard let start = readme.range(of: "\n## CLI\n") else { throw CLIProcess.Failure("README.md has no \"## CLI\" section") }
        let rest = readme[start.upperBound...]
        let section = rest.range(of: "\n## ").map { rest[..<$0.lowerBound] } ?? rest
        var kept: [Substring] = []
        var inFence = false
        for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                inFence.toggle()
            } else if !inFence {
                kept.append(line)
            }
        }
        text = kept.joined(separator: "\n")
    }

    static func load() throws -> ReadmeCLIReference {
        try ReadmeCLIReference(readme: String(contentsOfFile: TestSupport.repository + "/README.md", encoding: .utf8))
    }

    var lines: [Substring] { text.split(separator: "\n", omittingEmptySubsequences: false) }

    /// The contents of each `code span` in `text`.
    static func codeSpans(_ text: some StringProtocol) -> [String] {
        let parts = text.split(separator: "`", omittingEmptySubsequences: false)
        return stride(from: 1, to: parts.count, by: 2).map { String(parts[$0]) }.filter { !$0.isEmpty }
    }

    /// The options spelled in `text`'s code spans: `--limit`, `-l`, `--no-dispatch` (not `--dispatch`).
    static func optionTokens(_ text: some StringProtocol) -> Set<String> {
        var tokens: Set<String> = []
        let boundary = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
        for span in codeSpans(text) {
            let characters = Array(span)
            var index = 0
            while index < characters.count {
                guard characters[index] == "-", index == 0 || !boundary.contains(characters[index - 1]) else {
                    index += 1
                    continue
                }
                var end = index + 1
                if end < characters.count, characters[end] == "-" { end += 1 }
                let nameStart = end
                while end < characters.count, characters[end].isLetter || characters[end].isNumber || characters[end] == "-" { end += 1 }
                if end > nameStart, characters[nameStart].isLetter { tokens.insert(String(characters[index..<end])) }
                index = max(end, index + 1)
            }
        }
        return tokens
    }

    /// The command path a code span names: `taskhost settings get KEY` → `["settings", "get"]`.
    static func commandPath(_ span: String) -> [String]? {
        let words = span.split(separator: " ").map(String.init)
        guard words.first == "taskhost" else { return nil }
        return Array(words.dropFirst().prefix { $0.allSatisfy { $0.isLowercase || $0 == "-" } && $0.first?.isLetter == true })
    }

    /// The cells of a markdown table row (`\|` does not split).
    static func cells(_ row: Substring) -> [String]? {
        guard row.hasPrefix("|") else { return nil }
        var cells: [String] = []
        var current = ""
        var previous: Character = " "
        for character in row.dropFirst() {
            if character == "|", previous != "\\" {
                cells.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
            previous = character
        }
        return cells
    }

    /// The commands the command table names.
    var commandTable: [[String]] {
        var rows: [[String]] = []
        var inTable = false
        for line in lines {
            guard let cells = Self.cells(line) else {
                if inTable { break }
                continue
            }
            if !inTable {
                inTable = cells.first == "Command"
                continue
            }
            if let first = cells.first, let span = Self.codeSpans(first).first, let path = Self.commandPath(span) { rows.append(path) }
        }
        return rows
    }

    /// The lines of the subsection whose heading contains `title`, up to the next heading.
    func subsection(_ title: String) -> [Substring] {
        guard let start = lines.firstIndex(where: { $0.hasPrefix("#") && $0.localizedCaseInsensitiveContains(title) }) else { return [] }
        let body = lines[(start + 1)...]
        return Array(body.prefix { !$0.hasPrefix("#") })
    }

    /// Whether `option` of `command` is documented: in the shared table for
    /// this command, or under a heading naming the command.
    func documents(_ option: String, of command: [String]) -> Bool {
        for row in subsection("Options shared by several commands").compactMap(Self.cells) where row.count >= 2 {
            guard Self.optionTokens(row[0]).contains(option) else { continue }
            if row[1].contains("every command") { return true }
            let covered = Self.codeSpans(row[1]).map { $0.split(separator: " ").map(String.init) }
            if covered.contains(where: { !$0.isEmpty && command.starts(with: $0) }) { return true }
        }
        var inSection = false
        for line in lines {
            if line.hasPrefix("#") {
                inSection = Self.codeSpans(line).compactMap(Self.commandPath).contains(command)
            } else if inSection, Self.optionTokens(line).contains(option) {
                return true
            }
        }
        return false
    }

    /// What the README says each command accepts: every option of a shared-table
    /// row for each command it lists (a group stands for its subcommands; rows
    /// for "every command" are left out), and every option under a command's heading.
    func claimedOptions(commands: [CommandReference]) -> [(command: [String], option: String)] {
        var claims: [(command: [String], option: String)] = []
        for row in subsection("Options shared by several commands").compactMap(Self.cells) where row.count >= 2 {
            let options = Self.optionTokens(row[0])
            for span in Self.codeSpans(row[1]) {
                let prefix = span.split(separator: " ").map(String.init)
                for command in commands where !command.isGroup && command.path.starts(with: prefix) {
                    claims += options.sorted().map { (command.path, $0) }
                }
            }
        }
        var current: [[String]] = []
        for line in lines {
            if line.hasPrefix("#") {
                current = Self.codeSpans(line).compactMap(Self.commandPath)
            } else {
                for path in current {
                    claims += Self.optionTokens(line).sorted().map { (path, $0) }
                }
            }
        }
        return claims
    }

    /// The variables the "Environment variables" subsection names.
    var environmentVariables: Set<String> {
        let spans: [String] = subsection("Environment variables").flatMap { Self.codeSpans($0) }
        return Set(spans.flatMap { span in span.split(separator: " ").map(String.init) })
    }
}

/// Every `TASKHOST_*` name in the Swift sources under `Sources/`.
func environmentVariablesInSources() throws -> Set<String> {
    let root = TestSupport.repository + "/Sources"
    guard let files = FileManager.default.enumerator(atPath: root) else { throw CLIProcess.Failure("cannot list \(root)") }
    var names: Set<String> = []
    for case let file as String in files where file.hasSuffix(".swift") {
        let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
        var rest = text[...]
        while let match = rest.range(of: "TASKHOST_") {
            let name = rest[match.lowerBound...].prefix { $0.isUppercase || $0.isNumber || $0 == "_" }
            if name.count > "TASKHOST_".count { names.insert(String(name)) }
            rest = rest[match.upperBound...]
        }
    }
    return names
}
