import Foundation
import GRDB
import HTTPTypes
import NIOCore
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

@testable import TaskHostServer

/// The status page's HTML and an instance's log as text, rendered from
/// snapshots built by hand: every section, and what a plugin or a push sent
/// shown as text.
@Suite struct StatusPageTests {
    static let host = StatusPage.Host(pid: 4242, isolation: "prefork", sandboxUser: "nobody", sandboxRequired: false)
    static let taken = Date(timeIntervalSince1970: 1_800_000_000)

    static func instance(
        _ id: String, task: String, outcome: InstanceOutcome?, app: String = "com.example.tests", sandbox: String = ""
    ) -> InstanceRecord {
        InstanceRecord(
            id: id, app: app, task: task, triggerKind: .pushNotification, triggerId: "t-" + id, attempt: 1, pid: 100, hostPid: 4242,
            startedAt: taken.addingTimeInterval(-3), endedAt: outcome == nil ? nil : taken.addingTimeInterval(-1.5), outcome: outcome,
            sandbox: sandbox)
    }

    static func snapshot(
        instances: [InstanceRecord] = [], plugins: [PluginRecord] = [], disabled: [DisabledTask] = [],
        lastSandbox: (summary: String, instanceId: String)? = nil, lastLogLines: [String: LogLine] = [:]
    ) -> StatusSnapshot {
        StatusSnapshot(
            takenAt: taken,
            queue: TriggerState.allCases.enumerated().map { ($1, $0 * 10) }, instances: instances, plugins: plugins,
            disabledTasks: disabled, channels: .init(active: 3, revoked: 1, expired: 2), credentials: .init(active: 5, revoked: 4),
            lastSandbox: lastSandbox, lastLogLines: lastLogLines)
    }

    @Test func theQueueShowsTriggersWaitingForTheirConditions() {
        let html = StatusPage(host: Self.host).render(Self.snapshot())
        let waiting = (TriggerState.allCases.firstIndex(of: .waiting) ?? 0) * 10
        #expect(html.contains("<th>waiting</th>"))
        #expect(html.contains("<td class=\"num\" data-state=\"waiting\">\(waiting)</td>"), "\(html)")
    }

    static let hostile = "<script>alert(1)</script>"
    static let escapedHostile = "&lt;script&gt;alert(1)&lt;/script&gt;"

    @Test func whatPluginsAndPushesSentIsEscaped() {
        let id = "6f1c2a9e-0000-4000-8000-000000000001"
        let html = StatusPage(host: Self.host).render(
            Self.snapshot(
                instances: [Self.instance(id, task: Self.hostile, outcome: .failed("boom \(Self.hostile)"), app: "app\"'&<b>")],
                plugins: [
                    PluginRecord(
                        name: "evil<i>", identity: "com.evil", version: "1<u>", state: .quarantined,
                        reason: "the manifest says <img src=x onerror=alert(2)>", fingerprint: "", stagedPath: "", tasks: [Self.hostile],
                        updatedAt: Self.taken)
                ],
                disabled: [
                    DisabledTask(
                        plugin: "evil", task: "T<script>", app: "com.evil", reason: "crashed \(Self.hostile)", disabledAt: Self.taken)
                ],
                lastSandbox: (summary: "enforced: rlimits, <script>x</script>", instanceId: id),
                lastLogLines: [id: LogLine(stream: .task, text: "payload: \(Self.hostile)")]))
        // The page itself has no script: any `<script` would have come from data.
        #expect(!html.contains("<script"))
        #expect(!html.contains("<img"))
        #expect(!html.contains("<b>") && !html.contains("<i>") && !html.contains("<u>"))
        #expect(html.contains("<td class=\"task\">\(Self.escapedHostile)<div"), "a task name shows as text")
        #expect(html.contains("<span class=\"last-line\">payload: \(Self.escapedHostile)</span>"), "a log line shows as text")
        #expect(html.contains("failed: boom \(Self.escapedHostile)"), "an outcome's detail shows as text")
        #expect(html.contains("the manifest says &lt;img src=x onerror=alert(2)&gt;"), "a quarantine reason shows as text")
        #expect(html.contains("crashed \(Self.escapedHostile)"), "a disablement's reason shows as text")
        #expect(html.contains("app&quot;&#39;&amp;&lt;b&gt;"), "quotes cannot end an attribute")
    }

    @Test func theTemplatesNeverInsertAValueUnescaped() {
        // `{{{name}}}` and `{{& name}}` insert raw HTML: never for this page's data.
        #expect(!StatusTemplates.page.contains("{{{"))
        #expect(!StatusTemplates.page.contains("{{&"))
        #expect(!StatusTemplates.page.contains("<script"), "the page works without JavaScript and has none")
    }

