import CTaskHostABI
import Foundation
import TaskHostCore
import TaskHostIPC
import TaskHostShared
import TaskHostStore
import _TaskHostCShims

/// A settings operation a worker asked for on behalf of its plugin.
enum SettingsRequest: Equatable {
    case get(key: String)
    case set(key: String, value: [UInt8])
    case delete(key: String)
    case keys
}

/// What the supervisor reports while an instance runs. Called on the
/// supervisor's thread.
protocol InstanceEvents: AnyObject {
    func log(_ line: LogLine)
    func progress(_ value: UInt32)
    /// Performs a settings request; returns a `th_status` and the reply's data.
    func settings(_ request: SettingsRequest) -> (status: UInt32, data: [UInt8])
    /// When progress held back is due (the supervisor wakes then), or `nil`.
    var progressDue: ContinuousClock.Instant? { get }
    /// Handles the progress held back once it is due.
    func progressTick(at now: ContinuousClock.Instant)
}

extension InstanceEvents {
    var progressDue: ContinuousClock.Instant? { nil }
    func progressTick(at now: ContinuousClock.Instant) {}
}

/// Bounds on one instance.
struct SupervisionLimits {
    /// When the instance is canceled with `ExecutionTimeExceeded` (check mode: killed).
    var timeLimit: Duration
    /// How long a canceled instance has before it is killed.
    var gracePeriod: Duration
    /// Log bytes kept per instance; more is dropped and counted.
    var maxLogBytes = 1 << 20
    /// Log lines kept per instance.
    var maxLogLines = 10_000
    /// The longest line kept whole; longer lines are cut.
    var maxLineBytes = 16 * 1024
    /// How long a worker may linger after it reported its result or closed its IPC socket.
    var exitWait: Duration = .seconds(1)
}

/// What supervision found out.
struct SupervisionReport {
    var outcome: InstanceOutcome
    var ready: (sdkVersion: String, buildSignature: String)?
    var check: (abiVersion: UInt32, sdkVersion: String, buildSignature: String, reports: [EntryPointReport])?
    var progress: UInt32 = 0
    /// The sandbox layers the worker reported before loading the plugin.
    var sandbox: [SandboxLayer] = []
}

/// Watches one worker process from start to reaping, on the calling thread:
/// relays its messages, enforces the time limit, the grace period and the log
/// bounds, and decides the outcome. It never trusts the worker: a malformed
/// frame, a worker that stops reading, or one that lingers is killed.
final class InstanceSupervisor {
    private enum KillCause {
        case timeLimit
        case canceled(BackgroundTaskCancellationReason)
        case protocolError(String)
        case lingering
    }

    private let process: WorkerProcess
    private let limits: SupervisionLimits
    private let events: InstanceEvents
    private let cancellation: InstanceCancellation?
    private let clock = ContinuousClock()

    private var decoder = FrameDecoder()
    private var report = SupervisionReport(outcome: .protocolError("no outcome"))
    private var result: (kind: RunResultKind, message: String)?
    private var cancelReason: BackgroundTaskCancellationReason?
    private var killCause: KillCause?
    private var killAt: ContinuousClock.Instant?
    private var lingerDeadline: ContinuousClock.Instant?
    private var log: LogCollector
    private var isCheck = false

    init(process: WorkerProcess, limits: SupervisionLimits, events: InstanceEvents, cancellation: InstanceCancellation?) {
        self.process = process
        self.limits = limits
        self.events = events
        self.cancellation = cancellation
        self.log = LogCollector(limits: limits, sink: { [events] in events.log($0) })
    }

