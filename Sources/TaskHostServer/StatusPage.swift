import Foundation
import Mustache
import TaskHostCore
import TaskHostShared
package import TaskHostStore

/// The status page: a ``StatusSnapshot`` of the store and what the host was
/// configured with, rendered to HTML with swift-mustache
/// (``StatusTemplates``). Everything that came from a plugin or a push (task
/// and app names, outcome details, plugin reasons) is escaped by the template.
package struct StatusPage: Sendable {
    /// What the host runs with, beside what the store says.
    package struct Host: Sendable, Equatable {
        /// The `taskhost serve` process.
        package var pid: Int32
        /// How instances get their process.
        package var isolation: String
        /// The user instances run as when the host is root (`nil`: root stays root).
        package var sandboxUser: String?
        /// Whether an instance is refused unless every sandbox layer is enforced.
        package var sandboxRequired: Bool

        /// Creates the host's facts.
        package init(pid: Int32 = getpid(), isolation: String, sandboxUser: String?, sandboxRequired: Bool) {
            self.pid = pid
            self.isolation = isolation
            self.sandboxUser = sandboxUser
            self.sandboxRequired = sandboxRequired
        }
    }

    /// How many of the newest instances the page lists.
    package static let defaultRecent = 25
    /// Seconds between two reloads of the page.
    package static let defaultRefreshSeconds = 5

    /// The host's facts.
    package var host: Host
    /// Seconds between two reloads.
    package var refreshSeconds: Int
    private let template: MustacheTemplate

    /// A page for `host`, reloading every `refreshSeconds`.
    package init(host: Host, refreshSeconds: Int = StatusPage.defaultRefreshSeconds) {
        self.host = host
        self.refreshSeconds = max(1, refreshSeconds)
        do {
            template = try MustacheTemplate(string: StatusTemplates.page)
        } catch {
            // The template is a constant that a test renders: a parse error is a defect of this build.
            preconditionFailure("the status page's template does not parse: \(error)")
        }
    }

    /// The page's HTML for `snapshot`.
    package func render(_ snapshot: StatusSnapshot) -> String {
        template.render(View(snapshot, host: host, refreshSeconds: refreshSeconds))
    }

    /// The path of an instance's log on the status listener.
    package static func logPath(instanceId: String) -> String { "/status/instances/\(instanceId)/log" }

    /// `12 ms`, `3.4 s`, `2 min 5 s`; `-` while it runs.
    static func duration(_ duration: Duration?) -> String {
        guard let duration else { return "-" }
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        if milliseconds < 60_000 { return String(format: "%.1f s", Double(milliseconds) / 1000) }
        return "\(milliseconds / 60_000) min \(milliseconds % 60_000 / 1000) s"
    }

    /// The longest log line excerpt shown, in characters.
    static let excerptLength = 160

    /// A log line as the page shows it: `[stream]` for other streams than the
    /// task's own, cut at ``excerptLength`` characters (marked with …).
    static func excerpt(_ line: LogLine) -> String {
        let text = (line.stream == .task ? "" : "[\(line.stream.rawValue)] ") + line.text
        return text.count > excerptLength ? text.prefix(excerptLength) + "…" : text
    }

    /// UTC, to the second: `2026-12-03 07:14:05Z`.
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(dateSeparator: .dash, dateTimeSeparator: .space, timeZone: .gmt))
    }

    /// The groups of a sandbox summary (`enforced: a, b; NOT enforced: c`), each with its layers.
    static func layerGroups(_ summary: String) -> [(group: String, layers: String)] {
        summary.split(separator: "; ").map { part in
            guard let colon = part.firstIndex(of: ":") else { return (group: "", layers: String(part)) }
            return (group: String(part[..<colon]), layers: part[part.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
    }
}

/// What the template reads (stored properties only: swift-mustache reads them with `Mirror`).
private struct View {
    struct QueueCell { let state: String, count: Int }
    struct Instance {
        let id: String, shortId: String, task: String, app: String, hostPid: Int32, trigger: String, attempt: Int
        let started: String, duration: String, outcome: String, outcomeCode: String, outcomeClass: String, logPath: String
        let lastLine: String
    }
    struct Plugin { let name: String, identity: String, version: String, state: String, tasks: String, reason: String }
    struct DisabledTask { let name: String, app: String, since: String, reason: String }
    struct Setting { let name: String, value: String }
    struct LayerGroup { let group: String, layers: String }

    let refreshSeconds: Int
    let takenAt: String
    let hostPid: Int32
    let version: String
    let isolation: String
    let queue: [QueueCell]
    let hasInstances: Bool
    let instances: [Instance]
    let hasPlugins: Bool
    let plugins: [Plugin]
    let hasDisabledTasks: Bool
    let disabledTasks: [DisabledTask]
    let channels: StatusSnapshot.Counts
    let credentials: StatusSnapshot.Counts
    let sandboxSettings: [Setting]
    let hasSandboxLayers: Bool
    let sandboxInstance: String
    let sandboxLogPath: String
    let sandboxLayers: [LayerGroup]

    init(_ snapshot: StatusSnapshot, host: StatusPage.Host, refreshSeconds: Int) {
        self.refreshSeconds = refreshSeconds
        takenAt = StatusPage.timestamp(snapshot.takenAt)
        hostPid = host.pid
        version = BuildInfo.sdkVersion
        isolation = host.isolation
        queue = snapshot.queue.map { QueueCell(state: $0.state.rawValue, count: $0.count) }
        instances = snapshot.instances.map { record in
            Instance(
                id: record.id, shortId: String(record.id.prefix(8)), task: record.task, app: record.app, hostPid: record.hostPid,
                trigger: record.triggerKind.rawValue, attempt: record.attempt, started: StatusPage.timestamp(record.startedAt),
                duration: StatusPage.duration(record.duration),
                outcome: record.outcome?.summary ?? (record.progress > 0 ? "running (progress \(record.progress))" : "running"),
                outcomeCode: record.outcome?.code ?? "running",
                outcomeClass: record.outcome.map { $0.isSuccess ? "ok" : "failed" } ?? "running",
                logPath: StatusPage.logPath(instanceId: record.id),
                lastLine: snapshot.lastLogLines[record.id].map { StatusPage.excerpt($0) } ?? "")
        }
        hasInstances = !instances.isEmpty
        plugins = snapshot.plugins.map { plugin in
            Plugin(
                name: plugin.name, identity: plugin.identity, version: plugin.version ?? "-", state: plugin.state.rawValue,
                tasks: plugin.tasks.joined(separator: ", "), reason: plugin.reason ?? "")
        }
        hasPlugins = !plugins.isEmpty
        disabledTasks = snapshot.disabledTasks.map {
            DisabledTask(name: $0.qualifiedName, app: $0.app, since: StatusPage.timestamp($0.disabledAt), reason: $0.reason)
        }
        hasDisabledTasks = !disabledTasks.isEmpty
        channels = snapshot.channels
        credentials = snapshot.credentials
        sandboxSettings = [
            Setting(name: "isolation", value: host.isolation),
            Setting(
                name: "instances run as",
                value: geteuid() == 0 ? (host.sandboxUser.flatMap { $0.isEmpty ? nil : $0 } ?? "root (no sandbox user)") : "the host's user"
            ),
            Setting(name: "every layer required (--require-sandbox)", value: host.sandboxRequired ? "yes" : "no"),
        ]
        sandboxInstance = snapshot.lastSandbox.map { String($0.instanceId.prefix(8)) } ?? ""
        sandboxLogPath = snapshot.lastSandbox.map { StatusPage.logPath(instanceId: $0.instanceId) } ?? ""
        sandboxLayers =
            snapshot.lastSandbox.map { StatusPage.layerGroups($0.summary).map { LayerGroup(group: $0.group, layers: $0.layers) } } ?? []
        hasSandboxLayers = !sandboxLayers.isEmpty
    }
}
