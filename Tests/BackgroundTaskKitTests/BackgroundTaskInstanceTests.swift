import BackgroundTaskKit
import Foundation
import Testing

/// The instance lifecycle: deferrals, cancellation, progress.
@Suite struct BackgroundTaskInstanceTests {
    func makeInstance(progress: (@Sendable (UInt32) -> Void)? = nil) -> BackgroundTaskInstance {
        BackgroundTaskInstance(
            task: BackgroundTaskRegistration(name: "T", taskId: UUID()),
            triggerDetails: RawNotification(content: "hi", channelId: "c1", headers: ["x-wns-type": "wns/raw"]),
            triggerId: "trigger-1", attempt: 2, progressReporter: progress)
    }

    @Test func exposesTheTriggerDetailsLikeWindows() throws {
        let instance = makeInstance()
        let notification = try #require(instance.triggerDetails as? RawNotification)
        #expect(notification.content == "hi")
        #expect(notification.contentBytes == Array("hi".utf8))
        #expect(notification.channelId == "c1")
        #expect(notification.headers["x-wns-type"] == "wns/raw")
        #expect(instance.task.name == "T")
        #expect(instance.triggerId == "trigger-1")
        #expect(instance.attempt == 2)
        #expect(instance.suspendedCount == 0)
        #expect(RawNotification(contentBytes: [0xFF]).content == "\u{FFFD}")
    }

    @Test func cancellationCallsTheHandlerOnceWithTheFirstReason() {
        let instance = makeInstance()
        let calls = LockedLines()
        instance.canceled = { canceled, reason in
            #expect(canceled === instance)
            calls.append(reason.description)
        }
        #expect(!instance.isCanceled)
        instance.requestCancellation(.executionTimeExceeded)
        instance.requestCancellation(.abort)
        #expect(calls.values == ["ExecutionTimeExceeded"])
        #expect(instance.cancellationReason == .executionTimeExceeded)
    }

    @Test func aHandlerSetAfterCancellationRunsAtOnce() {
        let instance = makeInstance()
        instance.requestCancellation(.terminating)
        let calls = LockedLines()
        instance.canceled = { _, reason in calls.append(reason.description) }
        #expect(calls.values == ["Terminating"])
    }

    @Test func progressIsReported() {
        let reported = LockedLines()
        let instance = makeInstance { reported.append(String($0)) }
        instance.progress = 10
        instance.progress = 90
        #expect(instance.progress == 90)
        #expect(reported.values == ["10", "90"])
    }

    @Test func cancellationReasonsUseWindowsNumbering() {
        #expect(BackgroundTaskCancellationReason.abort.rawValue == 0)
        #expect(BackgroundTaskCancellationReason.uninstall.rawValue == 5)
        #expect(BackgroundTaskCancellationReason.executionTimeExceeded.rawValue == 9)
        #expect(BackgroundTaskCancellationReason.energySaver.rawValue == 11)
        #expect(BackgroundTaskCancellationReason(name: "executiontimeexceeded") == .executionTimeExceeded)
        #expect(BackgroundTaskCancellationReason(name: "3") == .servicingUpdate)
        #expect(BackgroundTaskCancellationReason(name: "Nope") == nil)
    }
}
