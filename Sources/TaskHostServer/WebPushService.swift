package import Foundation
import HTTPTypes
import TaskHostCore
package import TaskHostStore
package import TaskHostWebPush

/// The push resource of RFC 8030 apart from HTTP plumbing: subscription
/// state, VAPID (RFC 8292), the `TTL`, `Urgency` and `Topic` headers, the
/// `aes128gcm` payload (RFC 8291), rate limits, and durable storage before
/// the answer. Pushes join the queue of WNS-style pushes: same delivery
/// guarantee, retries, dead-lettering and history.
package struct WebPushService: Sendable {
    package typealias Store = any WebPushStore & TriggerQueueStore

    package let store: Store
    package let committer: IngestCommitter
    /// Per-subscription rate limit.
    package let limiter: RateLimiter
    /// Per-sender (VAPID key) rate limit, across subscriptions.
    package let senderLimiter: RateLimiter
    /// Where the server is reached: message URIs and the VAPID audience.
    package let publicOrigin: PublicOrigin
    /// Whether a task can start an instance right now (for `TTL: 0`).
    package let hasCapacity: @Sendable (String, String) -> Bool
    /// How accepted pushes are stored (``IngestMode/discard``: not at all).
    package let ingest: IngestMode
    /// VAPID tokens already verified: a sender reusing its token is not verified again.
    package let tokens: VerifiedTokenCache
    /// Subscriptions and their parsed keys recently read. A revocation takes
    /// effect within the cache's lifetime.
    private let subscriptions: LookupCache<Subscription>
    /// Where the store failures behind 500 and 503 answers are counted.
    package var storeFailures: FailureLogAggregator?
    /// The foreground listeners each stored message is sent to (`nil`: none).
    package var listeners: ListenerHub?

    /// The largest body accepted: RFC 8030's minimum, 4096 bytes.
    package static let maxPayload = 4096
    /// The longest `TTL` kept; a longer one is lowered and the answer says so.
    package static let maxTimeToLive = PushService.maxTimeToLive

    /// Creates the service.
    package init(
        store: Store, committer: IngestCommitter, limiter: RateLimiter,
        senderLimiter: RateLimiter = RateLimiter(ratePerSecond: 1_000_000, burst: 1_000_000), publicOrigin: PublicOrigin,
        hasCapacity: @escaping @Sendable (String, String) -> Bool = { _, _ in true }, cacheLifetime: Duration = .seconds(1),
        ingest: IngestMode = .group
    ) {
        self.store = store
        self.committer = committer
        self.limiter = limiter
        self.senderLimiter = senderLimiter
        self.publicOrigin = publicOrigin
        self.hasCapacity = hasCapacity
        self.ingest = ingest
        self.tokens = VerifiedTokenCache()
        self.subscriptions = LookupCache(lifetime: cacheLifetime)
    }

    /// A subscription and its receiving keys, parsed once per cache lifetime.
    package struct Subscription: Sendable {
        /// The stored subscription.
        package var record: WebPushSubscription
        /// Its receiving keys, parsed from the record.
        package var keys: WebPushReceiverKeys
    }

    /// `Urgency` (RFC 8030 section 5.3): the order of dispatch when the queue
    /// is busy. A message's place in the queue is back-dated by its urgency.
    package enum Urgency: String, Sendable, CaseIterable {
        /// `very-low`, `low`, `normal` (the default) and `high`.
        case veryLow = "very-low"
        case low, normal, high

        /// How far the message's availability is back-dated: the queue runs
        /// runnable triggers oldest first, so a `high` message goes before
        /// everything that became runnable in the 10 minutes before it.
        package var precedence: TimeInterval {
            switch self {
            case .veryLow: 0
            case .low: 10
            case .normal: 60
            case .high: 600
            }
        }
    }

    /// The validated headers of a push.
    package struct Headers: Sendable, Equatable {
        /// Seconds the message may wait (0: run now or never), at most ``maxTimeToLive``.
        package var timeToLive: Int
        /// `Urgency` (`normal` when absent).
        package var urgency: Urgency
        /// `Topic`, when given.
        package var topic: String?
    }

    /// What a push became.
    package struct Accepted: Sendable, Equatable {
        /// The message's id (the trigger's id).
        package var messageId: String
        /// The message's URI (`Location`).
        package var location: String
        /// The time to live kept (`TTL` of the answer).
        package var timeToLive: Int
    }

    /// The subscription `id` if pushes to it are accepted: 404 when unknown,
    /// 410 when revoked or expired.
    package func subscription(id: String, now: Date = Date()) throws(PushRejection) -> Subscription {
        let found = try lookup(id)
        guard let found else {
            throw PushRejection(status: 404, description: "no such subscription (taskhost subscriptions list)")
        }
        if found.record.revokedAt != nil { throw PushRejection(status: 410, description: "the subscription was revoked") }
        if let expiresAt = found.record.expiresAt, expiresAt <= now {
            throw PushRejection(status: 410, description: "the subscription expired; ask for a new one (taskhost subscriptions create)")
        }
        return found
    }

    /// Where the store is read when the cache misses, and messages are deleted.
    let storeReads = StoreReads()

    /// Whether subscription `id` was looked up recently (``subscription(id:now:)`` then reads no store).
    package func isCached(_ id: String) -> Bool { subscriptions.isFresh(id) }

    /// The subscription `id` whatever its state (`nil`: unknown).
    private func lookup(_ id: String) throws(PushRejection) -> Subscription? {
        do {
            return try subscriptions.value(for: id) { () throws(StoreError) in
                guard let record = try store.subscription(id: id) else { return nil }
                guard let keys = try? WebPushReceiverKeys(privateKey: record.privateKey, authSecret: record.authSecret) else { return nil }
                return Subscription(record: record, keys: keys)
            }
        } catch {
            storeFailures?.record(error)
            throw PushRejection.storeFailure(error, "the host cannot read its Web Push subscriptions")
        }
    }

    /// Checks the VAPID authorization: 401 when absent, 403 when invalid or
    /// signed by another key than a restricted subscription's.
    package func authorize(
        _ subscription: Subscription, authorization: String?, cryptoKey: String?, now: Date = Date()
    ) throws(PushRejection) -> VAPIDCredentials {
        do throws(WebPushError) {
            let credentials = try tokens.authorize(
                authorization: authorization, cryptoKey: cryptoKey, audience: publicOrigin.origin, now: now)
            if let required = subscription.record.applicationServerKey, required != credentials.key {
                throw WebPushError(.wrongKey, "this subscription accepts only pushes signed by its application server key")
            }
            return credentials
        } catch {
            // RFC 8292 section 3: the "vapid" scheme is what a 401 asks for.
            throw PushRejection(
                status: .init(code: error.status), description: error.message, challenge: error.status == 401 ? "vapid" : nil)
        }
    }

    /// Checks `TTL` (required), `Urgency`, `Topic` and `Content-Encoding`
    /// (names lower-cased).
    package func validate(headers fields: [String: String], contentLength: Int?) throws(PushRejection) -> Headers {
        guard let ttlText = fields["ttl"] else {
            throw .badRequest("missing TTL header: send TTL: <seconds the message may wait> (RFC 8030 section 5.2)")
        }
        guard let ttl = Int(VAPID.trimmed(Substring(ttlText))), ttl >= 0 else {
            throw .badRequest("TTL must be a whole number of seconds, 0 or more")
        }
        var urgency = Urgency.normal
        if let text = fields["urgency"] {
            guard let value = Urgency(rawValue: VAPID.trimmed(Substring(text)).lowercased()) else {
                throw .badRequest("Urgency must be very-low, low, normal or high")
            }
            urgency = value
        }
        let topic = fields["topic"]
        if let topic {
            let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            guard !topic.isEmpty, topic.count <= 32, topic.allSatisfy(alphabet.contains) else {
                throw .badRequest("Topic must be 1 to 32 base64url characters (RFC 8030 section 5.4)")
            }
        }
        if let contentLength, contentLength > Self.maxPayload { throw Self.tooLarge(contentLength) }
        if (contentLength ?? 1) > 0, let encoding = fields["content-encoding"], encoding.lowercased() != "aes128gcm" {
            throw PushRejection(
                status: .unsupportedMediaType,
                description: "Content-Encoding \(encoding.prefix(20)) is not supported: encrypt with aes128gcm (RFC 8291)")
        }
        return Headers(timeToLive: min(ttl, Self.maxTimeToLive), urgency: urgency, topic: topic)
    }

    static func tooLarge(_ size: Int?) -> PushRejection {
        PushRejection(
            status: 413, description: "payload of \(size.map { "\($0) bytes" } ?? "more bytes") exceeds the limit of \(maxPayload) bytes")
    }

    /// Applies the subscription's and the sender's rate limits: 429 with `Retry-After`.
    package func admit(_ subscription: Subscription, sender: VAPIDCredentials) throws(PushRejection) {
        let senderKey = "vapid:" + sender.keyText
        for (limiter, key, what) in [(senderLimiter, senderKey, "this sender"), (limiter, subscription.record.id, "the subscription")]
        where !limiter.allow(key) {
            let wait = limiter.wait(for: key) ?? .seconds(1)
            let seconds = max(1, Int((Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18).rounded(.up)))
            throw PushRejection(
                status: 429, description: "\(what) is over its rate limit; retry in \(seconds) s", retryAfter: seconds)
        }
    }

    /// Decrypts the body (a tickle has none), stores the message durably and
    /// returns once it is committed. `TTL: 0` stores it only when the task can
    /// start now (otherwise it is dropped, as RFC 8030 section 5.2 allows).
    package func accept(
        _ subscription: Subscription, headers: Headers, body: [UInt8], contentEncoding: String?, now: Date = Date()
    ) async throws(PushRejection) -> Accepted {
        guard body.count <= Self.maxPayload else { throw Self.tooLarge(body.count) }
        var plaintext: [UInt8] = []
        if !body.isEmpty {
            guard contentEncoding?.lowercased() == "aes128gcm" else {
                throw PushRejection(
                    status: .unsupportedMediaType, description: "a push with a body needs Content-Encoding: aes128gcm (RFC 8291)")
            }
            do {
                plaintext = try WebPushMessage.decrypt(body, with: subscription.keys)
            } catch {
                throw PushRejection(status: .init(code: error.status), description: error.message)
            }
        }
        let record = subscription.record
        let id = NewTrigger.newId(now: now)
        let accepted = Accepted(messageId: id, location: messageURI(subscription: record.id, message: id), timeToLive: headers.timeToLive)
        if headers.timeToLive == 0 {
            let backlog = await storeReads.run { [store] in (try? store.backlog(app: record.app, task: record.task)) ?? 1 }
            if backlog > 0 || !hasCapacity(record.app, record.task) { return accepted }
        }
        var forwarded = ["urgency": headers.urgency.rawValue]
        if let topic = headers.topic { forwarded["topic"] = topic }
        let event = TriggerEvent(kind: .webPush, triggerId: id, payload: plaintext, channelId: record.id, headers: forwarded)
        // While a listener that claims is connected, the message waits its task's claim window.
        let delay = listeners?.claimDelay(app: record.app, task: record.task) ?? .zero
        let wait = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
        let trigger = NewTrigger(
            app: record.app, task: record.task, event: event,
            expiresAt: headers.timeToLive > 0 ? now.addingTimeInterval(Double(headers.timeToLive)) : nil,
            // Urgency orders messages by an `availableAt` in the past; a claim window holds one back instead.
            availableAt: now.addingTimeInterval(wait > 0 ? wait : -headers.urgency.precedence), topic: headers.topic)
        if ingest == .discard { return accepted }
        do {
            try await committer.enqueue(trigger)
        } catch {
            storeFailures?.record(error)
            throw PushRejection.storeFailure(error, "the push could not be stored")
        }
        listeners?.published(trigger, delay: delay)
        return accepted
    }

    /// Removes a message that has not run yet (RFC 8030 section 7.1), for a
    /// sender that passes the subscription's VAPID checks: 404 when there is
    /// no such message waiting (it ran, expired, was replaced, or never was).
    package func delete(
        subscriptionId: String, messageId: String, authorization: String?, cryptoKey: String?, now: Date = Date()
    ) throws(PushRejection) {
        // A revoked or expired subscription's waiting messages may still be removed.
        guard let found = try lookup(subscriptionId) else {
            throw PushRejection(status: 404, description: "no such message waiting (unknown subscription)")
        }
        _ = try authorize(found, authorization: authorization, cryptoKey: cryptoKey, now: now)
        let deleted: Bool
        do {
            deleted = try store.deletePendingMessage(id: messageId, subscriptionId: subscriptionId)
        } catch {
            storeFailures?.record(error)
            throw PushRejection.storeFailure(error, "the message could not be deleted")
        }
        guard deleted else {
            throw PushRejection(status: 404, description: "no such message waiting (it ran, expired, was replaced, or never was)")
        }
    }

    /// The URI of message `message` of subscription `subscription`.
    package func messageURI(subscription: String, message: String) -> String {
        publicOrigin.baseURL + "/webpush/v1/" + subscription + "/messages/" + message
    }
}
