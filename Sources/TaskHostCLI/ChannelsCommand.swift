import ArgumentParser
import Foundation
import TaskHostCore
import TaskHostManifest
import TaskHostStore

/// Where the server is reachable, for channel URIs.
struct ServerOptions: ParsableArguments {
    static let defaultURL = "http://127.0.0.1:8080"

    @Option(
        name: .customLong("base-url"),
        help: ArgumentHelp(
            "The server's URL as app servers reach it.",
            discussion:
                "Default: $TASKHOST_PUBLIC_URL, else the public URL the running taskhost serve recorded in the state directory, else \(defaultURL).",
            valueName: "url"))
    var baseURL: String?

    /// The base of channel URIs: `--base-url`, else `TASKHOST_PUBLIC_URL`,
    /// else the running host's public URL, else ``defaultURL``; with
    /// `announce`, says on standard error when no host is running to ask.
    func resolve(state: StateDirectory, announce: Bool) -> String {
        if let baseURL, !baseURL.isEmpty { return baseURL }
        if let environment = ProcessInfo.processInfo.environment["TASKHOST_PUBLIC_URL"], !environment.isEmpty { return environment }
        if let host = HostLock.holder(of: state) {
            if let url = host.publicURL { return url }
            if announce {
                FileHandle.standardError.write(
                    Data(
                        "taskhost: the host on \(state.path) (\(host.summary)) has not recorded its address yet; the URI assumes \(Self.defaultURL) (pass --base-url, or create the channel again once it listens)\n"
                            .utf8))
            }
            return Self.defaultURL
        }
        if announce {
            FileHandle.standardError.write(
                Data(
                    "taskhost: no host is running on the state directory \(state.path); the URI assumes \(Self.defaultURL), where taskhost serve listens by default (pass --base-url or set TASKHOST_PUBLIC_URL otherwise)\n"
                        .utf8))
        }
        return Self.defaultURL
    }
}

struct ChannelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "channels",
        abstract: "Create, list, renew and revoke push channels.",
        discussion:
            "A channel is an unguessable URI (256 random bits) bound to one task. It expires after 30 days unless renewed, like a WNS channel.",
        subcommands: [Create.self, List.self, Renew.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a channel for a task and print its URI.")
        @Argument(help: "The task's Name (APP/Name when several apps declare it).") var task: String
        @Option(name: .customLong("expires-in-days"), help: "Lifetime in days.") var days: Double = 30
        @OptionGroup var serverOptions: ServerOptions
        @OptionGroup var manifestOptions: ManifestOptions
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let found = try manifestOptions.findTask(task, state: stateOptions)
            let declaration = found.task
            if !declaration.triggers.contains(.pushNotification) {
                FileHandle.standardError.write(
                    Data("taskhost: warning: task \"\(task)\" declares no PushNotification trigger; pushes will still run it\n".utf8))
            }
            guard days > 0 else { throw CLIError("--expires-in-days must be positive") }
            let now = Date()
            let channel = PushChannel(
                id: PushChannel.newId(), app: found.app.identity.name, task: declaration.name, createdAt: now,
                expiresAt: now.addingTimeInterval(days * 24 * 3600), revokedAt: nil)
            try stateOptions.openStore().insertChannel(channel)
            print(channel.uri(baseURL: serverOptions.resolve(state: stateOptions.directory, announce: true)))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List channels.")
        @OptionGroup var serverOptions: ServerOptions
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let channels = try stateOptions.openStore().channels(app: nil)
            guard !channels.isEmpty else {
                print("no channels yet (taskhost channels create TASK)")
                return
            }
            let now = Date()
            let baseURL = serverOptions.resolve(state: stateOptions.directory, announce: false)
            print(
                Format.table(
                    ["ID", "APP", "TASK", "STATE", "EXPIRES", "URI"],
                    channels.map { channel in
                        let state = channel.revokedAt != nil ? "revoked" : (channel.expiresAt <= now ? "expired" : "active")
                        return [
                            String(channel.id.prefix(12)), channel.app, channel.task, state, Format.timestamp(channel.expiresAt),
                            channel.uri(baseURL: baseURL),
                        ]
                    }))
        }
    }

    struct Renew: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Extend a channel's lifetime.")
        @Argument(help: "The channel id (or its first characters).") var id: String
        @Option(name: .customLong("expires-in-days"), help: "New lifetime from now, in days.") var days: Double = 30
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let store = try stateOptions.openStore()
            let channel = try ChannelsCommand.find(id, in: store)
            guard let renewed = try store.renewChannel(id: channel.id, expiresAt: Date().addingTimeInterval(days * 24 * 3600)) else {
                throw CLIError("channel \(id) is revoked; create a new one")
            }
            print("channel \(renewed.id.prefix(12)) expires \(Format.timestamp(renewed.expiresAt))")
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a channel: pushes to it get 410 Gone.")
        @Argument(help: "The channel id (or its first characters).") var id: String
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let store = try stateOptions.openStore()
            let channel = try ChannelsCommand.find(id, in: store)
            guard try store.revokeChannel(id: channel.id, at: Date()) else { throw CLIError("channel \(id) is already revoked") }
            print("channel \(channel.id.prefix(12)) revoked")
        }
    }

    static func find(_ id: String, in store: any HostStore) throws -> PushChannel {
        let matches = try store.channels(app: nil).filter { $0.id == id || (id.count >= 6 && $0.id.hasPrefix(id)) }
        guard let channel = matches.first else { throw CLIError("no channel \"\(id)\" (taskhost channels list)") }
        guard matches.count == 1 else { throw CLIError("channel id \"\(id)\" is ambiguous; give more of it") }
        return channel
    }
}

