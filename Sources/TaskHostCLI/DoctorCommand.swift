import ArgumentParser
import Foundation
import TaskHostConditions
import TaskHostCore
import TaskHostIPC
import TaskHostIsolation
import TaskHostManifest
import TaskHostPlugins
import TaskHostStore

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Report which sandbox layers this kernel and this host can enforce.",
        discussion: """
            Starts a worker, lets it apply the sandbox exactly as it does before loading a \
            plugin, and prints each layer: enforced, or why not. Checks the store too, and \
            says which trigger conditions this host can observe, and their values now. \
            Exits 1 when a layer is not enforced (with --require-sandbox, such instances \
            would be refused).
            """)

    @OptionGroup var stateOptions: StateOptions
    @OptionGroup var sandboxFlags: SandboxFlags
    @OptionGroup var conditionOptions: ConditionOptions

    func run() throws {
        print(
            "host: uid \(getuid())\(geteuid() == 0 ? " (root: instances run as \(sandboxFlags.sandboxUser.isEmpty ? "root" : sandboxFlags.sandboxUser))" : ""), system \(ProcessInfo.processInfo.operatingSystemVersionString)"
        )
        let store = try stateOptions.openStore()
        print("store: \(store.location) (\(try store.durabilityDescription()))")
        let inspector = PluginInspector(workerPath: try locateWorker(), sandbox: sandboxFlags.options(state: stateOptions.directory))
        var missing = 0
        for (title, network) in [("a task without capabilities", false), ("a task with internetClient", true)] {
            print("\nsandbox of \(title):")
            switch inspector.probeSandbox(network: network) {
            case .failure(let error):
                throw CLIError("cannot probe the sandbox: \(error)")
            case .success(let layers):
                for layer in layers { print(Self.line(layer)) }
                missing += layers.filter(\.isMissing).count
            }
        }
        // The same test the host makes before it gives each instance a pids cgroup.
        let processLimit = ProcessCgroups.processLimitLayer()
        print("\nset up by the host for each instance:")
        print(Self.line(processLimit))
        if processLimit.isMissing { missing += 1 }
        print("\nnot enforced yet: a memory limit per instance through a cgroup (RLIMIT_DATA applies instead)")
        print("\nconditions (a task's \"Conditions\"; a trigger waits while one does not hold):")
        for line in Self.conditionLines(conditionOptions.system(state: stateOptions.directory.path)) { print(line) }
        if missing > 0 { throw ExitCode(1) }
    }

    /// Each condition this host can observe, with its value now, or why it cannot
    /// (read once, here, from the same sources `serve` watches).
    static func conditionLines(_ system: SystemConditions) -> [String] {
        var lines: [String] = []
        for probe in system.probes {
            let reading = probe.read()
            let names = TaskCondition.allCases.filter { $0.fact == probe.fact }
            let values = names.map { condition in
                "\(condition.rawValue) \(reading.value.map { $0 == condition.wantsFact ? "holds" : "does not hold" } ?? "unknown")"
            }
            let status = reading.value == nil ? "cannot " : "observed"
            lines.append("  \(status) \(values.joined(separator: ", ")): \(reading.detail)")
            lines.append("           source: \(probe.source)")
        }
        return lines
    }

    /// One layer: `ok`, `MISSING`, or `n/a` (not applied because the task asks for what it prevents).
    static func line(_ layer: SandboxLayer) -> String {
        let status = layer.enforced ? "ok     " : layer.waived ? "n/a    " : "MISSING"
        return "  \(status) \(layer.name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(layer.detail)"
    }
}
