#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: see "A worker without Foundation" in the README
import Glibc
#else
import Foundation
#endif

/// What a trigger hands to the instance it starts: ``BackgroundTaskInstance/triggerDetails``.
/// Cast it to the concrete type that matches the task's trigger, as on Windows:
/// `taskInstance.triggerDetails as? RawNotification`.
public protocol TriggerDetails: Sendable {}

/// The content of a raw push notification (Windows' `RawNotification`).
public struct RawNotification: TriggerDetails, Equatable {
    /// The payload as bytes, exactly as the app server sent it.
    public let contentBytes: [UInt8]
    /// The id of the push channel the notification arrived on; empty when the
    /// instance was fired locally (`taskhost run --raw-content`).
    public let channelId: String
    /// The headers of the push request (names lower-cased).
    public let headers: [String: String]

    /// The payload decoded as UTF-8; bytes that are not valid UTF-8 are replaced
    /// with U+FFFD. Use ``contentBytes`` for binary payloads.
    public var content: String { String(decoding: contentBytes, as: UTF8.self) }

    /// Creates a notification (the host does this; tests may too).
    public init(contentBytes: [UInt8], channelId: String = "", headers: [String: String] = [:]) {
        self.contentBytes = contentBytes
        self.channelId = channelId
        self.headers = headers
    }

    /// Creates a notification whose payload is `content` encoded as UTF-8.
    public init(content: String, channelId: String = "", headers: [String: String] = [:]) {
        self.init(contentBytes: Array(content.utf8), channelId: channelId, headers: headers)
    }
}

/// A Web Push message (RFC 8030) that arrived on one of the task's
/// subscriptions (`taskhost subscriptions create`). The host decrypted it
/// (RFC 8291) and checked its sender's VAPID signature before queueing it;
/// the task sees the plaintext. A push without a body (a "tickle") has empty content.
public struct WebPushNotification: TriggerDetails, Equatable {
    /// The decrypted payload, exactly as the application server encrypted it.
    public let contentBytes: [UInt8]
    /// The id of the subscription it was sent to.
    public let subscriptionId: String
    /// The push's `Topic` (`nil` when it had none). A newer push with the same
    /// topic replaces one that has not run yet.
    public let topic: String?
    /// The push's `Urgency`: `very-low`, `low`, `normal` (the default) or `high`.
    public let urgency: String

    /// The payload decoded as UTF-8; bytes that are not valid UTF-8 are replaced
    /// with U+FFFD. Use ``contentBytes`` for binary payloads.
    public var content: String { String(decoding: contentBytes, as: UTF8.self) }

    /// Creates a notification (the host does this; tests may too).
    public init(contentBytes: [UInt8], subscriptionId: String = "", topic: String? = nil, urgency: String = "normal") {
        self.contentBytes = contentBytes
        self.subscriptionId = subscriptionId
        self.topic = topic
        self.urgency = urgency
    }

    /// Creates a notification whose payload is `content` encoded as UTF-8.
    public init(content: String, subscriptionId: String = "", topic: String? = nil, urgency: String = "normal") {
        self.init(contentBytes: Array(content.utf8), subscriptionId: subscriptionId, topic: topic, urgency: urgency)
    }
}

/// The details of an application trigger (Windows' `ApplicationTriggerDetails`):
/// the arguments given to `taskhost trigger TASK --arg KEY=VALUE`.
public struct ApplicationTriggerDetails: TriggerDetails, Equatable {
    /// The arguments, by name.
    public let arguments: [String: String]

    /// Creates details with the given arguments.
    public init(arguments: [String: String] = [:]) {
        self.arguments = arguments
    }
}

/// The details of a time trigger: when the period that fired was due.
public struct TimeTriggerDetails: TriggerDetails, Equatable {
    /// Creates time trigger details.
    public init() {}
}
