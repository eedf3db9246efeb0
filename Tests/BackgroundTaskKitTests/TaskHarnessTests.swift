import BackgroundTaskKit
import BackgroundTaskKitTesting
import BackgroundTasks
import Testing

final class AsyncCounter: AsyncBackgroundTask {
    init() {}
    func run(_ taskInstance: BackgroundTaskInstance) async throws {
        try await Task.sleep(for: .milliseconds(10))
        let values = ApplicationData.current.localSettings.values
        if case .int(let count) = values["count"] { values["count"] = .int(count + 1) } else { values["count"] = 1 }
        taskInstance.progress = 100
    }
}

extension ProcessGlobalStateTests {
    /// The in-process harness plugin authors test their tasks with, used on the
    /// sample task the way a plugin's own tests would.
    @Suite struct TaskHarnessTests {
        @Test func theSampleTaskStoresTheRawContent() throws {
            let result = try TaskHarness.run(SampleBackgroundTask.self, trigger: RawNotification(content: "hello"))
            #expect(result.finished)
            #expect(result.settings["SampleBackgroundTask"] == "hello")
            #expect(result.log == ["Background SampleBackgroundTask starting...", "Background SampleBackgroundTask completed!"])
        }

        @Test func theSampleTaskStoresTheWebPushContentTheSameWay() throws {
            let trigger = WebPushNotification(content: "from a browser's app server", subscriptionId: "s1", topic: "inbox", urgency: "high")
            let result = try TaskHarness.run(SampleBackgroundTask.self, trigger: trigger)
            #expect(result.settings["SampleBackgroundTask"] == "from a browser's app server")
            #expect(WebPushNotification(contentBytes: [0xFF]).content == "\u{FFFD}")
            #expect(WebPushNotification(content: "").urgency == "normal")
        }

        @Test func withoutARawNotificationTheSampleStoresNothing() throws {
            let result = try TaskHarness.run(SampleBackgroundTask.self, trigger: ApplicationTriggerDetails(), settings: ["kept": 1])
            #expect(result.settings == ["kept": 1])
        }

        @Test func deferralsAreWaitedForAndCancellationIsDelivered() throws {
            final class Waits: BackgroundTask {
                init() {}
                func run(_ taskInstance: BackgroundTaskInstance) {
                    let deferral = taskInstance.getDeferral()
                    taskInstance.canceled = { _, reason in
                        Debug.writeLine("canceled \(reason)")
                        deferral.complete()
                    }
                }
            }
            let result = try TaskHarness.run(Waits.self, cancelAfter: .milliseconds(50), reason: .terminating)
            #expect(result.finished)
            #expect(result.cancellationReason == .terminating)
            #expect(result.log == ["canceled Terminating"])
            let stuck = try TaskHarness.run(Waits.self, timeout: .milliseconds(100))
            #expect(!stuck.finished, "a deferral never completed is reported, not waited for forever")
        }
    }

    @Suite struct AsyncTaskHarnessTests {
        @Test func asyncTasksRunToTheirEnd() async throws {
            let result = try await TaskHarness.run(AsyncCounter.self, settings: ["count": 41])
            #expect(result.finished)
            #expect(result.settings["count"] == 42)
            #expect(result.progress == 100)
        }
    }
}
