package import Foundation
import NIOCore
import PostgresNIO
import TaskHostCore
package import TaskHostStore

/// Push channels, the credentials that create them, and timers' anchors.
extension PostgresTaskStore: ChannelStore {
    private static let channelColumns = "id, app, task, created_at, expires_at, revoked_at"

    private static func channel(from row: PostgresRow) throws -> PushChannel {
        let (id, app, task, created, expires, revoked) = try row.decode((String, String, String, Date, Date, Date?).self)
        return PushChannel(id: id, app: app, task: task, createdAt: created, expiresAt: expires, revokedAt: revoked)
    }

    package func insertChannel(_ channel: PushChannel) throws(StoreError) {
        try execute(
            "create a channel",
            """
            INSERT INTO channel (id, app, task, created_at, expires_at, revoked_at)
            VALUES (\(channel.id), \(channel.app), \(channel.task), \(channel.createdAt), \(channel.expiresAt), \(channel.revokedAt))
            """)
    }

    package func channel(id: String) throws(StoreError) -> PushChannel? {
        let rows = try rows("read a channel", "SELECT \(unescaped: Self.channelColumns) FROM channel WHERE id = \(id)")
        return try decoding("read a channel") { try rows.first.map(Self.channel(from:)) }
    }

    package func channels(app: String?) throws(StoreError) -> [PushChannel] {
        let rows = try rows(
            "list channels",
            "SELECT \(unescaped: Self.channelColumns) FROM channel WHERE \(app)::text IS NULL OR app = \(app) ORDER BY created_at, id")
        return try decoding("list channels") { try rows.map(Self.channel(from:)) }
    }

    package func revokeChannel(id: String, at date: Date) throws(StoreError) -> Bool {
        try execute(
            "revoke a channel", "UPDATE channel SET revoked_at = \(date) WHERE id = \(id) AND revoked_at IS NULL RETURNING 1") > 0
    }

    package func renewChannel(id: String, expiresAt: Date) throws(StoreError) -> PushChannel? {
        let rows = try rows(
            "renew a channel",
            """
            UPDATE channel SET expires_at = \(expiresAt) WHERE id = \(id) AND revoked_at IS NULL
            RETURNING \(unescaped: Self.channelColumns)
            """)
        return try decoding("renew a channel") { try rows.first.map(Self.channel(from:)) }
    }

    private static func credential(from row: PostgresRow) throws -> Credential {
        let (id, app, label, hash, created, revoked, scope) = try row.decode((String, String, String, Data, Date, Date?, String).self)
        return Credential(
            id: id, app: app, label: label, secretHash: Array(hash), createdAt: created, revokedAt: revoked,
            scope: Credential.Scope(rawValue: scope) ?? .push)
    }

    private static let credentialColumns = "id, app, label, secret_hash, created_at, revoked_at, scope"

    package func insertCredential(_ credential: Credential) throws(StoreError) {
        try execute(
            "create a credential",
            """
            INSERT INTO credential (id, app, label, secret_hash, created_at, revoked_at, scope)
            VALUES (\(credential.id), \(credential.app), \(credential.label), \(ByteBuffer(bytes: credential.secretHash)),
                    \(credential.createdAt), \(credential.revokedAt), \(credential.scope.rawValue))
            """)
    }

    package func credential(id: String) throws(StoreError) -> Credential? {
        let rows = try rows("read a credential", "SELECT \(unescaped: Self.credentialColumns) FROM credential WHERE id = \(id)")
        return try decoding("read a credential") { try rows.first.map(Self.credential(from:)) }
    }

    package func credentials() throws(StoreError) -> [Credential] {
        let rows = try rows("list credentials", "SELECT \(unescaped: Self.credentialColumns) FROM credential ORDER BY created_at, id")
        return try decoding("list credentials") { try rows.map(Self.credential(from:)) }
    }

    package func revokeCredential(id: String, at date: Date) throws(StoreError) -> Bool {
        try execute(
            "revoke a credential", "UPDATE credential SET revoked_at = \(date) WHERE id = \(id) AND revoked_at IS NULL RETURNING 1") > 0
    }

    /// The first host to ask records `date`; every host then reads the same anchor.
    package func timerAnchor(app: String, task: String, default date: Date) throws(StoreError) -> Date {
        let rows = try rows(
            "read the timer of \(task)",
            """
            WITH inserted AS (
                INSERT INTO timer (app, task, anchor) VALUES (\(app), \(task), \(date)) ON CONFLICT (app, task) DO NOTHING RETURNING anchor)
            SELECT anchor FROM inserted UNION ALL SELECT anchor FROM timer WHERE app = \(app) AND task = \(task) LIMIT 1
            """)
        if let row = rows.first { return try decoding("read the timer of \(task)") { try row.decode(Date.self) } }
        // Another host inserted it after this statement's snapshot was taken: read it now.
        let again = try self.rows("read the timer of \(task)", "SELECT anchor FROM timer WHERE app = \(app) AND task = \(task)")
        return try decoding("read the timer of \(task)") { try again.first?.decode(Date.self) ?? date }
    }
}