/// Which app a new credential belongs to: the options of ``AppOptions``, with
/// help that says what the app means for a token.
struct CredentialAppOptions: ParsableArguments {
    @Option(
        name: .customLong("app"),
        help: ArgumentHelp("The app (its manifest's Identity.Name) whose channels the token may push to.", valueName: "name"))
    var app: String?

    @Option(
        name: .customLong("manifest"),
        help: ArgumentHelp("Take the app from this manifest's Identity.Name.", valueName: "path"))
    var manifest: String = "manifest.json"

    /// The app, resolved as the settings commands resolve theirs.
    func resolve(store: any HostStore) throws -> String {
        try AppOptions.parse(["--manifest", manifest] + (app.map { ["--app", $0] } ?? [])).resolve(store: store, forWriting: true)
    }
}

struct CredentialsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credentials",
        abstract: "Create, list and revoke app-server credentials for the push endpoint.",
        discussion: """
            A credential's token is sent as Authorization: Bearer <token>. It is printed once; \
            taskhost keeps only a SHA-256 hash of its secret.

            A token belongs to one app: it may push to that app's channels only, and another \
            app's channel answers 404, as a missing one does. An app server that pushes to several apps needs a token \
            of each.
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a credential and print its token (once).",
            discussion: """
                The token may push to the channels of one app only (another app's channel \
                answers 404, as a missing one does): --app, else the Identity.Name of ./manifest.json (or --manifest), \
                else the only app the store knows.
                """)
        @Option(help: "A note saying who uses it.") var label: String = ""
        @Flag(
            help: ArgumentHelp(
                "Make a listen token: it may listen to the app's pushes (GET /listen/v1/APP, taskhost listen) and claim them, not push.",
                discussion: "Without it, the token may push and not listen."))
        var listen = false
        @OptionGroup var appOptions: CredentialAppOptions
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let store = try stateOptions.openStore()
            let app = try appOptions.resolve(store: store)
            let (credential, token) = Credential.make(app: app, label: label, scope: listen ? .listen : .push)
            try store.insertCredential(credential)
            print(token)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List credentials (never their secrets).")
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let credentials = try stateOptions.openStore().credentials()
            guard !credentials.isEmpty else {
                print("no credentials yet (taskhost credentials create)")
                return
            }
            print(
                Format.table(
                    ["ID", "APP", "SCOPE", "CREATED", "STATE", "LABEL"],
                    credentials.map {
                        [
                            $0.id, $0.app, $0.scope.rawValue, Format.timestamp($0.createdAt), $0.revokedAt == nil ? "active" : "revoked",
                            $0.label,
                        ]
                    }))
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a credential: its token gets 401.")
        @Argument(help: "The credential id (cr_…).") var id: String
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            guard try stateOptions.openStore().revokeCredential(id: id, at: Date()) else {
                throw CLIError("no active credential \"\(id)\" (taskhost credentials list)")
            }
            print("credential \(id) revoked")
        }
    }
}