    /// Sends `first` and supervises the worker until it is gone. `beforeSend`
    /// runs right before `first` goes out (once it is encoded); `afterSend`
    /// once the worker has its work (and overlaps with its start).
    func supervise(first: HostMessage, beforeSend: (() -> Void)? = nil, afterSend: (() -> Void)? = nil) -> SupervisionReport {
        if case .check = first { isCheck = true }
        let started = clock.now
        let timeLimitAt = started + limits.timeLimit
        let encoded = first.frame.encoded
        beforeSend?()
        if !FileDescriptorIO.writeAll(process.ipc, encoded) {
            protocolError("the worker closed its IPC socket before it was given work")
        }
        afterSend?()

        var ipcOpen = true
        var outOpen = true
        var errOpen = true
        var cancelConsumed = cancellation == nil || cancellation!.readDescriptor < 0
        var exitStatus: Int32?

        while exitStatus == nil {
            let now = clock.now
            if killCause == nil {
                if now >= timeLimitAt, cancelReason == nil {
                    if isCheck { kill(.timeLimit) } else { requestCancel(.executionTimeExceeded, at: now) }
                }
                if let killAt, now >= killAt {
                    kill(cancelReason == .executionTimeExceeded ? .timeLimit : .canceled(cancelReason ?? .abort))
                }
                if let lingerDeadline, now >= lingerDeadline { kill(.lingering) }
            }

            var fds: [pollfd] = []
            func watch(_ fd: Int32, _ enabled: Bool) -> Int? {
                guard enabled, fd >= 0 else { return nil }
                fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
                return fds.count - 1
            }
            let ipcIndex = watch(process.ipc, ipcOpen)
            let outIndex = watch(process.stdout, outOpen)
            let errIndex = watch(process.stderr, errOpen)
            let cancelIndex = watch(cancellation?.readDescriptor ?? -1, !cancelConsumed)
            let exitIndex = watch(process.exitDescriptor, true)

            var wake: [ContinuousClock.Instant] = []
            if cancelReason == nil, killCause == nil { wake.append(timeLimitAt) }
            if killCause == nil, let killAt { wake.append(killAt) }
            if killCause == nil, let lingerDeadline { wake.append(lingerDeadline) }
            if let progressDue = events.progressDue { wake.append(progressDue) }
            var timeout = wake.min().map { Self.milliseconds(until: $0, from: now) } ?? -1
            if exitIndex == nil { timeout = timeout < 0 ? 20 : min(timeout, 20) }  // no pidfd: poll for exit

            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0, errno != EINTR { usleep(1000) }
            func isReady(_ index: Int?) -> Bool {
                guard let index else { return false }
                return fds[index].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0
            }
            if isReady(ipcIndex) { ipcOpen = readIPC() }
            if isReady(outIndex) { outOpen = readOutput(process.stdout, .stdout) }
            if isReady(errIndex) { errOpen = readOutput(process.stderr, .stderr) }
            if isReady(cancelIndex), let cancellation {
                // Watched until a cancellation without grace came (shutdown's second signal).
                cancellation.consumeSignal()
                cancelConsumed = cancellation.isImmediate
                if let reason = cancellation.reason, cancelReason == nil, killCause == nil {
                    if isCheck { kill(.canceled(reason)) } else { requestCancel(reason, at: clock.now) }
                }
                if cancellation.isImmediate, killCause == nil {
                    log.host("host: the host stops now; killing the instance without waiting for its grace period")
                    kill(.canceled(cancelReason ?? cancellation.reason ?? .terminating))
                }
            }
            if !ipcOpen, lingerDeadline == nil { lingerDeadline = clock.now + limits.exitWait }
            events.progressTick(at: clock.now)
            exitStatus = process.reapIfExited()
        }

        // The worker is gone: take what it wrote before it went.
        drain { readIPC(draining: true) }
        drain { readOutput(process.stdout, .stdout, draining: true) }
        drain { readOutput(process.stderr, .stderr, draining: true) }
        log.finish()
        process.dispose()
        report.outcome = outcome(exitStatus: exitStatus!)
        return report
    }

    /// Repeats `read` while it says there may be more, at most 64 times: a
    /// process that escaped the group could keep a pipe busy forever.
    private func drain(_ read: () -> Bool) {
        var rounds = 0
        while rounds < 64, read() { rounds += 1 }
    }

