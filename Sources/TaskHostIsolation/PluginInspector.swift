import CTaskHostABI
import Foundation
import TaskHostCore
package import TaskHostIPC
package import TaskHostManifest
import TaskHostStore

/// What a plugin library is, as seen from a scanner process.
package struct PluginInspection: Sendable, Equatable {
    /// The library inspected.
    package var libraryPath: String
    /// The plugin ABI version it was built with; 0 when only C symbols were
    /// asked about (the descriptor was not looked at).
    package var abiVersion: UInt32
    /// The SDK version it was built with; empty when only C symbols were asked about.
    package var sdkVersion: String
    /// Its build signature (`sdk=…;abi=…;swift=…;target=…`); empty when only
    /// C symbols were asked about.
    package var buildSignature: String
    /// One report per entry point asked about.
    package var entryPoints: [EntryPointReport]
    /// One report per C symbol asked about (`TH_CHECK_OK` or `TH_CHECK_NOT_FOUND`).
    package var symbols: [EntryPointReport] = []

    /// Whether the plugin descriptor was loaded (some Swift entry point was asked about).
    package var hasDescriptor: Bool { abiVersion != 0 }
}

/// Why a library could not be inspected: it failed to load, was refused,
/// crashed or hung while loading. ``code`` is for code to act on, ``reason``
/// for people.
package struct PluginInspectionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is.
    package enum Code: String, Sendable, CaseIterable {
        /// No scanner process could be started (see ``PluginInspectionError/underlying``).
        case scannerNotStarted
        /// The scanner refused the library (not a plugin, missing descriptor, sandbox not enforced, …).
        case refused
        /// The library's load-time code crashed the scanner.
        case crashed
        /// The library did not finish loading within the time limit.
        case timedOut
        /// The scanner answered something else than it was asked.
        case malformedAnswer
        /// Anything else.
        case other
    }

    /// The library.
    package var libraryPath: String
    /// What happened, as a sentence.
    package var reason: String
    /// What kind of failure this is.
    package var code: Code = .other
    /// The error underneath (the ``WorkerSpawnError`` of a scanner that did not start).
    package var underlying: (any Error)?

    /// Creates an error.
    package init(libraryPath: String, reason: String, code: Code = .other, underlying: (any Error)? = nil) {
        self.libraryPath = libraryPath
        self.reason = reason
        self.code = code
        self.underlying = underlying
    }

    /// The reason.
    package var description: String { reason }

    /// Equal when the library, reason and code are (the underlying error is not compared).
    package static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.libraryPath == rhs.libraryPath && lhs.reason == rhs.reason && lhs.code == rhs.code
    }
}

/// Loads plugin libraries in a throwaway worker process ("scanner") and asks
/// them about entry points, so that a library whose load-time code crashes
/// or hangs cannot take the host down.
package struct PluginInspector: Sendable {
    /// The worker executable.
    package var workerPath: String
    /// How long a library may take to load and answer.
    package var timeLimit: Duration
    /// The scanner is sandboxed like an instance (without network): loading a
    /// library runs its code.
    package var sandbox: SandboxOptions

    /// Creates an inspector.
    package init(workerPath: String, timeLimit: Duration = .seconds(10), sandbox: SandboxOptions = SandboxOptions()) {
        self.workerPath = workerPath
        self.timeLimit = timeLimit
        self.sandbox = sandbox
    }

    /// Applies the sandbox in a worker and returns what it could enforce (`taskhost doctor`).
    package func probeSandbox(limits: ResourceLimits = ResourceLimits(), network: Bool = false) -> Result<
        [SandboxLayer], PluginInspectionError
    > {
        let task = TaskDeclaration(
            name: "probe", entryPoint: "Probe.Probe", library: "", triggers: [],
            capabilities: network ? [.internetClient] : [], limits: limits)
        let identity = sandbox.resolveIdentity()
        let directory = sandbox.makeWorkingDirectory(instanceId: "probe-" + RandomToken.hex(bytes: 4), identity: identity)
        defer { sandbox.removeWorkingDirectory(directory) }
        let report: SupervisionReport
        do {
            let process = try WorkerProcess.spawn(executable: workerPath, environment: WorkerProcess.environment(instanceId: "probe"))
            report = InstanceSupervisor(
                process: process, limits: SupervisionLimits(timeLimit: timeLimit, gracePeriod: .zero),
                events: InspectionEvents(), cancellation: nil
            ).supervise(first: .probe(sandbox.policy(for: task, workingDirectory: directory, identity: identity)))
        } catch {
            return .failure(PluginInspectionError(libraryPath: "", reason: error.description, code: .scannerNotStarted, underlying: error))
        }
        guard !report.sandbox.isEmpty else {
            return .failure(
                PluginInspectionError(
                    libraryPath: "", reason: "the worker did not report its sandbox: \(report.outcome)", code: .malformedAnswer))
        }
        return .success(report.sandbox)
    }

    /// Loads `libraryPath` and checks each of `entryPoints` (Swift classes,
    /// through the plugin descriptor) and each of `symbols` (C functions; a
    /// library asked about symbols only needs no descriptor).
    package func inspect(
        libraryPath: String, entryPoints: [String], symbols: [String] = []
    ) -> Result<PluginInspection, PluginInspectionError> {
        let events = InspectionEvents()
        let report: SupervisionReport
        do {
            let process = try WorkerProcess.spawn(
                executable: workerPath, environment: WorkerProcess.environment(instanceId: "inspect"))
            let supervisor = InstanceSupervisor(
                process: process, limits: SupervisionLimits(timeLimit: timeLimit, gracePeriod: .zero),
                events: events, cancellation: nil)
            let task = TaskDeclaration(name: "scan", entryPoint: "Scan.Scan", library: libraryPath, triggers: [], timeLimit: timeLimit)
            report = supervisor.supervise(
                first: .check(
                    libraryPath: libraryPath, entryPoints: entryPoints,
                    sandbox: sandbox.policy(for: task, workingDirectory: "", identity: sandbox.resolveIdentity()), symbols: symbols))
        } catch {
            return .failure(
                PluginInspectionError(libraryPath: libraryPath, reason: error.description, code: .scannerNotStarted, underlying: error))
        }
        if let check = report.check {
            guard check.reports.count == entryPoints.count + symbols.count else {
                return .failure(
                    PluginInspectionError(
                        libraryPath: libraryPath,
                        reason: "the scanner answered \(check.reports.count) reports for \(entryPoints.count + symbols.count) questions",
                        code: .malformedAnswer))
            }
            return .success(
                PluginInspection(
                    libraryPath: libraryPath, abiVersion: check.abiVersion, sdkVersion: check.sdkVersion,
                    buildSignature: check.buildSignature, entryPoints: Array(check.reports.prefix(entryPoints.count)),
                    symbols: Array(check.reports.dropFirst(entryPoints.count))))
        }
        let reason: String
        let code: PluginInspectionError.Code
        switch report.outcome {
        case .refused(let message): (reason, code) = (message, .refused)
        case .crashed(let signal):
            reason = "\(libraryPath) crashed the scanner while loading (signal \(signal), \(InstanceOutcome.signalName(signal)))"
            code = .crashed
        case .timedOut: (reason, code) = ("\(libraryPath) did not finish loading within \(timeLimit)", .timedOut)
        default: (reason, code) = ("\(libraryPath) could not be inspected: \(report.outcome)", .other)
        }
        let detail = events.lines.last(where: { $0.stream == .stderr }).map { "; it printed: \($0.text)" } ?? ""
        return .failure(PluginInspectionError(libraryPath: libraryPath, reason: reason + detail, code: code))
    }
}

