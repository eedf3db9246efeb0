import Crypto
import Foundation
import TaskHostCore
import TaskHostStore
import TaskHostWebPush

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Web Push against a ``TestServer``: subscriptions in its store, and an
/// application server (a VAPID key) that encrypts and signs pushes.
extension TestServer {
    /// The server's origin as the daemon sees it by default.
    var origin: String { "http://127.0.0.1:\(port)" }

    /// A subscription for `task`, restricted to `serverKey` when given.
    func subscription(
        task: String, serverKey: P256.Signing.PublicKey? = nil, expiresAt: Date? = nil
    ) throws -> WebPushSubscription {
        let subscription = WebPushSubscription.make(
            app: Self.app, task: task, applicationServerKey: serverKey.map { Array($0.x963Representation) }, expiresAt: expiresAt)
        try store.insertSubscription(subscription)
        return subscription
    }

    /// Sends `plaintext` (nil: no body, a tickle) to `subscription` as an
    /// application server with `key` does; `headers` add to or replace `TTL: 60`,
    /// `Content-Encoding` and the VAPID `Authorization` (a `nil` value removes one).
    func webPush(
        _ subscription: WebPushSubscription, _ plaintext: String?, key: P256.Signing.PrivateKey, audience: String? = nil,
        headers: [String: String?] = [:], body: [UInt8]? = nil
    ) async throws -> Answer {
        let token = VAPID.sign(audience: audience ?? origin, expiresAt: Date().addingTimeInterval(3600), key: key)
        var fields: [String: String] = ["TTL": "60", "Authorization": VAPID.authorization(token: token, key: key.publicKey)]
        var content: [UInt8] = []
        if let plaintext {
            content = try WebPushMessage.encrypt(
                Array(plaintext.utf8), receiverKey: subscription.publicKey, authSecret: subscription.authSecret)
            fields["Content-Encoding"] = "aes128gcm"
        }
        for (name, value) in headers { fields[name] = value }
        return try await request("POST", "/webpush/v1/\(subscription.id)", headers: fields, body: body ?? content)
    }

    /// A request to `path` on the server.
    func request(_ method: String, _ path: String, headers: [String: String], body: [UInt8] = []) async throws -> Answer {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if method == "POST" { request.httpBody = Data(body) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields { fields["\(name)"] = "\(value)" }
        return Answer(status: http.statusCode, headers: fields, body: String(decoding: data, as: UTF8.self))
    }

    /// `DELETE` on a message URI (`Location`), signed by `key`.
    func deleteMessage(_ location: String, key: P256.Signing.PrivateKey) async throws -> Answer {
        let token = VAPID.sign(audience: origin, expiresAt: Date().addingTimeInterval(3600), key: key)
        let path = String(location.dropFirst(origin.count))
        return try await request("DELETE", path, headers: ["Authorization": VAPID.authorization(token: token, key: key.publicKey)])
    }
}
