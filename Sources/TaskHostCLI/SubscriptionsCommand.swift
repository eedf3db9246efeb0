import ArgumentParser
import Foundation
import TaskHostCore
import TaskHostManifest
import TaskHostStore
import TaskHostWebPush

struct SubscriptionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscriptions",
        abstract: "Create, list and revoke Web Push subscriptions.",
        discussion: """
            A subscription is a Web Push endpoint (256 random bits) bound to one task, with the P-256 key pair and auth \
            secret that pushes to it are encrypted to (RFC 8291). create prints it as a browser's PushSubscription.toJSON() \
            does, ready for any Web Push library; the private key never leaves the host.
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a subscription for a task and print it as PushSubscription.toJSON() does.")
        @Argument(help: "The task's Name (APP/Name when several apps declare it).") var task: String
        @Option(
            name: .customLong("application-server-key"),
            help: ArgumentHelp(
                "Accept only pushes signed (VAPID) by this key.",
                discussion:
                    "The application server's VAPID public key, base64url, as PushManager.subscribe({applicationServerKey}) takes it.",
                valueName: "key"))
        var applicationServerKey: String?
        @Option(
            name: .customLong("expires"),
            help: ArgumentHelp(
                "Lifetime, e.g. 3600, 90m, 12h or 30d (default: none; expirationTime null).", valueName: "duration"))
        var expires: String?
        @OptionGroup var serverOptions: ServerOptions
        @OptionGroup var manifestOptions: ManifestOptions
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let found = try manifestOptions.findTask(task, state: stateOptions)
            if !found.task.triggers.contains(.webPush) {
                FileHandle.standardError.write(
                    Data(
                        "taskhost: warning: task \"\(task)\" declares no WebPush trigger; pushes will still run it\n".utf8))
            }
            var serverKey: [UInt8]?
            if let applicationServerKey {
                guard let key = Base64URL.decode(applicationServerKey), key.count == 65, key.first == 4 else {
                    throw CLIError(
                        "--application-server-key must be an uncompressed P-256 public key in base64url (65 bytes, starting with 0x04), as PushManager.subscribe takes it"
                    )
                }
                serverKey = key
            }
            let now = Date()
            let expiresAt = try expires.map { text in now.addingTimeInterval(try Self.seconds(text)) }
            let subscription = WebPushSubscription.make(
                app: found.app.identity.name, task: found.task.name, applicationServerKey: serverKey, expiresAt: expiresAt, now: now)
            try stateOptions.openStore().insertSubscription(subscription)
            print(subscription.json(baseURL: serverOptions.resolve(state: stateOptions.directory, announce: true)))
        }

        /// Seconds in `text`: a number, optionally followed by s, m, h or d.
        static func seconds(_ text: String) throws -> TimeInterval {
            guard let seconds = DurationText.seconds(text) else {
                throw CLIError("--expires must be a positive duration: seconds, or a number followed by s, m, h or d (e.g. 30d)")
            }
            return seconds
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List subscriptions (never their keys).")
        @OptionGroup var serverOptions: ServerOptions
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let subscriptions = try stateOptions.openStore().subscriptions(app: nil)
            guard !subscriptions.isEmpty else {
                print("no subscriptions yet (taskhost subscriptions create TASK)")
                return
            }
            let now = Date()
            let baseURL = serverOptions.resolve(state: stateOptions.directory, announce: false)
            print(
                Format.table(
                    ["ID", "APP", "TASK", "STATE", "EXPIRES", "RESTRICTED", "ENDPOINT"],
                    subscriptions.map { subscription in
                        let state = subscription.revokedAt != nil ? "revoked" : (subscription.isUsable(at: now) ? "active" : "expired")
                        return [
                            String(subscription.id.prefix(12)), subscription.app, subscription.task, state,
                            subscription.expiresAt.map(Format.timestamp) ?? "never",
                            subscription.applicationServerKey == nil ? "no" : "yes",
                            subscription.endpoint(baseURL: baseURL),
                        ]
                    }))
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a subscription: pushes to it get 410 Gone.")
        @Argument(help: "The subscription id (or its first characters).") var id: String
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let store = try stateOptions.openStore()
            let matches = try store.subscriptions(app: nil).filter { $0.id == id || (id.count >= 6 && $0.id.hasPrefix(id)) }
            guard let subscription = matches.first else { throw CLIError("no subscription \"\(id)\" (taskhost subscriptions list)") }
            guard matches.count == 1 else { throw CLIError("subscription id \"\(id)\" is ambiguous; give more of it") }
            guard try store.revokeSubscription(id: subscription.id, at: Date()) else {
                throw CLIError("subscription \(id) is already revoked")
            }
            print("subscription \(subscription.id.prefix(12)) revoked")
        }
    }
}
