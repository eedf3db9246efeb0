import Crypto
package import Foundation
import TaskHostCore

/// A Web Push subscription (RFC 8030 section 4): an unguessable push
/// resource bound to one task of one app, with the keys its payloads are
/// encrypted to (RFC 8291). taskhost is both the push service and the user
/// agent, so it keeps the private key; it is never shown, not to plugins either.
package struct WebPushSubscription: Sendable, Equatable {
    /// The subscription id: 32 random bytes, base64url (256 bits), never starting with `-`.
    package var id: String
    /// The app (manifest identity) and task it fires.
    package var app: String
    package var task: String
    /// The P-256 private key (the 32-byte scalar) whose public half is `p256dh`.
    package var privateKey: [UInt8]
    /// `keys.p256dh`: the public key, uncompressed (65 bytes).
    package var publicKey: [UInt8]
    /// `keys.auth`: the 16-byte authentication secret.
    package var authSecret: [UInt8]
    /// The VAPID public key (65 bytes) that must sign every push, when the
    /// subscription is restricted to one application server (RFC 8292 section 3.2).
    package var applicationServerKey: [UInt8]?
    /// When it was created.
    package var createdAt: Date
    /// After this moment pushes get 410 (`nil`: never, `expirationTime: null`).
    package var expiresAt: Date?
    /// Set when revoked; pushes then get 410.
    package var revokedAt: Date?

    /// Creates a subscription record.
    package init(
        id: String, app: String, task: String, privateKey: [UInt8], publicKey: [UInt8], authSecret: [UInt8],
        applicationServerKey: [UInt8]?, createdAt: Date, expiresAt: Date?, revokedAt: Date? = nil
    ) {
        self.id = id
        self.app = app
        self.task = task
        self.privateKey = privateKey
        self.publicKey = publicKey
        self.authSecret = authSecret
        self.applicationServerKey = applicationServerKey
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    /// A new subscription with a fresh key pair and auth secret.
    package static func make(
        app: String, task: String, applicationServerKey: [UInt8]?, expiresAt: Date?, now: Date = Date()
    ) -> WebPushSubscription {
        let key = P256.KeyAgreement.PrivateKey()
        return WebPushSubscription(
            id: PushChannel.newId(), app: app, task: task, privateKey: Array(key.rawRepresentation),
            publicKey: Array(key.publicKey.x963Representation), authSecret: RandomToken.bytes(16),
            applicationServerKey: applicationServerKey, createdAt: now, expiresAt: expiresAt)
    }

    /// Whether pushes are accepted at `now`.
    package func isUsable(at now: Date) -> Bool { revokedAt == nil && (expiresAt.map { $0 > now } ?? true) }

    /// The push resource's URI on a server reachable at `baseURL`.
    package func endpoint(baseURL: String) -> String {
        (baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL) + "/webpush/v1/" + id
    }

    /// The subscription as a browser's `PushSubscription.toJSON()` shows it:
    /// `{"endpoint": …, "expirationTime": null or milliseconds, "keys": {"p256dh": …, "auth": …}}`.
    package func json(baseURL: String) -> String {
        let expiration = expiresAt.map { String(Int64(($0.timeIntervalSince1970 * 1000).rounded())) } ?? "null"
        let endpoint = endpoint(baseURL: baseURL).replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return #"{"endpoint": ""# + endpoint + #"", "expirationTime": "# + expiration + #", "keys": {"p256dh": ""#
            + RandomToken.base64URL(publicKey) + #"", "auth": ""# + RandomToken.base64URL(authSecret) + #""}}"#
    }
}

/// Web Push subscriptions, and what the push resource does to the queue
/// beyond enqueueing: removing a message that has not run (RFC 8030 section 7).
package protocol WebPushStore: Sendable {
    /// Stores a new subscription.
    func insertSubscription(_ subscription: WebPushSubscription) throws(StoreError)
    /// The subscription `id`, whatever its state.
    func subscription(id: String) throws(StoreError) -> WebPushSubscription?
    /// The subscriptions of `app` (`nil`: of every app), oldest first.
    func subscriptions(app: String?) throws(StoreError) -> [WebPushSubscription]
    /// Revokes a subscription; returns whether it existed and was not revoked.
    func revokeSubscription(id: String, at: Date) throws(StoreError) -> Bool
    /// Removes the message `id` of subscription `subscriptionId` if it has not
    /// run to completion (pending, retrying or parked); returns whether it did.
    func deletePendingMessage(id: String, subscriptionId: String) throws(StoreError) -> Bool
}
