package import Foundation
import NIOCore
import PostgresNIO
import TaskHostCore
package import TaskHostStore

/// Web Push subscriptions, and the removal of a message not yet run.
extension PostgresTaskStore: WebPushStore {
    private static let subscriptionColumns = """
        id, app, task, private_key, public_key, auth_secret, application_server_key, created_at, expires_at, revoked_at
        """

    private static func subscription(from row: PostgresRow) throws -> WebPushSubscription {
        let (id, app, task, privateKey, publicKey, auth, serverKey, created, expires, revoked) = try row.decode(
            (String, String, String, Data, Data, Data, Data?, Date, Date?, Date?).self)
        return WebPushSubscription(
            id: id, app: app, task: task, privateKey: Array(privateKey), publicKey: Array(publicKey), authSecret: Array(auth),
            applicationServerKey: serverKey.map(Array.init), createdAt: created, expiresAt: expires, revokedAt: revoked)
    }

    package func insertSubscription(_ subscription: WebPushSubscription) throws(StoreError) {
        try execute(
            "create a Web Push subscription",
            """
            INSERT INTO webpush_subscription (\(unescaped: Self.subscriptionColumns))
            VALUES (\(subscription.id), \(subscription.app), \(subscription.task), \(ByteBuffer(bytes: subscription.privateKey)),
                    \(ByteBuffer(bytes: subscription.publicKey)), \(ByteBuffer(bytes: subscription.authSecret)),
                    \(subscription.applicationServerKey.map { ByteBuffer(bytes: $0) }), \(subscription.createdAt),
                    \(subscription.expiresAt), \(subscription.revokedAt))
            """)
    }

    package func subscription(id: String) throws(StoreError) -> WebPushSubscription? {
        let rows = try rows(
            "read a Web Push subscription", "SELECT \(unescaped: Self.subscriptionColumns) FROM webpush_subscription WHERE id = \(id)")
        return try decoding("read a Web Push subscription") { try rows.first.map(Self.subscription(from:)) }
    }

    package func subscriptions(app: String?) throws(StoreError) -> [WebPushSubscription] {
        let rows = try rows(
            "list Web Push subscriptions",
            """
            SELECT \(unescaped: Self.subscriptionColumns) FROM webpush_subscription WHERE \(app)::text IS NULL OR app = \(app)
            ORDER BY created_at, id
            """)
        return try decoding("list Web Push subscriptions") { try rows.map(Self.subscription(from:)) }
    }

    package func revokeSubscription(id: String, at date: Date) throws(StoreError) -> Bool {
        try execute(
            "revoke a Web Push subscription",
            "UPDATE webpush_subscription SET revoked_at = \(date) WHERE id = \(id) AND revoked_at IS NULL RETURNING 1") > 0
    }

    package func deletePendingMessage(id: String, subscriptionId: String) throws(StoreError) -> Bool {
        try execute(
            "delete Web Push message \(id)",
            """
            DELETE FROM trigger WHERE id = \(id) AND channel_id = \(subscriptionId) AND kind = 'webpush'
                AND state IN ('pending', 'retrying', 'parked', 'waiting') RETURNING 1
            """) > 0
    }
}
