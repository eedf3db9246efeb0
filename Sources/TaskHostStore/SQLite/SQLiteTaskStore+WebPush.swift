package import Foundation
import GRDB

/// Web Push subscriptions, and the queue's Topic replacement and message removal.
extension SQLiteTaskStore: WebPushStore {
    /// The messages a new one with the same topic replaces: those of its
    /// subscription that have not run to completion.
    static let replaceTopicSQL = """
        DELETE FROM trigger WHERE channel_id = ? AND topic = ? AND state IN ('pending', 'retrying', 'parked', 'waiting') AND id != ?
        """

    private static func subscription(from row: Row) -> WebPushSubscription {
        let privateKey: Data = row["private_key"]
        let publicKey: Data = row["public_key"]
        let auth: Data = row["auth_secret"]
        let serverKey: Data? = row["application_server_key"]
        let expires: Double? = row["expires_at"]
        let revoked: Double? = row["revoked_at"]
        return WebPushSubscription(
            id: row["id"], app: row["app"], task: row["task"], privateKey: Array(privateKey), publicKey: Array(publicKey),
            authSecret: Array(auth), applicationServerKey: serverKey.map(Array.init),
            createdAt: Date(timeIntervalSince1970: row["created_at"]), expiresAt: expires.map(Date.init(timeIntervalSince1970:)),
            revokedAt: revoked.map(Date.init(timeIntervalSince1970:)))
    }

    package func insertSubscription(_ subscription: WebPushSubscription) throws(StoreError) {
        try transition(
            "create a Web Push subscription",
            """
            INSERT INTO webpush_subscription (id, app, task, private_key, public_key, auth_secret, application_server_key,
                created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                subscription.id, subscription.app, subscription.task, Data(subscription.privateKey), Data(subscription.publicKey),
                Data(subscription.authSecret), subscription.applicationServerKey.map { Data($0) },
                subscription.createdAt.timeIntervalSince1970, subscription.expiresAt?.timeIntervalSince1970,
                subscription.revokedAt?.timeIntervalSince1970,
            ])
    }

    package func subscription(id: String) throws(StoreError) -> WebPushSubscription? {
        try read("read a Web Push subscription") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM webpush_subscription WHERE id = ?", arguments: [id]).map(Self.subscription(from:))
        }
    }

    package func subscriptions(app: String?) throws(StoreError) -> [WebPushSubscription] {
        try read("list Web Push subscriptions") { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM webpush_subscription WHERE ? IS NULL OR app = ? ORDER BY created_at", arguments: [app, app]
            ).map(Self.subscription(from:))
        }
    }

    package func revokeSubscription(id: String, at date: Date) throws(StoreError) -> Bool {
        try transition(
            "revoke a Web Push subscription", "UPDATE webpush_subscription SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            [date.timeIntervalSince1970, id]) > 0
    }

    package func deletePendingMessage(id: String, subscriptionId: String) throws(StoreError) -> Bool {
        try transition(
            "delete Web Push message \(id)",
            "DELETE FROM trigger WHERE id = ? AND channel_id = ? AND kind = 'webpush' AND state IN ('pending', 'retrying', 'parked', 'waiting')",
            [id, subscriptionId]) > 0
    }
}
