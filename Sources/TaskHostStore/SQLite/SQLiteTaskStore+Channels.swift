package import Foundation
import GRDB

extension SQLiteTaskStore: ChannelStore {
    private static func channel(from row: Row) -> PushChannel {
        let revoked: Double? = row["revoked_at"]
        return PushChannel(
            id: row["id"], app: row["app"], task: row["task"], createdAt: Date(timeIntervalSince1970: row["created_at"]),
            expiresAt: Date(timeIntervalSince1970: row["expires_at"]), revokedAt: revoked.map(Date.init(timeIntervalSince1970:)))
    }

    package func insertChannel(_ channel: PushChannel) throws(StoreError) {
        try transition(
            "create a channel",
            "INSERT INTO channel (id, app, task, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                channel.id, channel.app, channel.task, channel.createdAt.timeIntervalSince1970,
                channel.expiresAt.timeIntervalSince1970, channel.revokedAt?.timeIntervalSince1970,
            ])
    }

    package func channel(id: String) throws(StoreError) -> PushChannel? {
        try read("read a channel") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM channel WHERE id = ?", arguments: [id]).map(Self.channel(from:))
        }
    }

    package func channels(app: String?) throws(StoreError) -> [PushChannel] {
        try read("list channels") { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM channel WHERE ? IS NULL OR app = ? ORDER BY created_at", arguments: [app, app]
            ).map(Self.channel(from:))
        }
    }

    package func revokeChannel(id: String, at date: Date) throws(StoreError) -> Bool {
        try transition(
            "revoke a channel", "UPDATE channel SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            [date.timeIntervalSince1970, id]) > 0
    }

    package func renewChannel(id: String, expiresAt: Date) throws(StoreError) -> PushChannel? {
        try write("renew a channel") { db in
            try db.execute(
                sql: "UPDATE channel SET expires_at = ? WHERE id = ? AND revoked_at IS NULL",
                arguments: [expiresAt.timeIntervalSince1970, id])
            guard db.changesCount > 0 else { return nil }
            return try Row.fetchOne(db, sql: "SELECT * FROM channel WHERE id = ?", arguments: [id]).map(Self.channel(from:))
        }
    }

    private static func credential(from row: Row) -> Credential {
        let hash: Data = row["secret_hash"]
        let revoked: Double? = row["revoked_at"]
        return Credential(
            id: row["id"], app: row["app"], label: row["label"], secretHash: Array(hash),
            createdAt: Date(timeIntervalSince1970: row["created_at"]), revokedAt: revoked.map(Date.init(timeIntervalSince1970:)),
            scope: Credential.Scope(rawValue: row["scope"]) ?? .push)
    }

    package func insertCredential(_ credential: Credential) throws(StoreError) {
        try transition(
            "create a credential",
            "INSERT INTO credential (id, app, label, secret_hash, created_at, revoked_at, scope) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                credential.id, credential.app, credential.label, Data(credential.secretHash),
                credential.createdAt.timeIntervalSince1970, credential.revokedAt?.timeIntervalSince1970, credential.scope.rawValue,
            ])
    }

    package func credential(id: String) throws(StoreError) -> Credential? {
        try read("read a credential") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM credential WHERE id = ?", arguments: [id]).map(Self.credential(from:))
        }
    }

    package func credentials() throws(StoreError) -> [Credential] {
        try read("list credentials") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM credential ORDER BY created_at").map(Self.credential(from:))
        }
    }

    package func revokeCredential(id: String, at date: Date) throws(StoreError) -> Bool {
        try transition(
            "revoke a credential", "UPDATE credential SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            [date.timeIntervalSince1970, id]) > 0
    }

    package func timerAnchor(app: String, task: String, default date: Date) throws(StoreError) -> Date {
        try write("read the timer of \(task)") { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO timer (app, task, anchor) VALUES (?, ?, ?)",
                arguments: [app, task, date.timeIntervalSince1970])
            let anchor =
                try Double.fetchOne(
                    db, sql: "SELECT anchor FROM timer WHERE app = ? AND task = ?", arguments: [app, task]) ?? date.timeIntervalSince1970
            return Date(timeIntervalSince1970: anchor)
        }
    }
}
