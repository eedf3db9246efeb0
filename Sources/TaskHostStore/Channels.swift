import Crypto
package import Foundation
import TaskHostCore

/// A push channel: an unguessable URL bound to one task of one app
/// (Windows' `PushNotificationChannel`).
package struct PushChannel: Sendable, Equatable {
    /// The channel id: 32 random bytes, base64url (256 bits).
    package var id: String
    package var app: String
    package var task: String
    package var createdAt: Date
    /// After this moment pushes are refused with 410 until it is renewed.
    package var expiresAt: Date
    /// Set when revoked; pushes are then refused with 410.
    package var revokedAt: Date?

    /// Creates a channel record.
    package init(id: String, app: String, task: String, createdAt: Date, expiresAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.app = app
        self.task = task
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    /// A fresh channel id: 32 random bytes in base64url, never starting with
    /// `-` (a command line would take such an id for an option: one in 64
    /// ids made `taskhost channels revoke ID` fail with a usage error).
    package static func newId() -> String {
        while true {
            let id = RandomToken.base64URL(bytes: 32)
            if id.first != "-" { return id }
        }
    }

    /// Whether pushes are accepted at `now`.
    package func isUsable(at now: Date) -> Bool { revokedAt == nil && expiresAt > now }

    /// The channel's URI on a server reachable at `baseURL`.
    package func uri(baseURL: String) -> String {
        (baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL) + "/push/v1/" + id
    }
}

/// An app server's credential: it authenticates pushes to the app's channels
/// with `Authorization: Bearer <token>`. Only a hash of the secret is stored.
package struct Credential: Sendable, Equatable {
    /// The credential's public id (the part of the token before the dot).
    package var id: String
    package var app: String
    package var label: String
    /// SHA-256 of the secret part of the token.
    package var secretHash: [UInt8]
    package var createdAt: Date
    package var revokedAt: Date?
    /// What the token may do: push to the app's channels, or listen to its pushes.
    package var scope: Scope

    /// What a credential allows. One scope each: an app server's push token
    /// cannot read the pushes of other senders, and a listener's token cannot push.
    package enum Scope: String, Sendable, CaseIterable {
        /// `POST /push/v1/CHANNEL` to the app's channels (the default).
        case push
        /// `GET /listen/v1/APP`: see the app's pushes live and claim them.
        case listen
    }

    /// Creates a credential record.
    package init(
        id: String, app: String, label: String, secretHash: [UInt8], createdAt: Date, revokedAt: Date? = nil, scope: Scope = .push
    ) {
        self.id = id
        self.app = app
        self.label = label
        self.secretHash = secretHash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.scope = scope
    }

    /// Makes a new credential and its token (`<id>.<secret>`). The token is
    /// shown once; only the hash of its secret is kept.
    package static func make(app: String, label: String, scope: Scope = .push) -> (Credential, token: String) {
        let id = "cr_" + RandomToken.hex(bytes: 8)
        let secret = RandomToken.base64URL(bytes: 32)
        let credential = Credential(
            id: id, app: app, label: label, secretHash: hash(secret), createdAt: Date(), revokedAt: nil, scope: scope)
        return (credential, id + "." + secret)
    }

    /// SHA-256 of a secret.
    package static func hash(_ secret: String) -> [UInt8] { Array(SHA256.hash(data: Data(secret.utf8))) }

    /// Splits a bearer token into credential id and secret.
    package static func parse(token: String) -> (id: String, secret: String)? {
        let parts = token.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, parts[0].hasPrefix("cr_"), parts[0].count <= 64, !parts[1].isEmpty, parts[1].count <= 256
        else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// Whether `secret` hashes to `hash` (SHA-256), compared in constant time.
    /// It does the same work whatever the hash, so that callers can compare
    /// against a stand-in when no credential exists, and before looking at a
    /// revocation.
    package static func secretMatches(_ secret: String, hash: [UInt8]) -> Bool {
        let presented = Self.hash(secret)
        guard presented.count == hash.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(presented, hash) { difference |= a ^ b }
        return difference == 0
    }
}

/// Channels, credentials and timer anchors.
package protocol ChannelStore: Sendable {
    func insertChannel(_ channel: PushChannel) throws(StoreError)
    func channel(id: String) throws(StoreError) -> PushChannel?
    func channels(app: String?) throws(StoreError) -> [PushChannel]
    /// Revokes a channel; returns whether it existed and was not revoked.
    func revokeChannel(id: String, at: Date) throws(StoreError) -> Bool
    /// Moves a channel's expiry; returns the updated channel.
    func renewChannel(id: String, expiresAt: Date) throws(StoreError) -> PushChannel?
    func insertCredential(_ credential: Credential) throws(StoreError)
    func credential(id: String) throws(StoreError) -> Credential?
    func credentials() throws(StoreError) -> [Credential]
    func revokeCredential(id: String, at: Date) throws(StoreError) -> Bool
    /// The moment a task's timer counts from, stored the first time it is asked for.
    func timerAnchor(app: String, task: String, default: Date) throws(StoreError) -> Date
}
