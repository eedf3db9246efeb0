import Foundation
import TaskHostStore
import TaskHostTestSupport
import Testing

/// The listening protocol as a WebSocket client this project did not write
/// speaks it: Python's `websockets` (pinned in Tests/requirements.txt). Without
/// it the test is skipped, except under CI, where that is a failure.
// A deadline against hangs (a push that never comes), not a timing assertion.
@Suite(.timeLimit(.minutes(5))) struct ListenerPythonClientTests {
    static let source = #"""
        import json, os, sys, time
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        url, token, marker = sys.argv[1], sys.argv[2], sys.argv[3]
        try:
            with connect(url, additional_headers={"Authorization": "Bearer " + token}, open_timeout=30) as ws:
                print(ws.recv(timeout=30), flush=True)
                open(marker, "w").close()
                push = json.loads(ws.recv(timeout=120))
                print(json.dumps(push), flush=True)
                ws.send("claim " + push["triggerId"])
                print(ws.recv(timeout=30), flush=True)
        except InvalidStatus as refused:
            print(json.dumps({"refused": refused.response.status_code}), flush=True)
        """#

    /// One line the script printed (a message of the host, or the refusal's status).
    struct Line: Decodable, Sendable {
        var type: String?
        var triggerId: String?
        var claims: Bool?
        var claimed: Bool?
        var payload: String?
        var refused: Int?
        var unreadable: String?
    }

    /// Runs the script on a thread of its own (it blocks until Python exits); returns its output lines.
    static func run(_ python: String, _ arguments: [String]) async throws -> [Line] {
        let output = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
            Thread {
                do {
                    let process = try ChildProcess.start(python, arguments: arguments, workingDirectory: nil, output: .pipe, error: .pipe)
                    let out = process.readBlocking(.output)
                    let err = process.readBlocking(.error)
                    process.waitUntilExit()
                    continuation.resume(
                        returning: out + (process.terminationStatus == 0 ? "" : "\nexit \(process.terminationStatus): \(err)"))
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
        return output.split(separator: "\n").map {
            (try? JSONDecoder().decode(Line.self, from: Data($0.utf8))) ?? Line(unreadable: String($0))
        }
    }

    @Test func aPythonWebSocketClientSeesAPushClaimsItAndIsRefusedWithABadToken() async throws {
        guard let python = ExternalTools.python else {
            let message = ExternalTools.missing(nil, "the tests' Python environment with websockets", install: WebPushSender.install)!
            if ExternalTools.underCI { Issue.record(Comment(rawValue: message)) } else { print("skipped: \(message)") }
            return
        }
        let directory = TestSupport.temporaryDirectory()
        let script = directory + "/listen.py"
        try Self.source.write(toFile: script, atomically: true, encoding: .utf8)
        let server = try await TestServer.start([ListenerTests.recorder()])
        defer { Task { await server.stop() } }
        let channel = try server.channel(task: "Recorder")
        let token = try server.token()
        let url = "ws://127.0.0.1:\(server.port)/listen/v1/\(TestServer.app)?claim=true"
        let marker = directory + "/ready"
        async let lines = Self.run(python, [script, url, try ListenerTests.listenToken(server), marker])
        #expect(await TestSupport.eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: marker) })
        let answer = try await server.post(channel.id, token: token, body: Array("from python".utf8))
        let id = try #require(answer.header("X-WNS-Msg-ID"))
        let got = try await lines
        try #require(got.count == 3, "\(got)")
        #expect(got[0].type == "ready" && got[0].claims == true)
        #expect(got[1].type == "push" && got[1].triggerId == id)
        #expect(got[1].payload == Data("from python".utf8).base64EncodedString())
        #expect(got[2].type == "claim" && got[2].claimed == true)
        #expect(try server.store.queuedTrigger(idPrefix: id)?.state == .claimed)
        let refused = try await Self.run(python, [script, url, "cr_0.wrong", marker])
        #expect(refused.first?.refused == 401, "\(refused)")
    }
}
