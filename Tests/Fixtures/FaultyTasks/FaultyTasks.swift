public import BackgroundTaskKit
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
            if index % 4 == 0 { FileHandle.standardError.write(Data("stderr \(index)\n".utf8)) }
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

/// Stores what a Web Push brought: subscription, topic, urgency and content.
public final class WebPushRecordingTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) throws {
        guard let push = taskInstance.triggerDetails as? WebPushNotification else { return }
        try ApplicationData.current.localSettings.values.set(
            "webpush", .string([push.subscriptionId, push.topic ?? "-", push.urgency, push.content].joined(separator: "|")))
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

// MARK: - Hostile tasks (the fault-injection suite)

/// Dereferences a bad pointer: SIGSEGV.
public final class SegfaultTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        ApplicationData.current.localSettings.values["before-crash"] = "written"
        UnsafeMutablePointer<Int>(bitPattern: 8)!.pointee = 1
    }
}

/// Calls abort(): SIGABRT.
public final class AbortTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) { abort() }
}

/// Burns CPU forever; its CPU limit stops it (SIGXCPU).
public final class BusyTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        var x: UInt64 = 1
        while x != 0 { x = x &* 6_364_136_223_846_793_005 &+ 1 }
    }
}

/// Allocates and touches memory until it cannot.
public final class MemoryBombTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        var blocks: [UnsafeMutableRawPointer] = []
        while let block = malloc(16 << 20) {
            memset(block, 1, 16 << 20)
            blocks.append(block)
            if blocks.count > 1024 { break }  // 16 GiB: the limit did not hold
        }
        Debug.writeLine("allocated \(blocks.count * 16) MiB before malloc failed")
        fatalError("out of memory after \(blocks.count * 16) MiB")
    }
}

/// Leaves a child behind that escaped the instance's process group
/// (`setsid`), records its pid in the setting "escaped", and returns.
public final class EscapingTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        let pid = fork()
        if pid == 0 {
            _ = setsid()
            let grandchild = fork()
            if grandchild == 0 {
                while true { pause() }
            }
            var value = grandchild
            _ = write(fds[1], &value, MemoryLayout<pid_t>.size)
            _exit(0)
        }
        var escaped: pid_t = 0
        _ = read(fds[0], &escaped, MemoryLayout<pid_t>.size)
        ApplicationData.current.localSettings.values["escaped"] = .int(Int64(escaped))
    }
}

/// Forks until the process limit stops it; the children wait forever.
public final class ForkBombTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        var children = 0
        while children < 10_000 {
            let pid = fork()
            if pid == 0 {
                while true { pause() }
            }
            if pid < 0 { break }
            children += 1
        }
        ApplicationData.current.localSettings.values["forked"] = .int(Int64(children))
    }
}

/// Writes garbage on the IPC socket.
public final class GarbageFramesTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        let garbage: [UInt8] = [0xFF, 0xFF, 0xFF, 0x7F, 0x42, 0x42]
        _ = garbage.withUnsafeBytes { write(3, $0.baseAddress, $0.count) }
        sleep(30)
    }
}

/// Closes the IPC socket (while the worker's reader waits on it) and carries on.
public final class ClosesIPCSocketTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) {
        usleep(300_000)
        close(3)
        sleep(30)
    }
}

/// Tries what a sandbox must prevent, and records what happened: open the
/// file at argument "path" (the host's database), connect to 127.0.0.1 at
/// argument "port", and create a user namespace.
public final class EscapeArtistTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) throws {
        let arguments = (taskInstance.triggerDetails as? ApplicationTriggerDetails)?.arguments ?? [:]
        let values = ApplicationData.current.localSettings.values
        func outcome(_ result: Int32) -> SettingValue {
            result >= 0 ? "succeeded" : .string("failed: \(String(cString: strerror(errno)))")
        }
        if let path = arguments["path"] {
            let fd = open(path, O_RDONLY)
            try values.set("open", outcome(fd))
            if fd >= 0 { close(fd) }
        }
        if let port = arguments["port"].flatMap(UInt16.init) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try values.set("connect", outcome(result))
            close(fd)
        }
        // unshare(CLONE_NEWUSER): allowed to unprivileged users on this kernel, but not by the seccomp filter.
        // (Glibc's Swift module does not export unshare, so find it at run time.)
        typealias Unshare = @convention(c) (Int32) -> Int32
        let unshare = unsafeBitCast(dlsym(nil, "unshare"), to: Unshare.self)
        try values.set("unshare", outcome(unshare(0x1000_0000)))
        try values.set("uid", .int(Int64(getuid())))
    }
}

/// Works for the `ms` argument's milliseconds (default 1000), then records
/// that it finished; returns early, recording the reason, when canceled.
public final class SlowTask: BackgroundTask {
    public init() {}
    public func run(_ taskInstance: BackgroundTaskInstance) throws {
        let arguments = (taskInstance.triggerDetails as? ApplicationTriggerDetails)?.arguments ?? [:]
        let milliseconds = arguments["ms"].flatMap { Int($0) } ?? 1000
        let canceled = DispatchSemaphore(value: 0)
        taskInstance.canceled = { _, _ in canceled.signal() }
        Debug.writeLine("working for \(milliseconds) ms")
        let values = ApplicationData.current.localSettings.values
        if canceled.wait(timeout: .now() + .milliseconds(milliseconds)) == .success {
            try values.set("SlowTask", .string("canceled: \(taskInstance.cancellationReason!)"))
        } else {
            try values.set("SlowTask", .string("finished after \(milliseconds) ms"))
        }
    }
}
