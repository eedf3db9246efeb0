import BackgroundTaskKit
import Foundation

// Tasks that misbehave, or exercise one part of the lifecycle, for the
// integration tests. Each class is named after what it does.

/// Calls `fatalError`: the worker dies of SIGILL/SIGTRAP.
public final class CrashingTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        Debug.writeLine("about to crash")
        fatalError("CrashingTask crashes on purpose")
    }
}

/// Never returns and ignores cancellation: it must be killed.
public final class HangingTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        Debug.writeLine("hanging")
        while true { sleep(1) }
    }
}

/// Waits until the host cancels it, then returns promptly.
public final class CooperativeTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        let canceled = DispatchSemaphore(value: 0)
        taskInstance.canceled = { instance, reason in
            Debug.writeLine("canceled: \(reason)")
            canceled.signal()
        }
        canceled.wait()
        ApplicationData.current.localSettings.values["CooperativeTask"] = .string("saw \(taskInstance.cancellationReason!)")
    }
}

/// Takes a deferral, returns from `run`, and completes the deferral later
/// from a Swift `Task`.
public final class DeferralTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        let deferral = taskInstance.getDeferral()
        let last = taskInstance.getDeferral()
        let name = taskInstance.task.name
        Task {
            try? await Task.sleep(for: .milliseconds(300))
            ApplicationData.current.localSettings.values[name] = .string("completed after run returned")
            Debug.writeLine("deferral completing")
            deferral.complete()
            deferral.complete()  // a second call is ignored: `last` still keeps the instance alive
            Debug.writeLine("still alive")
            last.complete()
        }
        Debug.writeLine("run returning with a deferral")
    }
}

/// Takes a deferral and never completes it.
public final class ForgottenDeferralTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        _ = taskInstance.getDeferral()
    }
}

/// Written with Swift concurrency.
public final class AsyncEchoTask: AsyncBackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) async throws {
        try await Task.sleep(for: .milliseconds(50))
        let arguments = (taskInstance.triggerDetails as? ApplicationTriggerDetails)?.arguments ?? [:]
        ApplicationData.current.localSettings.values["AsyncEchoTask"] = .string(arguments["message"] ?? "(none)")
    }
}

/// Throws from `run`.
public final class ThrowingTask: BackgroundTask {
    struct Failure: Error, CustomStringConvertible {
        var description: String { "the upstream server said no" }
    }

    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) throws {
        throw Failure()
    }
}

/// Calls `exit(3)` from inside `run`.
public final class ExitingTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        exit(3)
    }
}

/// Prints far more than the host keeps.
public final class FloodingTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        let line = String(repeating: "x", count: 200)
        for index in 0..<20_000 {
            print("\(index) \(line)")
            if index % 2 == 0 { Debug.writeLine("debug \(index)") }
        }
    }
}

/// Exercises settings through the host: reads what the test stored, writes
/// every type, reports progress, and meets the limits.
public final class SettingsTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) throws {
        let values = ApplicationData.current.localSettings.values
        let seed = values["seed"]?.stringValue ?? "(missing)"
        values["echo"] = .string("seed was \(seed)")
        values["count"] = 42
        values["ratio"] = 0.5
        values["flag"] = true
        values["id"] = .uuid(taskInstance.instanceId)
        values["blob"] = .bytes([0, 1, 2, 255])
        values["composite"] = .composite(["a": 1, "b": "two"])
        values["triggerId"] = .string(taskInstance.triggerId)
        values["keys"] = .string(values.keys.joined(separator: ","))
        values["temporary"] = "x"
        values["temporary"] = nil
        taskInstance.progress = 50
        do {
            try values.set("too-big", .string(String(repeating: "a", count: SettingLimits.maxValueSize + 1)))
            values["limit"] = "not enforced"
        } catch {
            values["limit"] = .string("\(error)")
        }
        taskInstance.progress = 100
    }
}

/// Breaks a limit through the subscript, which stops the instance.
public final class OversizedSettingTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        ApplicationData.current.localSettings.values[String(repeating: "k", count: 300)] = "value"
    }
}

/// Not final: refused.
public class NotFinalTask: BackgroundTask {
    public required init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {}
}

/// Not a task: refused.
public final class NotATask {
    public init() {}
}

/// A struct: refused.
public struct StructTask {
    public init() {}
}

/// Fails its first two attempts, completes on the third: exercises retries.
public final class FlakyTask: BackgroundTask {
    struct NotYet: Error, CustomStringConvertible {
        var attempt: Int
        var description: String { "attempt \(attempt) fails on purpose" }
    }

    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) throws {
        guard taskInstance.attempt >= 3 else { throw NotYet(attempt: taskInstance.attempt) }
        ApplicationData.current.localSettings.values["FlakyTask"] = .string("completed on attempt \(taskInstance.attempt)")
    }
}

/// Records every raw notification it sees, by content: `seen:<content>` holds
/// how many times that content ran (at-least-once means it may be more than 1).
public final class RecordingTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) throws {
        guard let notification = taskInstance.triggerDetails as? RawNotification else { return }
        let values = ApplicationData.current.localSettings.values
        let key = "seen:" + notification.content
        if case .int(let count) = values[key] {
            try values.set(key, .int(count + 1))
        } else {
            try values.set(key, .int(1))
        }
        if !notification.headers.isEmpty {
            try values.set("headers", .string(notification.headers.keys.sorted().joined(separator: ",")))
        }
        try values.set("channel", .string(notification.channelId))
    }
}

/// Holds a deferral until the host cancels it, then completes it: what a task
/// doing long background work does on shutdown.
public final class DeferralUntilCanceledTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        let deferral = taskInstance.getDeferral()
        taskInstance.canceled = { _, reason in
            Debug.writeLine("canceled (\(reason)); completing the deferral")
            deferral.complete()
        }
        Debug.writeLine("holding a deferral")
    }
}
