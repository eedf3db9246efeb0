import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The operator listener's HTTP server (``OperatorRoutes``), and the count
/// of listeners still to bind before the daemon counts as listening.
enum OperatorListener {
    /// The server for `environment` on `host`:`port`, with the push
    /// listener's request framing checks and timeouts; its connections are
    /// registered in `open` so that shutdown closes them. `onRunning` gets the bound port.
    static func server(
        _ environment: OperatorEnvironment, host: String, port: Int, timeouts: ConnectionTimeouts, open: OpenConnections,
        logger: Logger, onRunning: @escaping @Sendable (Int) -> Void
    ) -> some Service {
        OperatorServer(
            application: Application(
                router: OperatorRoutes.router(environment),
                server: .http1(
                    configuration: HTTP1Channel.Configuration(
                        additionalChannelHandlers: [timeouts.handler(), open.handler(), RequestGuardInstaller()])),
                configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "taskhost"),
                onServerRunning: { channel in
                    let bound = channel.localAddress?.port ?? 0
                    logger.info(
                        "operator listener (health, metrics)",
                        metadata: ["address": "http://\(channel.localAddress?.ipAddress ?? "?"):\(bound)"])
                    onRunning(bound)
                },
                logger: logger),
            host: host, port: port)
    }
}

/// Runs the operator listener's server; a failure to bind comes out as a
/// ``DaemonError`` that names `--metrics-bind`.
struct OperatorServer<Server: Service>: Service {
    let application: Server
    let host: String
    let port: Int

    func run() async throws {
        do {
            try await application.run()
        } catch {
            throw DaemonError(listening: error, host: host, port: port, option: .metricsBind) ?? error
        }
    }
}

/// Calls its action once every listener has bound (once), with their ports.
final class ListenerCountdown: Sendable {
    /// The ports bound so far, and how many listeners are still to bind.
    private struct State {
        var push: Int?
        var operatorPort: Int?
        var remaining: Int
    }

    private let state: Mutex<State>
    private let action: @Sendable (_ push: Int, _ operatorPort: Int?) -> Void

    /// Waits for the push listener, and the operator listener when `hasOperator`.
    init(hasOperator: Bool, action: @escaping @Sendable (_ push: Int, _ operatorPort: Int?) -> Void) {
        state = Mutex(State(remaining: hasOperator ? 2 : 1))
        self.action = action
    }

    /// The push listener has bound `port`.
    func pushBound(_ port: Int) { bound { $0.push = port } }

    /// The operator listener has bound `port`.
    func operatorBound(_ port: Int) { bound { $0.operatorPort = port } }

    private func bound(_ record: (inout State) -> Void) {
        let ports = state.withLock { state -> (Int, Int?)? in
            record(&state)
            state.remaining -= 1
            return state.remaining == 0 ? (state.push ?? 0, state.operatorPort) : nil
        }
        if let ports { action(ports.0, ports.1) }
    }
}
