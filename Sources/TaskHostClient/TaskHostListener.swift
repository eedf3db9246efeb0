import Foundation
import HTTPTypes
import HummingbirdWSClient
public import Logging
import NIOPosix
import NIOWebSocket
import Synchronization

/// A foreground listener of one app's pushes on a taskhost server
/// (`GET /listen/v1/APP`, a WebSocket): a running app sees each push to its
/// channels as soon as the host has stored it and may claim it, in which
/// case the host runs no background task for it.
///
/// ```swift
/// import TaskHostClient
///
/// let listener = TaskHostListener(
///     url: "http://127.0.0.1:8080", app: "com.example.rawpush", token: token, claims: true)
/// try await listener.run { pushes in
///     for try await push in pushes {
///         print(push.triggerId, String(decoding: push.payload, as: UTF8.self))
///         if try await pushes.claim(push) { print("handled here; no background task runs") }
///     }
/// }
/// ```
public struct TaskHostListener: Sendable {
    /// The server's base URL (`http://HOST:PORT`, as for pushes).
    public var url: String
    /// The app whose pushes to receive.
    public var app: String
    /// A token that may listen to ``app`` (`taskhost credentials create --app APP --listen`).
    public var token: String
    /// Whether this listener claims pushes: while it is connected, the app's
    /// pushes wait their task's claim window (`ClaimWindowMs`) for a claim.
    public var claims: Bool
    /// Where the WebSocket client logs.
    public var logger: Logger

    /// A listener of `app` on the server at `url`, authenticated by `token`.
    public init(url: String, app: String, token: String, claims: Bool = false, logger: Logger = Logger(label: "taskhost.listener")) {
        self.url = url
        self.app = app
        self.token = token
        self.claims = claims
        self.logger = logger
    }

    /// The listen URL (`ws://HOST:PORT/listen/v1/APP[?claim=true]`).
    public var listenURL: String {
        var base = url.hasSuffix("/") ? String(url.dropLast()) : url
        if base.hasPrefix("https://") {
            base = "wss://" + base.dropFirst(8)
        } else if base.hasPrefix("http://") {
            base = "ws://" + base.dropFirst(7)
        }
        return base + listenPath
    }

    private var listenPath: String {
        "/listen/v1/" + (app.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? app) + (claims ? "?claim=true" : "")
    }

    /// Connects, calls `body` with the stream of pushes once the host has
    /// registered the listener, and closes the connection when `body` returns.
    /// Throws ``ListenError`` when the host refuses (401, 403: its description
    /// says why), the connection fails, or the host has not registered the
    /// listener within `handshakeTimeout` (a server that closes the connection
    /// or never answers the upgrade).
    public func run(
        handshakeTimeout: Duration = .seconds(30), _ body: @escaping @Sendable (ListenedPushes) async throws -> Void
    ) async throws {
        // The WebSocket client does not fail its connect when the server closes the connection before
        // answering the upgrade: the connection runs as a task of its own, raced against the deadline.
        let outcome = Outcome()
        let connection = Task { [self] in
            do {
                try await serve(body) { outcome.registered.store(true, ordering: .relaxed) }
                outcome.settle(.success(()))
            } catch {
                outcome.settle(.failure(error))
            }
        }
        let deadline = Task { [listenURL] in
            try await Task.sleep(for: handshakeTimeout)
            guard !outcome.registered.load(ordering: .relaxed) else { return }
            outcome.settle(
                .failure(
                    ListenError.unreachable(
                        "\(listenURL) did not accept the listener within \(handshakeTimeout) (no answer to the WebSocket upgrade)")))
            connection.cancel()
        }
        defer { deadline.cancel() }
        try await withTaskCancellationHandler {
            try await outcome.value()
        } onCancel: {
            connection.cancel()
        }
    }

    /// Connects and serves the listener until `body` returns; `onRegistered` runs
    /// once the host has registered it.
    private func serve(
        _ body: @escaping @Sendable (ListenedPushes) async throws -> Void, onRegistered: @escaping @Sendable () -> Void
    ) async throws {
        var configuration = WebSocketClientConfiguration()
        configuration.additionalHeaders[.authorization] = "Bearer " + token
        configuration.maxFrameSize = 1 << 16
        do {
            try await WebSocketClient.connect(url: listenURL, configuration: configuration, logger: logger) { inbound, outbound, _ in
                let pushes = ListenedPushes(outbound: outbound)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        defer { pushes.finish() }
                        for try await message in inbound.messages(maxSize: 1 << 16) {
                            guard case .text(let text) = message else { continue }
                            pushes.received(text)
                        }
                    }
                    group.addTask {
                        do {
                            try await pushes.waitUntilReady()
                            onRegistered()
                            try await body(pushes)
                        } catch {
                            try? await outbound.close(.normalClosure, reason: nil)
                            throw error
                        }
                        // The host echoes the close; the reader then ends.
                        try? await outbound.close(.normalClosure, reason: nil)
                    }
                    try await group.waitForAll()
                }
            }
        } catch let error as NIOConnectionError {
            throw ListenError.unreachable("cannot connect to \(listenURL): \(ListenError.reason(error)) (is taskhost serve running?)")
        } catch let error as WebSocketClientError where error == .webSocketUpgradeFailed {
            throw await ListenError.refused(url: url.hasSuffix("/") ? String(url.dropLast()) + listenPath : url + listenPath, token: token)
        }
    }

    /// The first result of a run (the connection's end, or the handshake's
    /// deadline), which its caller awaits; later ones are ignored.
    private final class Outcome: Sendable {
        private enum State {
            case pending
            case waiting(CheckedContinuation<Void, any Error>)
            case settled(Result<Void, any Error>)
            case done
        }

        private let state = Mutex(State.pending)
        /// The host registered the listener: the handshake's deadline no longer applies.
        let registered = Atomic<Bool>(false)

        func settle(_ result: Result<Void, any Error>) {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                switch state {
                case .pending:
                    state = .settled(result)
                    return nil
                case .waiting(let waiter):
                    state = .done
                    return waiter
                case .settled, .done: return nil
                }
            }
            waiter?.resume(with: result)
        }

        func value() async throws {
            try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
                let ready = state.withLock { state -> Result<Void, any Error>? in
                    switch state {
                    case .pending:
                        state = .waiting(waiter)
                        return nil
                    case .settled(let result):
                        state = .done
                        return result
                    case .waiting, .done: preconditionFailure("a run's outcome is awaited once")
                    }
                }
                if let ready { waiter.resume(with: ready) }
            }
        }
    }
}
