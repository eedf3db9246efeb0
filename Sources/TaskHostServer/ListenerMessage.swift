import Foundation
import TaskHostCore
import TaskHostStore

/// The messages of the listening protocol (`GET /listen/v1/APP`), as the host
/// writes them: one JSON object per WebSocket text message, with a `type`.
///
/// - `ready`: the listener is registered (`app`, `claims`); pushes stored from
///   now on are sent to it.
/// - `push`: a push, sent once it is durably stored: `triggerId` (the push's
///   `X-WNS-Msg-ID`, what `claim` names), `channelId`, `task`, `headers` (as the
///   task would see them), `payload` (base64) and `claimWindowMs` (how long it
///   waits for a claim before it is dispatched; 0: it is not waiting).
/// - `claim`: the answer to `claim <triggerId>`: `triggerId`, `claimed`
///   (`true`: no instance runs for it) and, when refused, `reason`.
enum ListenerMessage {
    private struct Ready: Encodable {
        let type = "ready"
        let app: String
        let claims: Bool
    }

    private struct Push: Encodable {
        let type = "push"
        let triggerId: String
        let channelId: String
        let task: String
        let headers: [String: String]
        let payload: String
        let claimWindowMs: Int64
    }

    private struct Claim: Encodable {
        let type = "claim"
        let triggerId: String
        let claimed: Bool
        let reason: String?
    }

    /// The first message of a connection.
    static func ready(app: String, claims: Bool) -> String { encode(Ready(app: app, claims: claims)) }

    /// A stored push, waiting `claimWindow` for a claim.
    static func push(_ trigger: NewTrigger, claimWindow: Duration) -> String {
        let window = claimWindow.components
        return encode(
            Push(
                triggerId: trigger.id, channelId: trigger.event.channelId, task: trigger.task, headers: trigger.event.headers,
                payload: Data(trigger.event.payload).base64EncodedString(),
                claimWindowMs: window.seconds * 1000 + window.attoseconds / 1_000_000_000_000_000))
    }

    /// The answer to a claim.
    static func claim(_ triggerId: String, _ answer: ListenerHub.ClaimAnswer) -> String {
        switch answer {
        case .claimed: encode(Claim(triggerId: triggerId, claimed: true, reason: nil))
        case .refused(let reason): encode(Claim(triggerId: triggerId, claimed: false, reason: reason))
        }
    }

    private static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
