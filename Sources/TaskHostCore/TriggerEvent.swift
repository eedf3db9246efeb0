import CTaskHostABI
import Foundation

/// One firing of a trigger: what the instance it starts receives.
public struct TriggerEvent: Sendable, Equatable {
    /// What fired.
    public var kind: TriggerKind
    /// The trigger's stable id: the same on every retry of this firing.
    public var triggerId: String
    /// 1 for the first run.
    public var attempt: Int
    /// Raw push content.
    public var payload: [UInt8]
    /// The push channel it arrived on.
    public var channelId: String
    /// The push request's headers.
    public var headers: [String: String]
    /// Application trigger arguments.
    public var arguments: [String: String]

    /// Creates an event.
    public init(
        kind: TriggerKind, triggerId: String = UUID().uuidString.lowercased(), attempt: Int = 1, payload: [UInt8] = [],
        channelId: String = "", headers: [String: String] = [:], arguments: [String: String] = [:]
    ) {
        self.kind = kind
        self.triggerId = triggerId
        self.attempt = attempt
        self.payload = payload
        self.channelId = channelId
        self.headers = headers
        self.arguments = arguments
    }

    /// A raw notification fired locally (`taskhost run --raw-content`).
    public static func rawNotification(_ payload: [UInt8]) -> TriggerEvent {
        TriggerEvent(kind: .pushNotification, payload: payload)
    }

    /// An application trigger with `arguments`.
    public static func application(arguments: [String: String] = [:]) -> TriggerEvent {
        TriggerEvent(kind: .application, arguments: arguments)
    }

    var abiKind: UInt32 {
        switch kind {
        case .application: TH_TRIGGER_APPLICATION.rawValue
        case .pushNotification: TH_TRIGGER_PUSH_NOTIFICATION.rawValue
        case .time: TH_TRIGGER_TIME.rawValue
        }
    }
}

/// Deterministic ids for things that have a name but no stored id.
enum StableID {
    /// A UUID-shaped id derived from `name` (two FNV-1a hashes), stable across runs and hosts.
    static func uuid(for name: String) -> String {
        func fnv(_ seed: UInt64) -> UInt64 {
            var hash = seed
            for byte in name.utf8 {
                hash ^= UInt64(byte)
                hash &*= 0x100_0000_01b3
            }
            return hash
        }
        let high = fnv(0xcbf2_9ce4_8422_2325), low = fnv(0x8422_2325_cbf2_9ce4)
        let hex = String(format: "%016llx%016llx", high, low)
        let chars = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(chars[$0]) }.joined(separator: "-")
    }
}
