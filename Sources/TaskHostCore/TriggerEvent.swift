import CTaskHostABI
import Crypto
import Foundation

/// The kind of trigger that fired an instance.
package enum TriggerKind: String, Sendable, CaseIterable {
    /// `taskhost run` or `taskhost trigger`.
    case application
    /// A raw push notification.
    case pushNotification = "push"
    /// A timer.
    case time
    /// A Web Push message (RFC 8030) on a subscription.
    case webPush = "webpush"
}

/// One firing of a trigger: what the instance it starts receives.
package struct TriggerEvent: Sendable, Equatable {
    /// What fired.
    package var kind: TriggerKind
    /// The trigger's stable id: the same on every retry of this firing.
    package var triggerId: String
    /// 1 for the first run.
    package var attempt: Int
    /// Raw push content (a Web Push's decrypted content).
    package var payload: [UInt8]
    /// The push channel (or Web Push subscription) it arrived on.
    package var channelId: String
    /// The push request's headers (a Web Push's `topic` and `urgency`).
    package var headers: [String: String]
    /// Application trigger arguments.
    package var arguments: [String: String]
    /// The instance whose trigger this one repeats (`taskhost replay`), or `nil`.
    package var replayOf: String?

    /// Creates an event.
    package init(
        kind: TriggerKind, triggerId: String = RandomToken.uuid(), attempt: Int = 1, payload: [UInt8] = [],
        channelId: String = "", headers: [String: String] = [:], arguments: [String: String] = [:], replayOf: String? = nil
    ) {
        self.replayOf = replayOf
        self.kind = kind
        self.triggerId = triggerId
        self.attempt = attempt
        self.payload = payload
        self.channelId = channelId
        self.headers = headers
        self.arguments = arguments
    }

    /// A raw notification fired locally (`taskhost run --raw-content`).
    package static func rawNotification(_ payload: [UInt8]) -> TriggerEvent {
        TriggerEvent(kind: .pushNotification, payload: payload)
    }

    /// An application trigger with `arguments`.
    package static func application(arguments: [String: String] = [:]) -> TriggerEvent {
        TriggerEvent(kind: .application, arguments: arguments)
    }

    /// The trigger kind as the C ABI numbers it (`th_trigger_kind`).
    package var abiKind: UInt32 {
        switch kind {
        case .application: TH_TRIGGER_APPLICATION.rawValue
        case .pushNotification: TH_TRIGGER_PUSH_NOTIFICATION.rawValue
        case .time: TH_TRIGGER_TIME.rawValue
        case .webPush: TH_TRIGGER_WEB_PUSH.rawValue
        }
    }
}

/// Deterministic ids for things that have a name but no stored id: SHA-256
/// of the name, so they are the same across runs and hosts.
package enum StableID {
    /// The first `bytes` bytes of SHA-256(`name`) in hex.
    package static func hex(for name: String, bytes: Int = 16) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(2 * bytes)
        for byte in SHA256.hash(data: Data(name.utf8)).prefix(bytes) {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// A UUID-shaped id derived from `name`.
    package static func uuid(for name: String) -> String {
        let hex = Array(hex(for: name))
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(hex[$0]) }.joined(separator: "-")
    }
}
