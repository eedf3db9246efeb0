import ArgumentParser
import Foundation

struct NewPluginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new-plugin",
        abstract: "Write a new plugin package: one task class, its test, a manifest and a README.",
        discussion: """
            Creates DIR/NAME (default ./NAME), a standalone SwiftPM package with a dynamic \
            library product NAME that depends on this taskhost's BackgroundTaskKit (by path: \
            --sdk, by default the repository this taskhost was built from), a task class \
            NAMETask, a test that runs it in-process with BackgroundTaskKitTesting, a \
            manifest.json, and a README whose commands call this taskhost by its absolute path.

            Then: cd NAME && swift build && swift test, and run it with taskhost (see its README).
            """)

    @Argument(help: "The plugin's name: a Swift module name such as WeatherSync.") var name: String
    @Option(help: ArgumentHelp("Where to create the package directory.", valueName: "dir")) var output: String = "."
    @Option(help: ArgumentHelp("The taskhost repository the package depends on.", valueName: "path")) var sdk: String?
    @Flag(help: "Write into an existing, non-empty directory.") var force = false

    func validate() throws {
        guard let first = name.unicodeScalars.first, CharacterSet.letters.contains(first),
            name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || $0 == "_" }), name.count <= 64
        else {
            throw ValidationError("\(name) is not a Swift module name: use letters, digits and '_', starting with a letter")
        }
    }

    func run() throws {
        let sdkPath = try sdk.map { ($0 as NSString).standardizingPath } ?? Self.repositoryOfThisExecutable()
        let absoluteSDK = sdkPath.hasPrefix("/") ? sdkPath : FileManager.default.currentDirectoryPath + "/" + sdkPath
        guard let manifest = FileManager.default.contents(atPath: absoluteSDK + "/Package.swift"),
            String(decoding: manifest, as: UTF8.self).contains("\"BackgroundTaskKit\"")
        else {
            throw CLIError("\(absoluteSDK) is not the taskhost repository (no BackgroundTaskKit in its Package.swift); pass --sdk PATH")
        }
        let directory = (output as NSString).appendingPathComponent(name)
        if let contents = try? FileManager.default.contentsOfDirectory(atPath: directory), !contents.isEmpty, !force {
            throw CLIError("\(directory) exists and is not empty (use --force to write into it)")
        }
        let taskhost = Self.pathOfThisExecutable()
        let files = PluginTemplate(name: name, sdkPath: (absoluteSDK as NSString).standardizingPath, taskhostPath: taskhost).files
        for (path, text) in files.sorted(by: { $0.key < $1.key }) {
            let full = directory + "/" + path
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
            print("created \(full)")
        }
        print("\nnext: cd \(directory) && swift build && swift test   (then see README.md)")
        print("its README calls this taskhost: \(taskhost)")
    }

    /// The absolute path of the running `taskhost`, so that the generated README
    /// works from any directory and in a shell where taskhost is not on the PATH.
    static func pathOfThisExecutable() -> String {
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return resolved }
        let argument = CommandLine.arguments[0]
        return argument.hasPrefix("/")
            ? argument : (FileManager.default.currentDirectoryPath + "/" + argument as NSString).standardizingPath
    }

    /// The repository this executable was built in: .build/<triple>/<config>/taskhost → its root.
    static func repositoryOfThisExecutable() throws -> String {
        var directory = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "")
        for _ in 0..<6 {
            directory.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: directory.path + "/Package.swift") { return directory.path }
        }
        throw CLIError("cannot tell which taskhost repository this executable came from; pass --sdk PATH")
    }
}

/// The files of a new plugin package.
struct PluginTemplate {
    var name: String
    var sdkPath: String
    /// The `taskhost` the README's commands call (an absolute path).
    var taskhostPath: String

    /// `export PATH=…` putting ``taskhostPath``'s directory first, quoted for the shell.
    var exportPath: String {
        let directory = (taskhostPath as NSString).deletingLastPathComponent
        let quoted = directory.reduce(into: "") { text, character in
            if "\\\"$`".contains(character) { text.append("\\") }
            text.append(character)
        }
        return "export PATH=\"\(quoted):$PATH\""
    }

    /// SwiftPM names a path dependency after its directory.
    var sdkIdentity: String { (sdkPath as NSString).lastPathComponent.lowercased() }
    var task: String { name + "Task" }
    var app: String { "com.example." + name.lowercased() }

