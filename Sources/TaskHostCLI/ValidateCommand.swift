import ArgumentParser
import Foundation
import TaskHostCore
import TaskHostIPC
import TaskHostIsolation
import TaskHostManifest
import TaskHostPlugins
import TaskHostStore

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a manifest, its libraries and its entry points.",
        discussion: """
            Reads the manifest and reports every problem with its file, line and column: \
            invalid JSON, unknown or missing fields, duplicate task names, entry points \
            that are not Module.Class. Then loads each library in a scanner process \
            (a library that crashes while loading cannot harm the host) and checks that \
            each TaskEntryPoint names a public final class conforming to BackgroundTask, \
            built with the same ABI and Swift compiler as this host, and that each C task's \
            Symbol is exported by its library.

            Exits 0 when the manifest is usable, 1 otherwise.
            """)

    @OptionGroup var manifestOptions: ManifestOptions
    @OptionGroup var sandboxFlags: SandboxFlags
    /// Accepted like every other command's; validating reads no state.
    @OptionGroup var stateOptions: StateOptions

    @Flag(name: .customLong("no-load"), help: "Check the manifest's text only; do not load libraries.")
    var noLoad = false

    func run() throws {
        let manifest = try manifestOptions.load()
        if !noLoad {
            let checker = ManifestChecker(
                resolver: manifestOptions.resolver,
                inspector: PluginInspector(workerPath: try locateWorker(), sandbox: sandboxFlags.options()))
            let (problems, inspections) = checker.check(manifest)
            guard problems.isEmpty else {
                throw CLIError(ManifestError(file: manifest.path, problems: problems).description)
            }
            for inspection in inspections {
                let symbols = inspection.symbols.map(\.entryPoint).joined(separator: ", ")
                if inspection.hasDescriptor {
                    print(
                        "library \(inspection.libraryPath): ABI \(inspection.abiVersion), \(inspection.buildSignature)"
                            + (symbols.isEmpty ? "" : "; C symbols \(symbols)"))
                } else {
                    print("library \(inspection.libraryPath): C symbols \(symbols)")
                }
            }
        }
        for task in manifest.tasks {
            let triggers = task.triggers.map(\.description).joined(separator: ", ")
            print(
                "task \(task.name): \(task.entryPointDescription) in \(task.library); triggers: \(triggers); time limit \(Format.duration(task.timeLimit))"
            )
        }
        print("\(manifest.path): OK (\(manifest.identity.name), \(manifest.tasks.count) task\(manifest.tasks.count == 1 ? "" : "s"))")
    }
}
