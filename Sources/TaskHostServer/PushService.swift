package import Foundation
import HTTPTypes
import TaskHostCore
package import TaskHostStore

/// How a push was taken.
package struct PushAcceptance: Sendable, Equatable {
    /// `X-WNS-Msg-ID`: the trigger's id.
    package var messageId: String
    /// `X-WNS-Status`: `received` (stored durably, the task will run) or
    /// `dropped` (`X-WNS-Cache-Policy: no-cache` and the task could not start now).
    package var status: String
}

/// The push endpoint's rules, apart from HTTP plumbing: authentication,
/// channel state, WNS headers, size, rate, time to live, cache policy and
/// durable storage before the answer.
package struct PushService: Sendable {
    package typealias Store = any ChannelStore & TriggerQueueStore

    package let store: Store
    package let committer: IngestCommitter
    /// Per-channel rate limit.
    package let limiter: RateLimiter
    /// Per-client (credential) rate limit, across all of its channels.
    package let clientLimiter: RateLimiter
    /// Failed authentications per source address: each 401 takes a token;
    /// a source whose bucket is empty gets 429 before its token is looked at.
    package let authFailureLimiter: RateLimiter
    /// The largest payload accepted (WNS: 5 KB).
    package let maxPayload: Int
    /// The most bytes of forwarded headers a push may store (each counted as
    /// `name: value` and a line break); beyond it the push gets 431. A stored push
    /// takes at most `maxPayload + maxForwardedHeaders` bytes.
    package let maxForwardedHeaders: Int
    /// How accepted pushes are stored (``IngestMode/discard``: not at all).
    package let ingest: IngestMode
    /// Whether a task can start an instance right now (for `no-cache` pushes).
    package let hasCapacity: @Sendable (String, String) -> Bool
    /// Channels and credentials recently read, so a busy channel costs no
    /// database read per push. A revocation takes effect within `cacheLifetime`.
    private let channels: LookupCache<PushChannel>
    let credentials: LookupCache<Credential>
    /// Where the store failures behind 500 and 503 answers are counted and
    /// logged, a line per class and interval (`nil`: not logged).
    package var storeFailures: FailureLogAggregator?
    /// The foreground listeners each stored push is sent to (`nil`: none).
    package var listeners: ListenerHub?

    /// Told of each step of an authentication's work, so that tests can
    /// check that every path does the same work (never timing).
    let observe: (@Sendable (AuthenticationStep) -> Void)?

    /// A step of the work of authenticating a push.
    package enum AuthenticationStep: Sendable, Equatable {
        /// The credential was read from the store (not the cache).
        case storeRead
        /// A presented secret was hashed and compared with a stored hash.
        case secretComparison
    }

    /// The longest `X-WNS-TTL` accepted: 30 days.
    package static let maxTimeToLive = 30 * 24 * 3600

    /// Request headers that never reach the task: credentials (the app
    /// server's secret never reaches plugin code) and the connection's own
    /// headers (hop-by-hop and framing), which say nothing about the push.
    /// Headers named in `Connection` are dropped too.
    package static let droppedHeaders: Set<String> = [
        "authorization", "proxy-authorization", "cookie",
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "host", "content-length", "expect",
    ]

    /// The default of ``maxForwardedHeaders``: 4 KB.
    package static let defaultMaxForwardedHeaders = 4 * 1024

    /// The hash a secret is compared with when its credential id is unknown,
    /// so that an unknown id costs the same comparison as a wrong secret.
    private static let absentSecretHash = Credential.hash("no credential has this secret")

    package init(
        store: Store, committer: IngestCommitter, limiter: RateLimiter,
        clientLimiter: RateLimiter = RateLimiter(ratePerSecond: 1_000_000, burst: 1_000_000),
        authFailureLimiter: RateLimiter = RateLimiter(ratePerSecond: 20.0 / 60, burst: 20),
        maxPayload: Int = 5 * 1024, maxForwardedHeaders: Int = PushService.defaultMaxForwardedHeaders,
        hasCapacity: @escaping @Sendable (String, String) -> Bool = { _, _ in true }, cacheLifetime: Duration = .seconds(1),
        ingest: IngestMode = .group
    ) {
        self.init(
            store: store, committer: committer, limiter: limiter, clientLimiter: clientLimiter, authFailureLimiter: authFailureLimiter,
            maxPayload: maxPayload, maxForwardedHeaders: maxForwardedHeaders, hasCapacity: hasCapacity,
            cacheLifetime: cacheLifetime, ingest: ingest, observe: nil)
    }

    /// The same, telling `observe` of each step of every authentication (for tests).
    package init(
        store: Store, committer: IngestCommitter, limiter: RateLimiter, clientLimiter: RateLimiter, authFailureLimiter: RateLimiter,
        maxPayload: Int, maxForwardedHeaders: Int, hasCapacity: @escaping @Sendable (String, String) -> Bool,
        cacheLifetime: Duration, ingest: IngestMode, observe: (@Sendable (AuthenticationStep) -> Void)?
    ) {
        self.store = store
        self.committer = committer
        self.limiter = limiter
        self.clientLimiter = clientLimiter
        self.authFailureLimiter = authFailureLimiter
        self.maxPayload = maxPayload
        self.maxForwardedHeaders = maxForwardedHeaders
        self.observe = observe
        self.hasCapacity = hasCapacity
        self.ingest = ingest
        self.channels = LookupCache(lifetime: cacheLifetime)
        self.credentials = LookupCache(lifetime: cacheLifetime)
    }

    /// An authenticated push's channel and the credential that sent it.
    package struct Authorized: Sendable, Equatable {
        package var channel: PushChannel
        package var credentialId: String
    }

    /// Checks the bearer token and the channel. Authentication comes first, so
    /// that an unauthenticated caller learns nothing about which channels exist.
    /// `source` (the client's address) counts failed authentications: once its
    /// ``authFailureLimiter`` bucket is empty, it gets 429 without a lookup.
    /// An unknown credential id costs what a wrong secret does (one cached
    /// lookup, one hash comparison), and a channel of another app is answered
    /// as one that does not exist.
    package func authorize(
        channelId: String, authorization: String?, source: String? = nil, now: Date = Date()
    ) throws(PushRejection) -> Authorized {
        let credential = try authenticate(authorization, source: source)
        guard credential.scope == .push else {
            throw PushRejection(
                status: 403,
                description: "this token may listen to \(credential.app) (GET /listen/v1/\(credential.app)), not push: "
                    + "push with a token from taskhost credentials create --app \(credential.app)")
        }
        let channel: PushChannel?
        do {
            channel = try channels.value(for: channelId) { () throws(StoreError) in try store.channel(id: channelId) }
        } catch {
            storeFailures?.record(error)
            throw PushRejection.storeFailure(error, "the host cannot read its channels")
        }
        // Another app's channel is answered as a missing one, byte for byte:
        // a token learns nothing about channels it may not push to.
        guard let channel, channel.app == credential.app else {
            throw PushRejection(status: 404, description: "no such channel (or not one of this token's app)")
        }
        if channel.revokedAt != nil { throw PushRejection(status: 410, description: "the channel was revoked") }
        if channel.expiresAt <= now {
            throw PushRejection(status: 410, description: "the channel expired; renew it (taskhost channels renew) or create another")
        }
        return Authorized(channel: channel, credentialId: credential.id)
    }

    /// ``authorize(channelId:authorization:source:now:)`` without blocking the
    /// cooperative pool: at once when the channel and the token's credential
    /// are cached (every push but about one per id and ``LookupCache`` lifetime),
    /// else on ``StoreReads``, as it reads the store.
    package func authorizeOffThePool(
        channelId: String, authorization: String?, source: String? = nil
    ) async throws(PushRejection) -> Authorized {
        let credentialId = Self.bearerToken(authorization).flatMap { Credential.parse(token: $0) }?.id
        if channels.isFresh(channelId), credentialId.map(credentials.isFresh) ?? true {
            return try authorize(channelId: channelId, authorization: authorization, source: source)
        }
        return try await storeReads.run { () throws(PushRejection) -> Authorized in
            try self.authorize(channelId: channelId, authorization: authorization, source: source)
        }
    }

    /// The token of an `Authorization: Bearer <token>` value, without the
    /// blanks around it; `nil` when there is no bearer scheme. The scheme is
    /// case-insensitive (RFC 9110); checked on bytes, as this runs for every push.
    static func bearerToken(_ authorization: String?) -> String? {
        let scheme = Array("bearer ".utf8)
        guard let authorization, authorization.utf8.count > scheme.count,
            zip(authorization.utf8, scheme).allSatisfy({ $0 == $1 || ($1 >= UInt8(ascii: "a") && $0 == $1 - 0x20) })
        else { return nil }
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var token = authorization.utf8.dropFirst(scheme.count).drop(while: isBlank)
        while let last = token.last, isBlank(last) { token = token.dropLast() }
        return String(Substring(token))
    }

    /// Where the store is read when the caches miss.
    let storeReads = StoreReads()

    /// `WWW-Authenticate` of a 401 without a bearer token (RFC 6750 section 3).
    static let bearerChallenge = #"Bearer realm="taskhost""#
    /// `WWW-Authenticate` of a 401 whose bearer token is malformed, unknown or revoked.
    static let invalidTokenChallenge = #"Bearer realm="taskhost", error="invalid_token""#

    /// The credential of a bearer token from `source`: 429 while the source
    /// is out of failed attempts; 401 for a missing, malformed, unknown or
    /// revoked token, which counts against the source when `countFailure`.
    func authenticate(_ authorization: String?, source: String?, countFailure: Bool = true) throws(PushRejection) -> Credential {
        if let source, let wait = authFailureLimiter.wait(for: source) {
            let seconds = max(1, Int((Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18).rounded(.up)))
            throw PushRejection(
                status: 429,
                description:
                    "too many failed authentications from this address; check the token (taskhost credentials list) and retry in \(seconds) s",
                retryAfter: seconds)
        }
        do throws(PushRejection) {
            return try authenticate(authorization)
        } catch {
            if error.status == 401, countFailure, let source { authFailureLimiter.take(source) }
            throw error
        }
    }

    /// The credential of a bearer token whose secret matches (401 otherwise).
    func authenticate(_ authorization: String?) throws(PushRejection) -> Credential {
        guard let tokenText = Self.bearerToken(authorization) else {
            throw PushRejection(
                status: 401, description: "missing bearer token: send Authorization: Bearer <token> (taskhost credentials create)",
                challenge: Self.bearerChallenge)
        }
        guard let (id, secret) = Credential.parse(token: tokenText) else {
            throw PushRejection(
                status: 401,
                description:
                    "malformed bearer token: expected \"Authorization: Bearer <token from taskhost credentials create>\" (cr_<id>.<secret>)",
                challenge: Self.invalidTokenChallenge)
        }
        let credential: Credential?
        do {
            // Absent ids are cached too: the store is read once per id and
            // cache lifetime, whether the id exists or not.
            credential = try credentials.value(for: id) { () throws(StoreError) in
                observe?(.storeRead)
                return try store.credential(id: id)
            }
        } catch {
            storeFailures?.record(error)
            throw PushRejection.storeFailure(error, "the host cannot read its credentials")
        }
        // One comparison whatever the id: against a hash no secret has when
        // the id is unknown, and before looking at the revocation.
        observe?(.secretComparison)
        let matches = Credential.secretMatches(secret, hash: credential?.secretHash ?? Self.absentSecretHash)
        guard let credential, matches, credential.revokedAt == nil else {
            throw PushRejection(status: 401, description: "invalid or revoked token", challenge: Self.invalidTokenChallenge)
        }
        return credential
    }

    /// The validated WNS headers of a push.
    package struct Headers: Sendable, Equatable {
        /// Seconds the push may wait in the queue.
        package var timeToLive: Int?
        /// `no-cache`: run now or drop.
        package var noCache: Bool
        /// What the task sees in `RawNotification.headers`.
        package var forwarded: [String: String]
    }

    /// Checks the WNS headers (names in any case).
    package func validate(headers: [(name: String, value: String)], contentLength: Int?) throws(PushRejection) -> Headers {
        var fields: [String: String] = [:]
        for (name, value) in headers { fields[name.lowercased()] = value }
        guard let type = fields["x-wns-type"] else {
            throw .badRequest("missing X-WNS-Type header; raw notifications use X-WNS-Type: wns/raw")
        }
        guard type == "wns/raw" else {
            throw .badRequest("X-WNS-Type \"\(type.prefix(40))\" is not supported; taskhost accepts wns/raw")
        }
        let contentType = fields["content-type"]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard contentType == "application/octet-stream" else {
            throw .badRequest("Content-Type must be application/octet-stream for wns/raw")
        }
        var timeToLive: Int?
        if let ttl = fields["x-wns-ttl"] {
            guard let seconds = Int(ttl), (1...Self.maxTimeToLive).contains(seconds) else {
                throw .badRequest("X-WNS-TTL must be a whole number of seconds from 1 to \(Self.maxTimeToLive)")
            }
            timeToLive = seconds
        }
        var noCache = false
        if let policy = fields["x-wns-cache-policy"]?.lowercased() {
            guard policy == "cache" || policy == "no-cache" else {
                throw .badRequest("X-WNS-Cache-Policy must be cache or no-cache")
            }
            noCache = policy == "no-cache"
        }
        let forwarded = Self.forwarded(fields)
        let headerBytes = forwarded.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 4 }
        if headerBytes > maxForwardedHeaders {
            throw PushRejection(
                status: 431,
                description: "the headers to forward to the task take \(headerBytes) bytes, more than the limit of \(maxForwardedHeaders): "
                    + "send fewer or shorter headers (each counts as name, value and 4 bytes; credentials and hop-by-hop headers do not count)"
            )
        }
        if let contentLength, contentLength > maxPayload { throw tooLarge(contentLength) }
        return Headers(timeToLive: timeToLive, noCache: noCache, forwarded: forwarded)
    }

    /// The headers (lower-cased names, the last value of a repeated name) the
    /// task sees: all but ``droppedHeaders`` and those that `Connection` names.
    static func forwarded(_ fields: [String: String]) -> [String: String] {
        let named = Set((fields["connection"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        return fields.filter { !droppedHeaders.contains($0.key) && !named.contains($0.key) }
    }

    func tooLarge(_ size: Int?) -> PushRejection {
        PushRejection(
            status: 413, description: "payload of \(size.map { "\($0) bytes" } ?? "more bytes") exceeds the limit of \(maxPayload) bytes")
    }

    /// Applies the client's and the channel's rate limits.
    package func admit(_ push: Authorized) throws(PushRejection) {
        guard clientLimiter.allow(push.credentialId) else {
            throw PushRejection(
                status: 406, description: "this client is over its rate limit; slow down and retry later", wnsStatus: "channelthrottled")
        }
        guard limiter.allow(push.channel.id) else {
            throw PushRejection(
                status: 406, description: "the channel is over its rate limit; slow down and retry later", wnsStatus: "channelthrottled")
        }
    }

    /// Stores the push durably and returns once it is committed (with
    /// ``IngestMode/discard``, returns without storing it).
    package func accept(channel: PushChannel, headers: Headers, payload: [UInt8], now: Date = Date()) async throws(PushRejection)
        -> PushAcceptance
    {
        guard payload.count <= maxPayload else { throw tooLarge(payload.count) }
        let id = NewTrigger.newId()
        if headers.noCache {
            let backlog = await storeReads.run { [store] in (try? store.backlog(app: channel.app, task: channel.task)) ?? 1 }
            if backlog > 0 || !hasCapacity(channel.app, channel.task) {
                return PushAcceptance(messageId: id, status: "dropped")
            }
        }
        let event = TriggerEvent(
            kind: .pushNotification, triggerId: id, payload: payload, channelId: channel.id, headers: headers.forwarded)
        // While a listener that claims is connected, the push waits its task's claim window.
        let delay = listeners?.claimDelay(app: channel.app, task: channel.task) ?? .zero
        let trigger = NewTrigger(
            app: channel.app, task: channel.task, event: event,
            expiresAt: headers.timeToLive.map { now.addingTimeInterval(Double($0)) },
            availableAt: now.addingTimeInterval(Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18))
        if ingest == .discard { return PushAcceptance(messageId: trigger.id, status: "received") }
        do {
            try await committer.enqueue(trigger)
        } catch {
            storeFailures?.record(error)
            throw PushRejection.storeFailure(error, "the push could not be stored")
        }
        // Durably stored: now listeners may see it.
        listeners?.published(trigger, delay: delay)
        return PushAcceptance(messageId: id, status: "received")
    }
}
