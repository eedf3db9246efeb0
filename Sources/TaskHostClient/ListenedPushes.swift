import Foundation
import HummingbirdWSClient
import Synchronization

/// A push as a listener receives it, once the host has stored it.
public struct ListenedPush: Sendable, Equatable, Decodable {
    /// The trigger's id (the push's `X-WNS-Msg-ID`): what a claim names.
    public var triggerId: String
    /// The channel it was pushed to.
    public var channelId: String
    /// The background task it is for.
    public var task: String
    /// The push's headers, as the task would see them.
    public var headers: [String: String]
    /// The payload's bytes.
    public var payload: [UInt8]
    /// How long it waits for a claim before the host dispatches it (zero: it
    /// does not wait; no listener that claims was connected, or the task's
    /// `ClaimWindowMs` is 0).
    public var claimWindow: Duration

    private enum CodingKeys: String, CodingKey { case triggerId, channelId, task, headers, payload, claimWindowMs }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        triggerId = try container.decode(String.self, forKey: .triggerId)
        channelId = try container.decode(String.self, forKey: .channelId)
        task = try container.decode(String.self, forKey: .task)
        headers = try container.decode([String: String].self, forKey: .headers)
        payload = Array(Data(base64Encoded: try container.decode(String.self, forKey: .payload)) ?? Data())
        claimWindow = .milliseconds(try container.decode(Int64.self, forKey: .claimWindowMs))
    }
}

/// The pushes of one connection, in the order the host stored them, and the
/// way to claim one. Iterate it once.
public final class ListenedPushes: AsyncSequence, Sendable {
    public typealias Element = ListenedPush

    private let outbound: WebSocketOutboundWriter
    private let stream: AsyncThrowingStream<ListenedPush, any Error>
    private let continuation: AsyncThrowingStream<ListenedPush, any Error>.Continuation
    private struct State {
        var ready: CheckedContinuation<Void, any Error>?
        var isReady = false
        var isFinished = false
        var claims: [String: [CheckedContinuation<Bool, any Error>]] = [:]
        /// Why the host refused the last claims, by trigger id (for ``refusal(of:)``).
        var refusals: [String: String] = [:]
    }
    private let state = Mutex(State())

    init(outbound: WebSocketOutboundWriter) {
        self.outbound = outbound
        (stream, continuation) = AsyncThrowingStream.makeStream(bufferingPolicy: .unbounded)
    }

    public func makeAsyncIterator() -> AsyncThrowingStream<ListenedPush, any Error>.AsyncIterator { stream.makeAsyncIterator() }

    /// Claims `push`: `true` when this listener's claim came first, so no
    /// background task runs for it; `false` when it was too late (another
    /// listener claimed it, or the host dispatched it: the window ended) or
    /// this listener only observes (``refusal(of:)`` says why).
    public func claim(_ push: ListenedPush) async throws -> Bool { try await claim(triggerId: push.triggerId) }

    /// Claims the push whose trigger id is `triggerId` (see ``claim(_:)``).
    public func claim(triggerId: String) async throws -> Bool {
        try await withCheckedThrowingContinuation { waiter in
            let finished = state.withLock { state in
                if state.isFinished { return true }
                state.claims[triggerId, default: []].append(waiter)
                return false
            }
            if finished { return waiter.resume(throwing: ListenError.closed) }
            Task {
                do { try await outbound.write(.text("claim " + triggerId)) } catch { self.failClaims(error) }
            }
        }
    }

    /// Why the host refused the last claim of `triggerId` (`nil`: not refused).
    public func refusal(of triggerId: String) -> String? { state.withLock { $0.refusals[triggerId] } }

    private struct Message: Decodable {
        var type: String
        var triggerId: String?
        var claimed: Bool?
        var reason: String?
    }

    /// A text message from the host.
    func received(_ text: String) {
        let data = Data(text.utf8)
        guard let message = try? JSONDecoder().decode(Message.self, from: data) else { return }
        switch message.type {
        case "ready":
            let waiter = state.withLock { state in
                state.isReady = true
                defer { state.ready = nil }
                return state.ready
            }
            waiter?.resume()
        case "push":
            if let push = try? JSONDecoder().decode(ListenedPush.self, from: data) { continuation.yield(push) }
        case "claim":
            guard let id = message.triggerId else { return }
            let waiter = state.withLock { state -> CheckedContinuation<Bool, any Error>? in
                if let reason = message.reason { state.refusals[id] = reason } else { state.refusals[id] = nil }
                guard var waiting = state.claims[id], !waiting.isEmpty else { return nil }
                let first = waiting.removeFirst()
                state.claims[id] = waiting.isEmpty ? nil : waiting
                return first
            }
            waiter?.resume(returning: message.claimed == true)
        default:
            break
        }
    }

    /// Waits for the host's `ready` (the listener is registered).
    func waitUntilReady() async throws {
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
            let now = state.withLock { state -> Result<Void, any Error>? in
                if state.isReady { return .success(()) }
                if state.isFinished { return .failure(ListenError.closed) }
                state.ready = waiter
                return nil
            }
            if let now { waiter.resume(with: now) }
        }
    }

    /// The connection ended: the iteration ends, waiting claims fail.
    func finish() {
        continuation.finish()
        failClaims(ListenError.closed)
    }

    private func failClaims(_ error: any Error) {
        let (waiters, ready) = state.withLock { state in
            state.isFinished = true
            defer {
                state.claims = [:]
                state.ready = nil
            }
            return (state.claims.values.flatMap { $0 }, state.ready)
        }
        for waiter in waiters { waiter.resume(throwing: error) }
        ready?.resume(throwing: error)
    }
}