/// A scanner has no settings and its logs are kept only for error messages.
private final class InspectionEvents: InstanceEvents {
    var lines: [LogLine] = []
    func log(_ line: LogLine) { if lines.count < 100 { lines.append(line) } }
    func progress(_ value: UInt32) {}
    func settings(_ request: SettingsRequest) -> (status: UInt32, data: [UInt8]) { (TH_HOST_UNAVAILABLE.rawValue, []) }
}

/// The checks of a manifest that need its libraries: each library is found
/// and loaded in a scanner, and each entry point is checked in it.
package struct ManifestChecker: Sendable {
    /// Finds libraries.
    package var resolver: LibraryResolver
    /// Loads them.
    package var inspector: PluginInspector

    /// Creates a checker.
    package init(resolver: LibraryResolver, inspector: PluginInspector) {
        self.resolver = resolver
        self.inspector = inspector
    }

    /// Every problem with `manifest`'s libraries and entry points (empty when it is usable),
    /// and the inspection of each library that loaded. Swift tasks' classes are
    /// checked through the plugin descriptor; C tasks' symbols must be exported
    /// (their libraries need no descriptor).
    package func check(_ manifest: AppManifest) -> (problems: [ManifestProblem], inspections: [PluginInspection]) {
        var problems: [ManifestProblem] = []
        var byLibrary: [String: [TaskDeclaration]] = [:]
        var order: [String] = []
        for task in manifest.tasks {
            switch resolver.resolve(task.library, manifestDirectory: manifest.directory) {
            case .success(let path):
                if byLibrary[path] == nil { order.append(path) }
                byLibrary[path, default: []].append(task)
            case .failure(let notFound):
                problems.append(ManifestProblem(position: task.position, task: task.name, message: notFound.description))
            }
        }
        var inspections: [PluginInspection] = []
        for path in order {
            let all = byLibrary[path]!
            let tasks = all.filter { $0.abi == .swift }
            let cTasks = all.filter { $0.abi != .swift }
            let file = (path as NSString).lastPathComponent
            switch inspector.inspect(libraryPath: path, entryPoints: tasks.map(\.entryPoint), symbols: cTasks.map(\.entryPoint)) {
            case .failure(let error):
                for task in all {
                    problems.append(
                        ManifestProblem(
                            position: task.position, task: task.name, message: "Library \(file): \(error.reason)"))
                }
            case .success(let inspection):
                inspections.append(inspection)
                for (task, report) in zip(tasks, inspection.entryPoints) where report.code != TH_CHECK_OK.rawValue {
                    problems.append(
                        ManifestProblem(
                            position: task.position, task: task.name,
                            message: "TaskEntryPoint \"\(task.entryPoint)\" in \(file) \(report.message)"))
                }
                for (task, report) in zip(cTasks, inspection.symbols) where report.code != TH_CHECK_OK.rawValue {
                    problems.append(
                        ManifestProblem(
                            position: task.position, task: task.name, message: "Symbol \"\(task.entryPoint)\" \(report.message)"))
                }
            }
        }
        return (problems.sorted { ($0.position?.line ?? 0) < ($1.position?.line ?? 0) }, inspections)
    }
}
