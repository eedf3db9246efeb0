import Foundation
import TaskHostTestSupport
import Testing

/// `taskhost serve --log-format json`: one JSON object per line on standard error.
@Suite struct JSONLogTests {
    @Test func everyLineOnStandardErrorIsAJSONObject() async throws {
        let directory = TestSupport.temporaryDirectory()
        // Open to other users: serve makes it private and warns, in JSON too.
        chmod(directory, 0o755)
        let server = try ServeProcess(manifest: nil, stateDirectory: directory, arguments: ["--log-format", "json", "--plugins-dir", ""])
        server.process.signal(SIGTERM)
        let ended = await server.process.waitForExit(timeout: .seconds(30))
        if ended == nil { server.kill9() }
        #expect(ended == .exited(0), "serve stops on SIGTERM")
        let lines = server.errors.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count >= 3, "\(server.errors)")
        var messages: [String: [String: Any]] = [:]
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let fields = try #require(object, "not a JSON object: \(line)")
            for key in ["time", "level", "logger", "message"] { #expect(fields[key] is String, "\(key) in \(line)") }
            let time = fields["time"] as? String ?? ""
            #expect(time.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(time)")
            messages[fields["message"] as? String ?? ""] = fields
        }
        let listening = try #require(messages["listening"], "\(messages.keys)")
        #expect(listening["level"] as? String == "info")
        #expect(messages["operator listener (health, metrics)"]?["component"] as? String == "taskhost.operator", "metadata are fields")
        #expect((listening["address"] as? String)?.hasPrefix("http://127.0.0.1:") == true)
        #expect(messages["stopped"] != nil, "\(messages.keys)")
        let warning = try #require(messages.first { $0.key.contains("was open to other users") }?.value, "\(messages.keys)")
        #expect(warning["level"] as? String == "warning")
    }
}
