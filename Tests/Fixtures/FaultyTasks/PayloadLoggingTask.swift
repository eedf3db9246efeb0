public import BackgroundTaskKit

/// Writes each raw notification's content to its log, as it came: the status
/// page's tests push HTML (`<script>…`) through it and check that the page
/// shows it as text. Content starting with `fail:` makes `run` throw with it.
public final class PayloadLoggingTask: BackgroundTask {
    public init() {}

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    public func run(_ taskInstance: BackgroundTaskInstance) throws {
        guard let notification = taskInstance.triggerDetails as? RawNotification else { return }
        Debug.writeLine("payload: \(notification.content)")
        if notification.content.hasPrefix("fail:") { throw Failure(description: notification.content) }
    }
}