    var files: [String: String] {
        [
            "Package.swift": """
            // swift-tools-version:6.1
            import PackageDescription

            let package = Package(
                name: "\(name)",
                products: [
                    // The plugin: taskhost loads lib\(name).so.
                    .library(name: "\(name)", type: .dynamic, targets: ["\(name)"]),
                ],
                dependencies: [
                    // The taskhost SDK. From a remote copy instead:
                    // .package(url: "https://github.com/<owner>/taskhost", from: "0.1.0")
                    .package(path: "\(sdkPath)"),
                ],
                targets: [
                    .target(
                        name: "\(name)",
                        dependencies: [.product(name: "BackgroundTaskKit", package: "\(sdkIdentity)")],
                        swiftSettings: [.swiftLanguageMode(.v6)]),
                    .testTarget(
                        name: "\(name)Tests",
                        dependencies: ["\(name)", .product(name: "BackgroundTaskKitTesting", package: "\(sdkIdentity)")],
                        swiftSettings: [.swiftLanguageMode(.v6)]),
                ]
            )

            """,
            "Sources/\(name)/\(task).swift": """
            import BackgroundTaskKit

            /// Runs when a raw push (or the app) triggers it: stores the push's
            /// content in the app's local settings, where `taskhost settings get`
            /// and the rest of the app read it.
            public final class \(task): BackgroundTask {
                public init() {}

                public func run(_ taskInstance: BackgroundTaskInstance) {
                    let settings = ApplicationData.current.localSettings
                    Debug.writeLine("\\(taskInstance.task.name) starting (trigger \\(taskInstance.triggerId))")
                    if let notification = taskInstance.triggerDetails as? RawNotification {
                        settings.values["last-push"] = .string(notification.content)
                    }
                    Debug.writeLine("\\(taskInstance.task.name) done")
                }
            }

            """,
            "Tests/\(name)Tests/\(task)Tests.swift": """
            import BackgroundTaskKit
            import BackgroundTaskKitTesting
            import Testing
            import \(name)

            @Test func storesTheContentOfARawPush() throws {
                let result = try TaskHarness.run(\(task).self, trigger: RawNotification(content: "hello"))
                #expect(result.finished)
                #expect(result.settings["last-push"] == "hello")
                #expect(result.log.last == "\(task) done")
            }

            @Test func anApplicationTriggerStoresNothing() throws {
                let result = try TaskHarness.run(\(task).self, trigger: ApplicationTriggerDetails(arguments: [:]))
                #expect(result.settings.isEmpty)
            }

            """,
            "manifest.json": """
            {
              "Identity": { "Name": "\(app)", "Version": "0.1.0" },
              "BackgroundTasks": [
                {
                  "Name": "\(task)",
                  "TaskEntryPoint": "\(name).\(task)",
                  "Library": "\(name)",
                  "Triggers": [ { "Type": "PushNotification" }, { "Type": "Application" } ],
                  "TimeLimitSeconds": 30
                }
              ]
            }

            """,
            ".gitignore": ".build/\n.swiftpm/\nPackage.resolved\n",
            "README.md": """
            # \(name)

            A taskhost plugin: `\(task)` stores the content of each raw push in the app's
            local settings (`last-push`).

            ## Build and test

            ```sh
            swift build          # builds .build/debug/lib\(name).so
            swift test           # runs \(task) in-process with BackgroundTaskKitTesting
            ```

            ## Run it with taskhost

            The commands below call the `taskhost` that generated this package,
            `\(taskhostPath)`: each block first puts its directory on the `PATH` (an absolute
            path, so the commands work from any directory and in a fresh shell).

            ```sh
            \(exportPath)
            taskhost validate --manifest manifest.json --library-path .build/debug
            taskhost run \(task) --manifest manifest.json --library-path .build/debug --raw-content hello
            taskhost settings get last-push --manifest manifest.json     # hello
            ```

            To serve it, start `taskhost serve --manifest manifest.json --library-path .build/debug`,
            then `taskhost channels create \(task) --manifest manifest.json` gives the channel URI
            an app server pushes to.

            ## Install into a running taskhost

            `taskhost serve` watches a plugins directory (default: `plugins/` in its state
            directory; `taskhost plugins dir` prints it, for `--state-dir` or `TASKHOST_STATE_DIR`
            too). Copy the manifest and the library into a folder of their own there; the host
            picks it up within a second, checks it in a sandboxed scanner, and registers its
            task, without a restart:

            ```sh
            \(exportPath)
            PLUGINS=$(taskhost plugins dir)      # the running host's plugins directory
            mkdir -p "$PLUGINS/\(name)"
            cp manifest.json .build/debug/lib\(name).so "$PLUGINS/\(name)/"
            taskhost plugins list                # \(name)  active  0.1.0  \(app)  \(task)
            taskhost trigger \(task)
            taskhost history                     # \(task) … completed
            ```

            Copy a rebuilt library over the old one to upgrade (running instances finish on the
            old version); delete the folder to uninstall. `taskhost plugins validate .` checks
            a folder as the host will. A plugin must be built with the same Swift compiler as
            the taskhost that loads it; taskhost refuses it otherwise and says what to rebuild with.

            """,
        ]
    }
}
