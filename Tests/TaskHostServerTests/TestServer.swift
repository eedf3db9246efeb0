import Foundation
import Logging
import Synchronization
import TaskHostCore
import TaskHostManifest
import TaskHostServer
import TaskHostShared
import TaskHostStore
import TaskHostTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A daemon running inside the test process on a free loopback port.
final class TestServer: Sendable {
    let store: SQLiteTaskStore
    let port: Int
    /// The operator listener's port (`nil`: `operatorBind` was off).
    let operatorPort: Int?
    private let running: Task<Void, any Error>
    static let app = "com.example.tests"

    private init(store: SQLiteTaskStore, port: Int, operatorPort: Int?, running: Task<Void, any Error>) {
        self.store = store
        self.port = port
        self.operatorPort = operatorPort
        self.running = running
    }

    static func start(
        _ tasks: [TaskDeclaration], configure: (inout DaemonConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        let store = try TestSupport.store()
        var configuration = DaemonConfiguration()
        configuration.port = 0
        configuration.handlesSignals = false
        configuration.pollInterval = .milliseconds(50)
        configure(&configuration)
        let daemon = Daemon(
            configuration: configuration, store: store, registry: TestSupport.registry(tasks, app: app),
            workerPath: TestSupport.workerPath, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let (ports, continuation) = AsyncStream<(push: Int, operator: Int?)>.makeStream()
        let operatorPort = LockedPort()
        let running = Task {
            try await daemon.run(
                onListening: { port in continuation.yield((port, operatorPort.value.withLock { $0 })) },
                onOperatorListening: { port in operatorPort.value.withLock { $0 = port } })
        }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw CocoaError(.fileReadUnknown) }
        return TestServer(store: store, port: bound.push, operatorPort: bound.operator, running: running)
    }

    /// Stops the daemon the way a graceful shutdown does, and waits for it.
    func stop() async {
        running.cancel()
        _ = try? await running.value
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

    static let rawHeaders = ["X-WNS-Type": "wns/raw", "Content-Type": "application/octet-stream"]

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
        func header(_ name: String) -> String? {
            headers.first { $0.key.lowercased() == name.lowercased() }?.value
        }
    }

    func post(
        _ channelId: String, token: String?, headers: [String: String] = rawHeaders, body: [UInt8] = Array("hello".utf8),
        method: String = "POST", session: URLSession = .shared
    ) async throws -> Answer {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/push/v1/\(channelId)")!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if method == "POST" { request.httpBody = Data(body) }
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields { fields["\(name)"] = "\(value)" }
        return Answer(status: http.statusCode, headers: fields, body: String(decoding: data, as: UTF8.self))
    }

    /// `method` `path` on the push listener, or on the operator listener when `onOperator`.
    func get(_ path: String, onOperator: Bool = false, method: String = "GET") async throws -> Answer {
        let port = onOperator ? try #require(operatorPort, "no operator listener") : port
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields { fields["\(name)"] = "\(value)" }
        return Answer(status: http.statusCode, headers: fields, body: String(decoding: data, as: UTF8.self))
    }

    func setting(_ key: String) throws -> SettingValueText? {
        try store.setting(app: Self.app, key: key).map { SettingValueText(text: $0.value.description) }
    }
}

/// A port that one closure records and another reads.
private final class LockedPort: Sendable {
    let value = Mutex<Int?>(nil)
}

/// A setting's value as text, so tests need not import the SDK.
struct SettingValueText: Equatable {
    var text: String
}
