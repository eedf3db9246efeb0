import ArgumentParser
import Foundation
import Logging
import TaskHostClient

/// `taskhost listen APP`: a foreground listener on the command line.
struct ListenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Print an app's pushes as they are stored, as JSON lines (and claim them with --claim).",
        discussion: """
            Connects to GET /listen/v1/APP on a running taskhost serve (a WebSocket) and prints one JSON object \
            per push, once the host has stored it: triggerId, channelId, task, headers, payload (base64), \
            claimWindowMs. With --claim, it claims every push: the first claim wins, the trigger is settled as \
            claimed and no background task runs for it ("claimed": true on the line); while it is connected, the \
            app's pushes wait their task's ClaimWindowMs (default 100 ms) before they are dispatched.

            The token must be allowed to listen: taskhost credentials create --app APP --listen. \
            Runs until interrupted (Ctrl-C) or the host closes the connection.
            """)

    @Argument(help: "The app whose pushes to print (its Identity.Name).") var app: String
    @Flag(help: "Claim every push (no background task runs for a push this listener claimed).") var claim = false
    @Option(
        help: ArgumentHelp(
            "The server's URL.", discussion: "Default: $TASKHOST_PUBLIC_URL, else \(ServerOptions.defaultURL).", valueName: "url"))
    var url: String?
    @Option(
        name: [.customLong("token"), .customLong("credential")],
        help: "A listen token (taskhost credentials create --app APP --listen); default $TASKHOST_TOKEN.")
    var token: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let token = token ?? environment["TASKHOST_TOKEN"], !token.isEmpty else {
            throw CLIError("give --token (or set TASKHOST_TOKEN); create one with taskhost credentials create --app \(app) --listen")
        }
        let base = url ?? environment["TASKHOST_PUBLIC_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? ServerOptions.defaultURL
        var logger = Logger(label: "taskhost.listen")
        logger.logLevel = .critical
        let claiming = claim
        let listener = TaskHostListener(url: base, app: app, token: token, claims: claiming, logger: logger)
        do {
            try await listener.run { pushes in
                for try await push in pushes {
                    var line: [String: Any] = [
                        "triggerId": push.triggerId, "channelId": push.channelId, "task": push.task, "headers": push.headers,
                        "payload": Data(push.payload).base64EncodedString(),
                        "claimWindowMs": push.claimWindow.components.seconds * 1000 + push.claimWindow.components.attoseconds
                            / 1_000_000_000_000_000,
                    ]
                    if claiming {
                        let won = try await pushes.claim(push)
                        line["claimed"] = won
                        if !won, let reason = pushes.refusal(of: push.triggerId) { line["claimRefused"] = reason }
                    }
                    let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys, .withoutEscapingSlashes])
                    FileHandle.standardOutput.write(data + Data("\n".utf8))
                }
            }
        } catch let error as ListenError {
            throw CLIError("\(error)")
        }
    }
}