    private static func milliseconds(until deadline: ContinuousClock.Instant, from now: ContinuousClock.Instant) -> Int32 {
        guard deadline > now else { return 0 }
        let (seconds, attoseconds) = (deadline - now).components
        return Int32(min(seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1, 60_000))
    }

    private func outcome(exitStatus: Int32) -> InstanceOutcome {
        if case .protocolError(let message) = killCause { return .protocolError(message) }
        if let result {
            switch result.kind {
            case .completed: return .completed
            case .canceled: return .canceled(cancelReason ?? BackgroundTaskCancellationReason(name: result.message) ?? .abort)
            case .failed: return .failed(result.message)
            case .refused: return .refused(result.message)
            }
        }
        if report.check != nil, killCause == nil { return .completed }
        switch killCause {
        case .timeLimit: return .timedOut
        case .canceled(let reason): return .killed(reason)
        case .lingering: return .protocolError("the worker closed its IPC socket without reporting an outcome and did not exit")
        case .protocolError, nil: break
        }
        if th_wait_signaled(exitStatus) != 0 { return .crashed(signal: th_wait_term_signal(exitStatus)) }
        let code = th_wait_exit_code(exitStatus)
        if code == WorkerExitCode.ipcLost {
            return .protocolError("the worker lost its IPC socket to the host (did the plugin close descriptor 3?)")
        }
        if code == WorkerExitCode.noThread {
            return .failed(
                "the worker could not start its reader thread: the instance's process limit (Limits.Processes) or the machine's was reached"
            )
        }
        return .exited(code: code)
    }

    // MARK: - Actions

    private func send(_ message: HostMessage) -> Bool {
        FileDescriptorIO.writeAll(process.ipc, message.frame.encoded)
    }

    private func requestCancel(_ reason: BackgroundTaskCancellationReason, at now: ContinuousClock.Instant) {
        cancelReason = reason
        killAt = now + limits.gracePeriod
        log.host("host: canceling the instance (\(reason)); grace period \(limits.gracePeriod)")
        if !send(.cancel(reason: reason.rawValue)) {
            log.host("host: the worker did not take the cancel request")
        }
    }

    private func kill(_ cause: KillCause) {
        guard killCause == nil else { return }
        killCause = cause
        switch cause {
        case .timeLimit where isCheck: log.host("host: the library did not load within \(limits.timeLimit); killed")
        case .timeLimit: log.host("host: the grace period is over; killing the instance")
        case .canceled: log.host("host: the grace period is over; killing the instance")
        case .protocolError(let message): log.host("host: protocol error: \(message); killing the worker")
        case .lingering: log.host("host: the worker did not exit; killing it")
        }
        process.killGroup()
    }

    private func protocolError(_ message: String) {
        kill(.protocolError(message))
    }

    // MARK: - Reading

