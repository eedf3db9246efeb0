import Foundation
import TaskHostTestSupport
import Testing

/// `taskhost subscriptions`: create prints `PushSubscription.toJSON()`, list
/// never shows keys, revoke takes an id prefix, and bad input is one clear line.
@Suite struct SubscriptionsCLITests {
    let cli = CLITests()
    /// A VAPID public key (uncompressed P-256; RFC 8291 appendix A's application server key).
    static let serverKey = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"

    func create(_ arguments: [String] = []) throws -> [String: Any] {
        let created = try cli.taskhost(
            ["subscriptions", "create", "SampleBackgroundTask", "--base-url", "https://push.example.com/"] + arguments)
        #expect(created.status == 0, "\(created.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])
    }

    @Test func createListAndRevoke() throws {
        let json = try create(["--application-server-key", Self.serverKey])
        #expect(Set(json.keys) == ["endpoint", "expirationTime", "keys"])
        #expect(json["expirationTime"] is NSNull)
        let endpoint = try #require(json["endpoint"] as? String)
        #expect(endpoint.hasPrefix("https://push.example.com/webpush/v1/"))
        let keys = try #require(json["keys"] as? [String: String])
        #expect(Set(keys.keys) == ["p256dh", "auth"])
        let id = String(endpoint.split(separator: "/").last ?? "")
        #expect(!id.hasPrefix("-") && id.count == 43)

        let expiring = try create(["--expires", "2h"])
        let expiration = try #require(expiring["expirationTime"] as? Double)
        #expect(abs(expiration / 1000 - Date().addingTimeInterval(7200).timeIntervalSince1970) < 120)

        let list = try cli.taskhost(["subscriptions", "list", "--base-url", "https://push.example.com"])
        #expect(list.status == 0)
        #expect(list.stdout.contains(String(id.prefix(12))) && list.stdout.contains("active"))
        #expect(!list.stdout.contains(keys["p256dh"]!) && !list.stdout.contains(keys["auth"]!), "never the keys")

        let revoke = try cli.taskhost(["subscriptions", "revoke", String(id.prefix(10))])
        #expect(revoke.status == 0, "\(revoke.stderr)")
        #expect(revoke.stdout == "subscription \(id.prefix(12)) revoked\n")
        let again = try cli.taskhost(["subscriptions", "revoke", id])
        #expect(again.status == 1 && again.stderr.contains("already revoked"))
        #expect(try cli.taskhost(["subscriptions", "list"]).stdout.contains("revoked"))
    }

    @Test func badInputIsOneClearLine() throws {
        let key = try cli.taskhost(["subscriptions", "create", "SampleBackgroundTask", "--application-server-key", "not-a-key"])
        #expect(key.status == 1)
        #expect(key.stderr.contains("--application-server-key must be an uncompressed P-256 public key"))
        let duration = try cli.taskhost(["subscriptions", "create", "SampleBackgroundTask", "--expires", "soon"])
        #expect(duration.status == 1 && duration.stderr.contains("--expires must be a positive duration"))
        let unknown = try cli.taskhost(["subscriptions", "revoke", "nosuchsubscription"])
        #expect(unknown.status == 1 && unknown.stderr.contains("no subscription"))
    }
}