    @Test func thePageShowsEverySectionAndRefreshesItself() {
        let done = "aaaaaaaa-0000-4000-8000-000000000001"
        let running = "bbbbbbbb-0000-4000-8000-000000000002"
        let html = StatusPage(host: Self.host, refreshSeconds: 7).render(
            Self.snapshot(
                instances: [
                    Self.instance(running, task: "Slow", outcome: nil), Self.instance(done, task: "Recorder", outcome: .completed),
                ],
                plugins: [
                    PluginRecord(
                        name: "good", identity: "com.good", version: "2.0", state: .active, reason: nil, fingerprint: "", stagedPath: "",
                        tasks: ["A", "B"], updatedAt: Self.taken)
                ],
                lastSandbox: (summary: "enforced: user, rlimits; NOT enforced: seccomp", instanceId: done)))
        #expect(html.contains("<meta http-equiv=\"refresh\" content=\"7\">"))
        // Every queue state, with its count.
        for (index, state) in TriggerState.allCases.enumerated() {
            #expect(html.contains("<td class=\"num\" data-state=\"\(state.rawValue)\">\(index * 10)</td>"))
        }
        #expect(html.contains("data-instance=\"\(done)\" data-outcome=\"completed\""))
        #expect(html.contains("data-instance=\"\(running)\" data-outcome=\"running\""))
        #expect(html.contains("<a href=\"/status/instances/\(done)/log\">log</a>"))
        #expect(html.contains("<td class=\"num nowrap\">1.5 s</td>"), "a duration")
        #expect(html.contains("pid 4242"), "the host that ran it")
        #expect(html.contains("data-plugin=\"good\" data-state=\"active\""))
        #expect(html.contains("<td>A, B</td>"))
        #expect(
            html.contains("data-channels=\"active\">3<") && html.contains("data-channels=\"expired\">2<")
                && html.contains("data-channels=\"revoked\">1<"))
        #expect(html.contains("data-credentials=\"active\">5<") && html.contains("data-credentials=\"revoked\">4<"))
        #expect(html.contains("<tr><th>NOT enforced</th><td>seccomp</td></tr>"))
        #expect(html.contains("<tr><th>enforced</th><td>user, rlimits</td></tr>"))
        #expect(!html.contains("Disabled tasks"), "the section shows only when a task is disabled")
    }

    @Test func aRunningInstanceShowsTheProgressItReported() {
        var running = Self.instance("cccccccc-0000-4000-8000-000000000003", task: "Slow", outcome: nil)
        running.progress = 40
        let html = StatusPage(host: Self.host).render(Self.snapshot(instances: [running]))
        #expect(html.contains(">running (progress 40)</td>"))
    }

    @Test func aStoreThatCannotBeReadIsAnswered503() throws {
        let directory = TestSupport.temporaryDirectory()
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        // Another process broke the schema under the host.
        try DatabaseQueue(path: StateDirectory(path: directory).databasePath).write { try $0.execute(sql: "DROP TABLE credential") }
        let error = #expect(throws: StatusError.self) { try StatusService(store: store, page: StatusPage(host: Self.host)).html() }
        #expect(error?.code == .storeUnavailable)
        #expect(error?.status == .serviceUnavailable)
    }

    @Test func anEmptyStoreSaysSo() {
        let html = StatusPage(host: Self.host).render(Self.snapshot())
        #expect(html.contains("No instance has run yet."))
        #expect(html.contains("No plugin in the drop-in directory."))
        #expect(html.contains("No instance has reported its sandbox yet"))
    }

    @Test func aLogExcerptIsOneLineCutAtItsLength() {
        let long = String(repeating: "x", count: 500)
        #expect(StatusPage.excerpt(LogLine(stream: .stderr, text: long)) == "[stderr] " + String(repeating: "x", count: 151) + "…")
        #expect(StatusPage.excerpt(LogLine(stream: .task, text: "short")) == "short")
    }

    @Test func durationsReadAsPeopleSayThem() {
        #expect(StatusPage.duration(nil) == "-")
        #expect(StatusPage.duration(.milliseconds(12)) == "12 ms")
        #expect(StatusPage.duration(.milliseconds(3_400)) == "3.4 s")
        #expect(StatusPage.duration(.seconds(125)) == "2 min 5 s")
    }

    @Test func anInstanceLogIsPlainTextAsWritten() throws {
        let store = try TestSupport.store()
        let id = RandomToken.uuid()
        try store.insertInstance(Self.instance(id, task: "Echo", outcome: nil))
        try store.finishInstance(
            id: id, endedAt: Date(), outcome: .completed, progress: 0, sandbox: "enforced: rlimits",
            appendingLog: [LogLine(stream: .task, text: "payload: \(Self.hostile)"), LogLine(stream: .stderr, text: "warning")])
        let service = StatusService(store: store, page: StatusPage(host: Self.host))
        let text = try service.log(instanceId: id)
        let lines = text.split(separator: "\n")
        #expect(lines.first == "instance \(id) of Echo (com.example.tests): completed")
        #expect(lines.dropFirst().first == "sandbox: enforced: rlimits")
        #expect(
            lines.dropFirst(2).first?.hasSuffix("  payload: \(Self.hostile)") == true, "served as text/plain: never escaped, never rendered"
        )
        #expect(lines.dropFirst(3).first?.hasSuffix("  [stderr] warning") == true)
        // Not an instance id (never echoed back), or no such instance: 404.
        for wrong in ["00000000-0000-4000-8000-000000000000", "../../../../etc/passwd", "<script>", "", String(id.prefix(8))] {
            let error = #expect(throws: StatusError.self) { try service.log(instanceId: wrong) }
            #expect(error?.code == .noSuchInstance)
            #expect(error?.status == .notFound)
            #expect(error?.message.contains("<") == false)
        }
    }

    @Test func onlyClientsOnThisMachineAreLoopback() throws {
        for address in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            #expect(StatusRoutes.isLoopback(try SocketAddress(ipAddress: address, port: 1)), "\(address)")
        }
        for address in ["10.0.0.1", "192.168.1.2", "0.0.0.0", "::", "::2", "fe80::1", "::ffff:10.0.0.1", "128.0.0.1"] {
            #expect(!StatusRoutes.isLoopback(try SocketAddress(ipAddress: address, port: 1)), "\(address)")
        }
        #expect(StatusRoutes.isLoopback(try SocketAddress(unixDomainSocketPath: "/tmp/x")))
        #expect(throws: StatusError.self) { try StatusRoutes.requireLoopback(nil) }
    }
}
