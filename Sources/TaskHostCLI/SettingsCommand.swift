import ArgumentParser
import Foundation
import TaskHostCore
import TaskHostManifest
import TaskHostShared
import TaskHostStore

/// Which app's settings.
struct AppOptions: ParsableArguments {
    @Option(name: .customLong("app"), help: ArgumentHelp("The app (manifest Identity.Name) whose settings to use.", valueName: "name"))
    var app: String?

    @Option(name: .customLong("manifest"), help: ArgumentHelp("Take the app from this manifest.", valueName: "path"))
    var manifest: String = "manifest.json"

    /// --app, else the manifest's identity, else the only app in the store.
    ///
    /// An `--app` that nothing here knows (no setting, instance, channel,
    /// plugin, nor the manifest) is an error naming the known apps when the
    /// command reads (`forWriting: false`): a typo would otherwise print
    /// nothing and exit 0. A command that writes (`settings set`,
    /// `credentials create`) may name an app before anything of it is here, so
    /// it only warns.
    func resolve(store: any HostStore, forWriting: Bool = false) throws -> String {
        if let app {
            let known = try knownApps(store: store)
            if !known.contains(app) {
                let message =
                    "no app named \"\(app)\""
                    + (known.isEmpty
                        ? "; no app has settings, history, channels or a plugin here yet"
                        : "; known apps: \(known.sorted().joined(separator: ", "))") + " (--app takes a manifest's Identity.Name)"
                guard forWriting else { throw CLIError(message) }
                FileHandle.standardError.write(Data("taskhost: note: \(message); going on, as for a new app\n".utf8))
            }
            return app
        }
        if FileManager.default.fileExists(atPath: manifest) {
            do {
                return try AppManifest.load(path: manifest).identity.name
            } catch {
                throw CLIError(error.description)
            }
        }
        let apps = try store.apps()
        if apps.count == 1 { return apps[0] }
        if apps.isEmpty { throw CLIError("no app has settings or history yet (and there is no \(manifest) here); pass --app NAME") }
        throw CLIError(
            "several apps have settings or history here (\(apps.joined(separator: ", "))) and there is no \(manifest) here to choose one; pass --app NAME"
        )
    }
}

extension AppOptions {
    /// Apps with settings, history or channels, the identities of plugins, and the manifest's.
    func knownApps(store: any HostStore) throws -> Set<String> {
        var known = Set(try store.apps())
        known.formUnion(try store.channels(app: nil).map(\.app))
        known.formUnion(try store.plugins().map(\.identity).filter { !$0.isEmpty })
        if let identity = try? AppManifest.load(path: manifest).identity.name { known.insert(identity) }
        return known
    }
}

struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "Read and write an app's local settings (ApplicationData.current.localSettings).",
        discussion: "The app is --app, else the Identity.Name of ./manifest.json (or --manifest), else the only app in the store.",
        subcommands: [Get.self, Set.self, List.self, Delete.self])

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one setting's value.")
        @Argument(help: "The setting's name.") var key: String
        @Flag(name: .customLong("type"), help: "Print the value's type before it.") var showType = false
        @OptionGroup var appOptions: AppOptions
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let store = try stateOptions.openStore()
            let app = try appOptions.resolve(store: store)
            guard let setting = try store.setting(app: app, key: key) else {
                throw CLIError("no setting \"\(key)\" in app \(app)")
            }
            print(showType ? "\(setting.value.typeName) \(setting.value)" : setting.value.description)
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write one setting.",
            discussion: "Values are checked against Windows' limits: names up to 255 characters, values up to 8 KB.")
        @Argument(help: "The setting's name.") var key: String
        @Argument(help: "The value, as text in the chosen type.") var value: String
        @Option(help: "string, int, uint, double, bool, date (ISO 8601), uuid or bytes (base64).")
        var type: String = "string"
        @OptionGroup var appOptions: AppOptions
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let parsed = try Self.parse(value, as: type)
            do {
                try SettingValue.validate(name: key)
                try parsed.validate(name: key)
            } catch {
                throw CLIError(error.description)
            }
            let store = try stateOptions.openStore()
            let app = try appOptions.resolve(store: store, forWriting: true)
            try store.setSetting(app: app, key: key, value: parsed)
        }

        static func parse(_ text: String, as type: String) throws -> SettingValue {
            let value: SettingValue?
            switch type {
            case "string": value = .string(text)
            case "int": value = Int64(text).map(SettingValue.int)
            case "uint": value = UInt64(text).map(SettingValue.uint)
            case "double": value = Double(text).map(SettingValue.double)
            case "bool": value = Bool(text).map(SettingValue.bool)
            case "date": value = (try? Date(text, strategy: .iso8601)).map(SettingValue.date)
            case "uuid": value = UUID(uuidString: text).map(SettingValue.uuid)
            case "bytes": value = Data(base64Encoded: text).map { .bytes(Array($0)) }
            default:
                throw CLIError("unknown --type \(type); use string, int, uint, double, bool, date, uuid or bytes")
            }
            guard let value else { throw CLIError("\"\(text)\" is not a valid \(type)") }
            return value
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every setting with its type and value.")
        @OptionGroup var appOptions: AppOptions
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let store = try stateOptions.openStore()
            let app = try appOptions.resolve(store: store)
            let settings = try store.settings(app: app)
            guard !settings.isEmpty else {
                print("no settings in app \(app)")
                return
            }
            print(
                Format.table(
                    ["NAME", "TYPE", "UPDATED", "VALUE"],
                    settings.map { [$0.key, $0.value.typeName, Format.timestamp($0.updatedAt), String($0.value.description.prefix(100))] }))
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete one setting.")
        @Argument(help: "The setting's name.") var key: String
        @OptionGroup var appOptions: AppOptions
        @OptionGroup var stateOptions: StateOptions

        func run() throws {
            let store = try stateOptions.openStore()
            let app = try appOptions.resolve(store: store)
            guard try store.deleteSetting(app: app, key: key) else {
                throw CLIError("no setting \"\(key)\" in app \(app)")
            }
        }
    }
}
