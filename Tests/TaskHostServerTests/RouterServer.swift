import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TaskHostCore
import TaskHostManifest
import TaskHostStore
import TaskHostTestSupport
import TaskHostWebPush
import Testing

@testable import TaskHostServer

/// The push listener's router and the operator listener's, as the daemon
/// builds them (``PushListenerServices``, ``OperatorRoutes``), over a
/// temporary store, driven through HummingbirdTesting's router framework:
/// no process, no socket, no dispatcher, no plugins directory. For tests of
/// what a route answers; what needs a connection or a running host uses
/// ``TestServer`` or ``ServeProcess``.
final class RouterServer: Sendable {
    let store: SQLiteTaskStore
    /// Readiness as the routes see it; a test marks the host's progress.
    let health: Health
    /// The daemon's metrics, as `/metrics` renders them.
    let metrics: DaemonMetrics
    /// The origin of the address the daemon would bind (`--host`, `--port`),
    /// as ``TestServer/origin``: the audience of VAPID tokens unless `--public-url` says otherwise.
    let origin: String
    private let push: RouterResponder<PushRequestContext>
    private let operatorRoutes: RouterResponder<OperatorRequestContext>
    private let committer: IngestCommitter
    static let app = TestServer.app
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// Routers of `configuration` (its rate limits, payload bounds, public
    /// URL, ingest mode) over a fresh store. No dispatcher runs: every task
    /// has capacity. A configuration that dispatches is not ready until the
    /// test calls `health.dispatcherStarted()`. With `ingestFailure`, every
    /// push the endpoint stores fails with it (``FailingIngestStore``).
    init(
        _ tasks: [TaskDeclaration] = [], ingestFailure: StoreError? = nil, configure: (inout DaemonConfiguration) -> Void = { _ in }
    ) throws {
        var configuration = DaemonConfiguration()
        configure(&configuration)
        let store = try TestSupport.store()
        self.store = store
        let metrics = DaemonMetrics()
        self.metrics = metrics
        // The daemon's routes and committer see the store through its metrics, as here.
        let measured = MeasuredStore(store, metrics: metrics.host)
        committer = IngestCommitter(
            store: ingestFailure.map { FailingIngestStore(base: measured, failure: $0) } ?? measured,
            maxBatch: configuration.ingest.maxBatch, metrics: metrics.host)
        let bound = PublicOrigin.defaultURL(bind: configuration.host, port: configuration.port)
        origin = PublicOrigin.origin(of: bound)
        let publicOrigin = PublicOrigin(configuration.publicURL ?? bound)
        let probe = StoreProbe(store: store)
        health = Health(dispatches: configuration.dispatches, watchesPlugins: false) { () throws(StoreError) in try probe.check() }
        health.listening()
        let services = PushListenerServices(
            configuration: configuration, store: measured, committer: committer,
            publicOrigin: publicOrigin, storeFailures: nil
        ) { _, _ in true }
        push = services.router(health: health, metrics: metrics.host).buildResponder()
        let environment = OperatorEnvironment(
            store: store, registry: TestSupport.registry(tasks, app: Self.app), plugins: nil, configuration: configuration,
            health: health, metrics: metrics, runningInstances: { 0 })
        operatorRoutes = OperatorRoutes.router(environment).buildResponder()
    }

    deinit { committer.close() }

    /// `method` `path` with `headers` and `body`, on the push listener's
    /// router, or on the operator listener's when `onOperator`.
    func request(
        _ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8] = [], onOperator: Bool = false
    ) async throws -> TestServer.Answer {
        var fields = HTTPFields()
        for (name, value) in headers { fields[try #require(HTTPField.Name(name))] = value }
        let method = try #require(HTTPRequest.Method(method))
        let headerFields = fields
        let payload = body.isEmpty ? nil : ByteBuffer(bytes: body)
        let response =
            if onOperator {
                try await Application(responder: operatorRoutes, logger: Self.logger).test(.router) { client in
                    try await client.execute(uri: path, method: method, headers: headerFields, body: payload)
                }
            } else {
                try await Application(responder: push, logger: Self.logger).test(.router) { client in
                    try await client.execute(uri: path, method: method, headers: headerFields, body: payload)
                }
            }
        var answerHeaders: [String: String] = [:]
        for field in response.headers {
            let name = field.name.canonicalName
            answerHeaders[name] = answerHeaders[name].map { "\($0), \(field.value)" } ?? field.value
        }
        return TestServer.Answer(
            status: Int(response.status.code), headers: answerHeaders, body: String(buffer: response.body))
    }

    /// `method` `path` without a body (see ``request(_:_:headers:body:onOperator:)``).
    func get(_ path: String, onOperator: Bool = false, method: String = "GET") async throws -> TestServer.Answer {
        try await request(method, path, onOperator: onOperator)
    }

    /// A WNS push to `channelId` (see ``TestServer/post(_:token:headers:body:method:session:)``).
    func post(
        _ channelId: String, token: String?, headers: [String: String] = TestServer.rawHeaders, body: [UInt8] = Array("hello".utf8),
        method: String = "POST"
    ) async throws -> TestServer.Answer {
        var headers = headers
        if let token { headers["Authorization"] = "Bearer \(token)" }
        return try await request(method, "/push/v1/\(channelId)", headers: headers, body: method == "POST" ? body : [])
    }

    func channel(task: String, app: String = app, expiresIn: TimeInterval = 3600) throws -> PushChannel {
        let now = Date()
        let channel = PushChannel(
            id: PushChannel.newId(), app: app, task: task, createdAt: now, expiresAt: now.addingTimeInterval(expiresIn))
        try store.insertChannel(channel)
        return channel
    }

    func token(app: String = app) throws -> String {
        let (credential, token) = Credential.make(app: app, label: "test")
        try store.insertCredential(credential)
        return token
    }

    /// A subscription for `task`, restricted to `serverKey` when given.
    func subscription(task: String, serverKey: P256.Signing.PublicKey? = nil, expiresAt: Date? = nil) throws -> WebPushSubscription {
        let subscription = WebPushSubscription.make(
            app: Self.app, task: task, applicationServerKey: serverKey.map { Array($0.x963Representation) }, expiresAt: expiresAt)
        try store.insertSubscription(subscription)
        return subscription
    }

    /// A Web Push as an application server with `key` sends it (see
    /// ``TestServer/webPush(_:_:key:audience:headers:body:)``).
    func webPush(
        _ subscription: WebPushSubscription, _ plaintext: String?, key: P256.Signing.PrivateKey, audience: String? = nil,
        headers: [String: String?] = [:], body: [UInt8]? = nil
    ) async throws -> TestServer.Answer {
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

    /// `DELETE` on a message URI (`Location`), signed by `key`.
    func deleteMessage(_ location: String, key: P256.Signing.PrivateKey) async throws -> TestServer.Answer {
        let token = VAPID.sign(audience: origin, expiresAt: Date().addingTimeInterval(3600), key: key)
        let path = String(location.dropFirst(origin.count))
        return try await request("DELETE", path, headers: ["Authorization": VAPID.authorization(token: token, key: key.publicKey)])
    }
}
