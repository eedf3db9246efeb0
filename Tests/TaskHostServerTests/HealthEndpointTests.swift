import Foundation
import Logging
import TaskHostCore
import TaskHostManifest
import TaskHostServer
import TaskHostStore
import TaskHostTestSupport
import Testing

/// Where the operator listener binds (`--metrics-bind`), on a running host.
/// What `/healthz` and `/readyz` answer is in ``HealthRouteTests``.
@Suite struct HealthEndpointTests {
    let recorder = TestSupport.task("Recorder", "FaultyTasks.RecordingTask", triggers: [.pushNotification])

    @Test func noOperatorListenerWhenItIsOff() async throws {
        let server = try await TestServer.start([recorder]) { $0.operatorBind = .off }
        defer { Task { await server.stop() } }
        #expect(server.operatorPort == nil)
        #expect(try await server.get("/healthz").status == 200)
    }

    /// An operator address another listener holds: the daemon does not start,
    /// and says which option to change; the queue is untouched.
    @Test func anOperatorAddressInUseIsRefusedNamingMetricsBind() async throws {
        let other = try await TestServer.start([recorder]) { $0.dispatches = false }
        defer { Task { await other.stop() } }
        var configuration = DaemonConfiguration()
        configuration.port = 0
        configuration.handlesSignals = false
        configuration.operatorBind = .address(host: "127.0.0.1", port: other.port)
        let daemon = Daemon(
            configuration: configuration, store: try TestSupport.store(), registry: TestSupport.registry([recorder], app: TestServer.app),
            workerPath: TestSupport.workerPath, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let error = await #expect(throws: DaemonError.self) { try await daemon.run() }
        #expect(error?.code == .addressInUse)
        #expect(error?.description.contains("cannot listen on 127.0.0.1:\(other.port)") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("--metrics-bind") == true, "\(error?.description ?? "")")
    }

    @Test(arguments: [
        ("off", OperatorBind.off), ("OFF", .off), ("127.0.0.1:9090", .address(host: "127.0.0.1", port: 9090)),
        (":9090", .address(host: "127.0.0.1", port: 9090)), ("[::1]:9091", .address(host: "::1", port: 9091)),
        ("0.0.0.0:0", .address(host: "0.0.0.0", port: 0)), ("localhost:80", .address(host: "localhost", port: 80)),
    ])
    func metricsBindParses(text: String, expected: OperatorBind) throws {
        #expect(try OperatorBind(parsing: text) == expected)
    }

    @Test(arguments: ["9090", "127.0.0.1:", "127.0.0.1:65536", "::1:9090", "host:port", "a b:1"])
    func malformedMetricsBindIsRefusedWithTheForms(text: String) {
        let error = #expect(throws: OperatorBind.ParseError.self) { try OperatorBind(parsing: text) }
        #expect(error?.description.contains("HOST:PORT") == true, "\(error?.description ?? "")")
    }

    /// Whether `condition` holds within `timeout`, asked every 50 ms.
    static func eventually(timeout: Duration = .seconds(120), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    @Test func theDefaultIsLoopbackOnThePushPortPlusOne() {
        #expect(OperatorBind.loopbackNextToPush.resolve(pushPort: 8080)! == ("127.0.0.1", 8081))
        #expect(OperatorBind.loopbackNextToPush.resolve(pushPort: 0)! == ("127.0.0.1", 0))
        #expect(OperatorBind.off.resolve(pushPort: 8080) == nil)
    }
}
