import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The status page of a real `taskhost serve`, loaded in headless Chromium
/// (Debian's `chromium`, which `.ci/run` installs): the DOM the browser built
/// lists the instances and their outcomes, and a log line with `<script>` in
/// it is text, not an element. The screenshot is kept in the test's
/// temporary directory (its path is printed).
@Suite(.serialized) struct StatusPageBrowserTests {
    static let hostile = "<script>alert(1)</script>"

    /// Headless Chromium with `arguments` and a profile of its own; its
    /// standard output (`--dump-dom` writes the DOM there).
    static func chromium(_ path: String, _ arguments: [String], profile: String) throws -> String {
        let output = profile + "/chromium-\(UUID().uuidString).out"
        let process = try ChildProcess.start(
            path,
            arguments: ["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--user-data-dir=\(profile)"] + arguments,
            workingDirectory: profile, output: .file(output), error: .file(output + ".err"))
        // Generous: a cold start of a browser on a loaded 2-core machine.
        guard let termination = process.waitBlocking(timeout: 180) else {
            _ = process.signalGroup(SIGKILL)
            process.waitUntilExit()
            Issue.record("chromium \(arguments.joined(separator: " ")) did not finish within 180 s")
            return ""
        }
        #expect(termination == .exited(0), "chromium: \((try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? "")")
        return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    }

    /// `method` `url`: status, headers (lower-case names) and body.
    static func get(_ url: String, method: String = "GET") async throws -> (status: Int, headers: [String: String], body: String) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields { headers["\(name)".lowercased()] = "\(value)" }
        return (http.statusCode, headers, String(decoding: data, as: UTF8.self))
    }

    @Test func theStatusPageShowsInstancesAndOutcomesInABrowserWithPluginTextAsText() async throws {
        guard let chromium = ExternalTools.executable("chromium") else {
            let why = ExternalTools.missing(nil, "chromium", install: "apt-get install chromium") ?? ""
            if ExternalTools.underCI { Issue.record(Comment(rawValue: why)) } else { print("skipped: \(why)") }
            return
        }
        let directory = TestSupport.temporaryDirectory()
        let manifest = try ServeProcess.manifest(
            in: directory,
            [
                ("Echo", "FaultyTasks.PayloadLoggingTask", ""), ("Crasher", "FaultyTasks.CrashingTask", ""),
            ])
        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        var channels: [String: String] = [:]
        for task in ["Echo", "Crasher"] {
            let channel = PushChannel(
                id: PushChannel.newId(), app: "com.example.tests", task: task, createdAt: Date(), expiresAt: Date().addingTimeInterval(3600)
            )
            try store.insertChannel(channel)
            channels[task] = channel.id
        }
        let (credential, token) = Credential.make(app: "com.example.tests", label: "browser test")
        try store.insertCredential(credential)

        let serve = try ServeProcess(
            manifest: manifest, stateDirectory: directory, arguments: ["--metrics-bind", "127.0.0.1:0", "--max-attempts", "1"])
        defer { _ = serve.terminate() }
        let operatorLine = try #require(
            serve.output.split(separator: "\n").first { $0.hasPrefix("taskhost: operator listener on http://") })
        let base = String(operatorLine.dropFirst("taskhost: operator listener on ".count))

        let pushes = [("Echo", Self.hostile), ("Echo", "hello"), ("Echo", "fail:<b>bold</b>"), ("Crasher", "x")]
        for (task, content) in pushes {
            #expect(await ServeProcessTests.push(port: serve.port, channel: channels[task]!, token: token, content: content) == 200)
        }
        #expect(
            try await TestSupport.eventually(timeout: .seconds(120)) {
                try store.instances(task: nil, limit: 10).filter { $0.outcome != nil }.count == pushes.count
            }, "every push ran: \(serve.errors)")
        let instances = try store.instances(task: nil, limit: 10)
        let outcomes = Dictionary(grouping: instances, by: { $0.outcome?.code ?? "running" }).mapValues(\.count)
        #expect(outcomes == ["completed": 2, "failed": 1, "crashed": 1])
        let hostileRun = try #require(try instances.first { try store.log(instanceId: $0.id).contains { $0.text.contains(Self.hostile) } })

        // The answers' headers: HTML that may run no script; a log that is text, never sniffed as HTML.
        let page = try await Self.get(base + "/status")
        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.headers["x-content-type-options"] == "nosniff")
        #expect(page.headers["content-security-policy"]?.hasPrefix("default-src 'none'") == true)
        let logURL = base + "/status/instances/\(hostileRun.id)/log"
        let log = try await Self.get(logURL)
        #expect(log.status == 200)
        #expect(log.headers["content-type"] == "text/plain; charset=utf-8")
        #expect(log.headers["x-content-type-options"] == "nosniff")
        #expect(log.body.contains("payload: \(Self.hostile)"))
        #expect(try await Self.get(base + "/status/instances/\(RandomToken.uuid())/log").status == 404)
        #expect(try await Self.get(base + "/status", method: "HEAD").status == 200)
        #expect(try await Self.get(base + "/status", method: "POST").status == 405)
        #expect(try await Self.get(logURL, method: "DELETE").status == 405)

        // What the browser built from the page.
        let dom = try Self.chromium(chromium, ["--dump-dom", base + "/status"], profile: directory)
        for instance in instances {
            #expect(dom.contains("data-instance=\"\(instance.id)\" data-outcome=\"\(instance.outcome?.code ?? "")\""), "\(instance.task)")
        }
        #expect(dom.contains("payload: &lt;script&gt;alert(1)&lt;/script&gt;"), "the log line shows as text")
        #expect(dom.contains("failed: fail:&lt;b&gt;bold&lt;/b&gt;"), "the task's error shows as text")
        #expect(!dom.contains("<script"), "no script element came from a plugin or a push")
        #expect(!dom.contains("<b>"))
        #expect(dom.contains("http-equiv=\"refresh\""))
        // The log, as the browser shows it: text in a <pre>, no element from it.
        let logDOM = try Self.chromium(chromium, ["--dump-dom", logURL], profile: directory)
        #expect(logDOM.contains("payload: &lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!logDOM.contains("<script"))

        let screenshot = directory + "/status-page.png"
        _ = try Self.chromium(
            chromium, ["--hide-scrollbars", "--screenshot=\(screenshot)", "--window-size=1280,900", base + "/status"], profile: directory)
        let png = try #require(FileManager.default.contents(atPath: screenshot), "chromium saved no screenshot")
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG")
        print("status page screenshot: \(screenshot)")
    }
}
