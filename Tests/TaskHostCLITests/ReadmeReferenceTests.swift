import Foundation
import Testing

/// README.md's CLI reference against the built `taskhost`: every command,
/// option and environment variable the program accepts is documented, so the
/// two cannot drift apart unnoticed; and the help texts read as written.
@Suite struct ReadmeReferenceTests {
    @Test func everyOptionOfEveryCommandIsInTheReadme() throws {
        let commands = try CommandReference.all()
        let readme = try ReadmeCLIReference.load()
        // The walk itself: a dump that lost commands or options would pass vacuously.
        #expect(commands.contains { $0.path == ["channels", "create"] && $0.options.contains("--expires-in-days") })
        #expect(commands.reduce(0) { $0 + $1.options.count } > 100)

        let missing = commands.flatMap { command in
            command.options.filter { !readme.documents($0, of: command.path) }.map { "\(command.name) \($0)" }
        }
        #expect(
            missing.isEmpty,
            """
            README.md's CLI section does not document these options (add each under its command's \
            heading, or to "Options shared by several commands" with the command listed): \
            \(missing.joined(separator: ", "))
            """)
    }

    @Test func theReadmeClaimsNoOptionACommandLacks() throws {
        let commands = try CommandReference.all()
        let claims = try ReadmeCLIReference.load().claimedOptions(commands: commands)
        #expect(claims.contains { $0.command == ["history"] && $0.option == "-f" })
        let wrong = claims.filter { claim in
            !(commands.first { $0.path == claim.command }?.options.contains(claim.option) ?? false)
        }.map { "\($0.command.joined(separator: " ")) \($0.option)" }
        #expect(
            wrong.isEmpty,
            "README.md's CLI section gives commands options taskhost --help does not list for them: \(wrong.joined(separator: ", "))")
    }

    @Test func theCommandTableNamesEveryCommand() throws {
        let commands = try CommandReference.all().filter { !$0.path.isEmpty }
        let named = try ReadmeCLIReference.load().commandTable
        #expect(named.count >= 20)
        let missing = commands.filter { command in
            !named.contains { command.isGroup ? $0.starts(with: command.path) : $0 == command.path }
        }.map(\.name)
        #expect(missing.isEmpty, "README.md's command table (## CLI) does not name: \(missing.joined(separator: ", "))")
        let unknown = named.filter { path in !commands.contains { $0.path == path } }.map { $0.joined(separator: " ") }
        #expect(unknown.isEmpty, "README.md's command table names commands taskhost does not have: \(unknown.joined(separator: ", "))")
    }

    @Test func everyEnvironmentVariableTheSourcesUseIsInTheReadme() throws {
        let used = try environmentVariablesInSources()
        #expect(used.contains("TASKHOST_STATE_DIR") && used.contains("TASKHOST_TOKEN"), "\(used)")
        let documented = try ReadmeCLIReference.load().environmentVariables
        let missing = used.subtracting(documented).sorted()
        #expect(
            missing.isEmpty,
            "README.md's \"Environment variables\" table (## CLI) does not list: \(missing.joined(separator: ", "))")
    }

    /// The parser re-wraps help paragraphs to the terminal's width, so a hard
    /// line break inside a paragraph in the source shows up as a line that
    /// stops short: one the next word would still have fit on. Checked at the
    /// default width, and at one so wide that the parser wraps nothing (there,
    /// every break inside a paragraph is one written in the source).
    @Test(arguments: [CLIProcess.columns, 1000])
    func helpParagraphsAreNotBrokenMidSentence(columns: Int) throws {
        var broken: [String] = []
        for command in try CommandReference.all() {
            let help = try CLIProcess.run(command.path + ["--help"], columns: columns)
            #expect(help.status == 0, "\(command.name) --help: \(help.stderr)")
            let overview = help.stdout.components(separatedBy: "\nUSAGE:")[0]
            let lines = overview.split(separator: "\n", omittingEmptySubsequences: false)
            for (line, next) in zip(lines, lines.dropFirst()) {
                let indent = line.prefix { $0 == " " }.count
                // A line ending in \ continues a shell command on purpose.
                guard !line.allSatisfy({ $0 == " " }), !next.allSatisfy({ $0 == " " }), !line.hasSuffix("\\"),
                    next.prefix(while: { $0 == " " }).count == indent,
                    let word = next.split(separator: " ").first
                else { continue }
                if line.count + 1 + word.count + 1 <= columns {
                    broken.append("\(command.name): \"\(line)⏎\(next)\"")
                }
            }
        }
        #expect(
            broken.isEmpty,
            """
            at \(columns) columns, these help lines end early: write each paragraph of an abstract or discussion as one \
            line (a trailing \\ in a multi-line string literal; a blank line between paragraphs): \(broken.joined(separator: "; "))
            """)
    }

    /// A token authenticates pushes to one app's channels: the help says so,
    /// not (as before) that `--app` picks whose settings to use.
    @Test func credentialsCreateHelpSaysTheTokenBelongsToOneApp() throws {
        let help = try CLIProcess.run(["credentials", "create", "--help"])
        #expect(help.status == 0)
        #expect(!help.stdout.contains("whose settings"), "\(help.stdout)")
        #expect(help.stdout.contains("--app") && help.stdout.contains("channels"), "\(help.stdout)")
        #expect(help.stdout.contains("404"), "\(help.stdout)")
    }
}
