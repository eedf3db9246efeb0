public import BackgroundTaskKit

/// The port of the Windows raw-push sample task: stores the content of the
/// raw notification that fired it in the app's local settings, under the
/// task's name, so the app (or `taskhost settings get`) can read it later.
/// A Web Push's decrypted content is stored the same way.
public final class SampleBackgroundTask: BackgroundTask {
    public init() {}

    public func run(_ taskInstance: BackgroundTaskInstance) {
        // Get the background task details
        let settings = ApplicationData.current.localSettings
        let taskName = taskInstance.task.name

        Debug.writeLine("Background \(taskName) starting...")

        // Store the content received from the notification so it can be retrieved from the UI.
        if let notification = taskInstance.triggerDetails as? RawNotification {
            settings.values[taskName] = .string(notification.content)
        } else if let notification = taskInstance.triggerDetails as? WebPushNotification {
            settings.values[taskName] = .string(notification.content)
        }

        Debug.writeLine("Background \(taskName) completed!")
    }
}
