import Crypto
import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostTestSupport
import TaskHostWebPush
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// End to end: the real `taskhost serve`, a subscription from the CLI, and
/// pushes encrypted and signed by pywebpush, a Web Push library this project
/// did not write. Without it the tests are skipped, except under CI, where
/// that is a failure.
@Suite(.serialized) struct WebPushLibraryTests {
    /// The sample task, bound to Web Push as the sample manifest binds it.
    static func manifest(in directory: String) throws -> String {
        let path = directory + "/manifest.json"
        try """
        {"Identity": {"Name": "com.example.tests"}, "BackgroundTasks": [
         {"Name": "SampleBackgroundTask", "TaskEntryPoint": "BackgroundTasks.SampleBackgroundTask",
          "Library": "\(TestSupport.sampleTasks)", "Triggers": [{"Type": "PushNotification"}, {"Type": "WebPush"}]}]}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A sender, or `nil` after recording (CI) or printing (elsewhere) why there is none.
    static func sender(in directory: String) async throws -> WebPushSender? {
        switch try await WebPushSender.make(in: directory) {
        case .success(let sender): return sender
        case .failure(let missing):
            if ExternalTools.underCI { Issue.record(Comment(rawValue: missing.message)) } else { print("skipped: \(missing.message)") }
            return nil
        }
    }

    func subscribe(_ directory: String, manifest: String, key: String) throws -> String {
        let created = try ServeProcess.taskhost(
            ["subscriptions", "create", "SampleBackgroundTask", "--application-server-key", key, "--manifest", manifest],
            stateDirectory: directory)
        #expect(created.status == 0, "\(created.err)")
        return created.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func pushesFromPywebpushRunTheTaskWithThePlaintextUntilRevoked() async throws {
        let directory = TestSupport.temporaryDirectory()
        guard let sender = try await Self.sender(in: directory) else { return }
        let manifest = try Self.manifest(in: directory)
        let serve = try ServeProcess(manifest: manifest, stateDirectory: directory)
        defer { _ = serve.terminate() }
        let subscription = try subscribe(directory, manifest: manifest, key: sender.publicKey)
        // Exactly the shape of PushSubscription.toJSON().
        let json = try #require(try JSONSerialization.jsonObject(with: Data(subscription.utf8)) as? [String: Any])
        #expect(Set(json.keys) == ["endpoint", "expirationTime", "keys"])
        #expect(json["expirationTime"] is NSNull)
        let endpoint = try #require(json["endpoint"] as? String)
        #expect(endpoint.hasPrefix("http://127.0.0.1:\(serve.port)/webpush/v1/"))
        let keys = try #require(json["keys"] as? [String: String])
        #expect(Base64URL.decode(keys["p256dh"] ?? "")?.count == 65 && Base64URL.decode(keys["auth"] ?? "")?.count == 16)

        let answer = try await sender.send(subscription, "hello from pywebpush", ttl: 120)
        #expect(answer.status == 201, "\(answer.body)")
        #expect(answer.ttl == "120")
        #expect(answer.location?.hasPrefix(endpoint + "/messages/") == true)
        let settings = {
            try ServeProcess.taskhost(["settings", "get", "SampleBackgroundTask", "--app", "com.example.tests"], stateDirectory: directory)
                .out
        }
        #expect(try await TestSupport.eventually { try settings() == "hello from pywebpush\n" })
        // The older Authorization: WebPush + Crypto-Key: p256ecdsa= form.
        #expect(try await sender.send(subscription, "older scheme", scheme: "webpush").status == 201)
        #expect(try await TestSupport.eventually { try settings() == "older scheme\n" })

        let id = String(endpoint.split(separator: "/").last ?? "")
        let revoked = try ServeProcess.taskhost(["subscriptions", "revoke", id], stateDirectory: directory)
        #expect(revoked.status == 0, "\(revoked.err)")
        // The host's subscription cache forgets within a second (a push in that second is still taken).
        #expect(try await eventually410(sender, subscription))
        #expect(try await sender.send(subscription, "still too late").status == 410)
    }

    @Test func topicTTLAndDeleteWithPywebpush() async throws {
        let directory = TestSupport.temporaryDirectory()
        guard let sender = try await Self.sender(in: directory) else { return }
        let manifest = try Self.manifest(in: directory)
        let serve = try ServeProcess(manifest: manifest, stateDirectory: directory, arguments: ["--no-dispatch"])
        defer { _ = serve.terminate() }
        let subscription = try subscribe(directory, manifest: manifest, key: sender.publicKey)
        #expect(try await sender.send(subscription, "first", headers: ["Topic": "news"]).status == 201)
        #expect(try await sender.send(subscription, "replaced it", headers: ["Topic": "news", "Urgency": "high"]).status == 201)
        #expect(try await sender.send(subscription, "short-lived", ttl: 1).status == 201)
        let doomed = try await sender.send(subscription, "deleted")
        #expect(doomed.status == 201)

        // DELETE on the message URI, signed with the same VAPID key.
        let key = try P256.Signing.PrivateKey(rawRepresentation: try #require(Base64URL.decode(sender.privateKey)))
        let location = try #require(doomed.location)
        var request = URLRequest(url: try #require(URL(string: location)))
        request.httpMethod = "DELETE"
        let token = VAPID.sign(audience: "http://127.0.0.1:\(serve.port)", expiresAt: Date().addingTimeInterval(600), key: key)
        request.setValue(VAPID.authorization(token: token, key: key.publicKey), forHTTPHeaderField: "Authorization")
        let (_, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 204)

        let store = try SQLiteTaskStore(stateDirectory: StateDirectory(path: directory))
        let pending = try store.queuedTriggers(states: [.pending], limit: 10)
        #expect(pending.map { String(decoding: $0.event.payload, as: UTF8.self) }.sorted() == ["replaced it", "short-lived"])
        #expect(pending.first { $0.event.headers["topic"] == "news" }?.event.headers["urgency"] == "high")
        // Past its TTL, a message expires instead of running.
        let claimed = try store.claim(limit: 10, owner: "test", now: Date().addingTimeInterval(5)) { _, _ in true }
        #expect(claimed.map { String(decoding: $0.event.payload, as: UTF8.self) } == ["replaced it"])
        #expect(try store.queueCounts()[.expired] == 1)
    }

    @Test func servePublicURLIsTheEndpointsBaseAndTheAudience() async throws {
        let directory = TestSupport.temporaryDirectory()
        guard let sender = try await Self.sender(in: directory) else { return }
        let manifest = try Self.manifest(in: directory)
        let serve = try ServeProcess(
            manifest: manifest, stateDirectory: directory, arguments: ["--no-dispatch", "--public-url", "https://push.example.test/"])
        defer { _ = serve.terminate() }
        let published = try subscribe(directory, manifest: manifest, key: sender.publicKey)
        #expect(published.contains(#""endpoint": "https://push.example.test/webpush/v1/"#), "\(published)")
        // Reached here directly (as through a proxy that publishes that URL): aud must still be the public origin.
        let direct = published.replacingOccurrences(of: "https://push.example.test", with: "http://127.0.0.1:\(serve.port)")
        #expect(try await sender.send(direct, "aud is the address reached").status == 403)
        let answer = try await sender.send(direct, "aud is the public URL", audience: "https://push.example.test")
        #expect(answer.status == 201, "\(answer.body)")
        #expect(answer.location?.hasPrefix("https://push.example.test/webpush/v1/") == true)
    }

    /// Sends until the answer is 410 (the subscription cache forgets within a second), for at most 20 s.
    func eventually410(_ sender: WebPushSender, _ subscription: String) async throws -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if try await sender.send(subscription, "too late").status == 410 { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }
}