    /// Reads what the IPC socket has; returns whether it is still open.
    private func readIPC(draining: Bool = false) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let count = buffer.withUnsafeMutableBytes { recv(process.ipc, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if count < 0 {
            if errno == EINTR || errno == EAGAIN { return !draining }
            return false
        }
        if count == 0 {
            if killCause == nil, result == nil, report.check == nil, decoder.bufferedCount > 0 {
                protocolError(IPCError.closedMidFrame(buffered: decoder.bufferedCount).description)
            }
            return false
        }
        guard killCause == nil || draining else { return true }  // a killed worker's words no longer count
        decoder.append(buffer.prefix(count))
        do {
            while let frame = try decoder.next() {
                handle(try WorkerMessage(frame: frame))
                if case .protocolError = killCause { return false }
            }
        } catch {
            protocolError(error.description)
            return false
        }
        return true
    }

    private func handle(_ message: WorkerMessage) {
        switch message {
        case .ready(let sdkVersion, let buildSignature):
            report.ready = (sdkVersion, buildSignature)
        case .sandbox(let layers):
            guard report.sandbox.isEmpty, report.ready == nil else { return }  // only before the plugin loads
            report.sandbox = layers
            for layer in layers where !layer.enforced { log.host("host: sandbox: \(layer)") }
        case .log(let line):
            log.append(.task, line)
        case .progress(let value):
            report.progress = value
            events.progress(value)
        case .settingsGet(let id, let key):
            reply(id, events.settings(.get(key: key)))
        case .settingsSet(let id, let key, let value):
            reply(id, events.settings(.set(key: key, value: value)))
        case .settingsDelete(let id, let key):
            reply(id, events.settings(.delete(key: key)))
        case .settingsKeys(let id):
            reply(id, events.settings(.keys))
        case .result(let kind, let message):
            guard result == nil else { return }
            result = (kind, message)
            lingerDeadline = clock.now + limits.exitWait
        case .checkResult(let abiVersion, let sdkVersion, let buildSignature, let reports):
            report.check = (abiVersion, sdkVersion, buildSignature, reports)
            lingerDeadline = clock.now + limits.exitWait
        }
    }

    private func reply(_ id: UInt32, _ answer: (status: UInt32, data: [UInt8])) {
        if !send(.reply(requestId: id, status: answer.status, data: answer.data)) {
            protocolError("the worker stopped reading its IPC socket")
        }
    }

    /// Reads what a pipe has; returns whether it is still open (when
    /// draining: whether there may be more to read right now).
    private func readOutput(_ fd: Int32, _ stream: LogStream, draining: Bool = false) -> Bool {
        guard let bytes = FileDescriptorIO.read(fd) else { return !draining }
        if bytes.isEmpty { return false }
        log.appendBytes(stream, bytes)
        return true
    }
}

/// Turns output into bounded log lines: whole lines, cut when too long,
/// dropped (and counted) past the instance's budget.
struct LogCollector {
    let limits: SupervisionLimits
    let sink: (LogLine) -> Void
    private var partial: [LogStream: [UInt8]] = [:]
    private var keptBytes = 0
    private var keptLines = 0
    private var droppedLines = 0
    private var droppedBytes = 0

    init(limits: SupervisionLimits, sink: @escaping (LogLine) -> Void) {
        self.limits = limits
        self.sink = sink
    }

    mutating func host(_ text: String) {
        sink(LogLine(stream: .host, text: text))
    }

    mutating func append(_ stream: LogStream, _ text: String) {
        var text = text
        if text.utf8.count > limits.maxLineBytes {
            let total = text.utf8.count
            text = String(decoding: text.utf8.prefix(limits.maxLineBytes), as: UTF8.self) + " [line cut: \(total) bytes]"
        }
        let size = text.utf8.count
        guard keptLines < limits.maxLogLines, keptBytes + size <= limits.maxLogBytes else {
            droppedLines += 1
            droppedBytes += size
            return
        }
        keptLines += 1
        keptBytes += size
        sink(LogLine(stream: stream, text: text))
    }

    mutating func appendBytes(_ stream: LogStream, _ bytes: [UInt8]) {
        var buffer = partial[stream, default: []]
        buffer.append(contentsOf: bytes)
        while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            append(stream, String(decoding: buffer[..<newline], as: UTF8.self))
            buffer.removeSubrange(...newline)
        }
        if buffer.count > limits.maxLineBytes {
            append(stream, String(decoding: buffer, as: UTF8.self))
            buffer.removeAll()
        }
        partial[stream] = buffer
    }

    mutating func finish() {
        for stream in [LogStream.stdout, .stderr] {
            if let rest = partial[stream], !rest.isEmpty { append(stream, String(decoding: rest, as: UTF8.self)) }
        }
        partial = [:]
        if droppedLines > 0 {
            host(
                "host: log truncated: \(droppedLines) more lines (\(droppedBytes) bytes) dropped; the limit is \(limits.maxLogLines) lines or \(limits.maxLogBytes) bytes per instance"
            )
        }
    }
}
