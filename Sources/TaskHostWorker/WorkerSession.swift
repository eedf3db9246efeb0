import CTaskHostABI
import Dispatch
import FoundationEssentials
import Glibc
import Synchronization
import TaskHostIPC

/// The worker's end of the IPC socket: serialized writes, and settings
/// requests that wait for the host's reply while a reader thread handles
/// cancel requests and sends the progress the coalescer held back.
///
/// Its locks are ``PosixMutex``es, not Synchronization's `Mutex`: the main
/// thread of a worker forked from a zygote must not contend for a `Mutex`
/// with another thread (see ``PosixMutex``). Atomics are fine.
final class WorkerSession: Sendable {
    /// Log lines longer than this are cut, with a marker.
    static let maxLogLine = 16 * 1024
    /// Encoded setting values longer than this are refused before they are sent.
    static let maxSettingValue = 128 * 1024
    /// The least time between two progress frames; the last value always goes out.
    static let progressInterval: Duration = .milliseconds(100)
    /// The longest the reader thread waits in `poll` between two looks at its IPC socket.
    static let readerPollMilliseconds: Int32 = 250

    let fd: Int32
    private let writeLock = PosixMutex<Void>(())
    private let pending = PosixMutex<[UInt32: PendingReply]>([:])
    /// Progress frames, at most one per ``progressInterval``; held values are
    /// sent by the reader thread when due, or before the result.
    private let progress = PosixMutex(ProgressCoalescer(interval: WorkerSession.progressInterval))
    private let nextRequestId = Atomic<UInt32>(1)
    private let reading = Atomic<Bool>(false)
    /// How ``startReading(decoder:)`` passes its decoder to a prestarted reader.
    private let readerHandOff = ReaderHandOff()

    private final class ReaderHandOff: Sendable {
        let ready = DispatchSemaphore(value: 0)
        let handed = Atomic<Bool>(false)
        let decoder = PosixMutex(FrameDecoder())
    }
    /// Where cancel requests go, and one that came before anyone listened.
    private let cancellation = PosixMutex<(handler: (@Sendable (UInt32) -> Void)?, pending: UInt32?)>((nil, nil))

    final class PendingReply: Sendable {
        let semaphore = DispatchSemaphore(value: 0)
        let reply = PosixMutex<(status: UInt32, data: [UInt8])?>(nil)
    }

    init(fd: Int32) { self.fd = fd }

    /// Sends a message; a host that is gone ends the worker. A held progress
    /// value goes out before the result, so the host records the last one.
    func send(_ message: WorkerMessage) {
        if case .result = message { flushProgress() }
        let ok = writeLock.withLock { _ in FileDescriptorIO.writeAll(fd, message.frame.encoded) }
        if !ok { Worker.exitBecauseHostIsGone() }
    }

    /// Reports the task's progress: sent now, or held until
    /// ``progressInterval`` after the previous frame (a newer value replaces
    /// a held one). Called on any of the plugin's threads.
    func reportProgress(_ value: UInt32) {
        progress.withLock { coalescer in
            // Sent under the progress lock, so that frames go out in the order of their values.
            if let value = coalescer.offer(value, at: .now) { send(.progress(value)) }
        }
    }

    /// Sends the held progress value if it is due; returns how long until
    /// the next one is (milliseconds), or `nil` when none is held. The
    /// reader thread calls it between two looks at its IPC socket.
    func sendDueProgress() -> Int32? {
        progress.withLock { coalescer -> Int32? in
            let now = ContinuousClock.now
            if let value = coalescer.due(at: now) { send(.progress(value)) }
            guard let deadline = coalescer.deadline else { return nil }
            let (seconds, attoseconds) = (deadline - now).components
            return Int32(clamping: max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1))
        }
    }

    /// Sends the held progress value now (the instance is over).
    private func flushProgress() {
        progress.withLock { coalescer in
            if let value = coalescer.flush(at: .now) { send(.progress(value)) }
        }
    }

    /// Sends a request built with a fresh id and waits for its reply.
    func request(_ make: (UInt32) -> WorkerMessage) -> (status: UInt32, data: [UInt8]) {
        let id = nextRequestId.wrappingAdd(1, ordering: .relaxed).oldValue
        let waiter = PendingReply()
        pending.withLock { $0[id] = waiter }
        send(make(id))
        waiter.semaphore.wait()
        return waiter.reply.withLock { $0 } ?? (TH_HOST_UNAVAILABLE.rawValue, [])
    }

    /// Starts, once, the thread that reads the host's replies and cancel
    /// requests. Start it before the instance's process limit applies: a
    /// sandbox user at its limit cannot start threads, and without this one
    /// no settings request would ever get its reply.
    func startReading(decoder: FrameDecoder) {
        guard !reading.exchange(true, ordering: .relaxed) else {
            // A prestarted reader takes the first decoder it is handed, once.
            guard !readerHandOff.handed.exchange(true, ordering: .relaxed) else { return }
            readerHandOff.decoder.withLock { $0 = decoder }
            readerHandOff.ready.signal()
            return
        }
        detachThread {
            self.readLoop(decoder: decoder) { reason in self.deliverCancel(reason) }
        }
    }

    /// For a worker forked by a zygote: starts the reader thread now, while
    /// the worker waits for its instance (a spare waits long before it is
    /// needed), so that starting a thread is not on the way from trigger to
    /// `run`. The thread reads nothing until ``startReading(decoder:)`` hands
    /// it what came with the first message: the main thread reads that one
    /// itself, so the host's start message wakes one thread, not two.
    func prestartReader() {
        guard !reading.exchange(true, ordering: .relaxed) else { return }
        let handOff = readerHandOff
        detachThread {
            handOff.ready.wait()
            let decoder = handOff.decoder.withLock { $0 }
            self.readLoop(decoder: decoder) { reason in self.deliverCancel(reason) }
        }
    }

    /// Sends cancel requests to `handler`; one that came earlier is delivered now.
    func onCancel(_ handler: @escaping @Sendable (UInt32) -> Void) {
        let pending = cancellation.withLock { state -> UInt32? in
            state.handler = handler
            defer { state.pending = nil }
            return state.pending
        }
        if let pending { handler(pending) }
    }

    private func deliverCancel(_ reason: UInt32) {
        let handler = cancellation.withLock { state -> (@Sendable (UInt32) -> Void)? in
            if state.handler == nil, state.pending == nil { state.pending = reason }
            return state.handler
        }
        handler?(reason)
    }

    /// Reads host messages until the IPC socket closes (then the worker exits).
    /// `decoder` holds whatever arrived with the first message (a cancel
    /// request can follow the start request in the same read).
    ///
    /// It polls with a timeout instead of blocking in `read`: a plugin that
    /// closes descriptor 3 from another thread would not interrupt a blocked
    /// `read`, but the next `poll` reports the descriptor invalid.
    func readLoop(decoder: FrameDecoder, onCancel: @Sendable (UInt32) -> Void) {
        var decoder = decoder
        while true {
            do {
                while let frame = try decoder.next() { handle(frame, onCancel: onCancel) }
            } catch {
                Worker.exitBecauseHostIsGone()
            }
            // Progress held back goes out when due, even while the host says nothing.
            let timeout = min(WorkerSession.readerPollMilliseconds, sendDueProgress() ?? WorkerSession.readerPollMilliseconds)
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, timeout)
            if ready == 0 || (ready < 0 && errno == EINTR) { continue }
            if ready < 0 || descriptor.revents & Int16(POLLNVAL) != 0 { Worker.exitBecauseHostIsGone() }
            guard let bytes = FileDescriptorIO.read(fd), !bytes.isEmpty else { Worker.exitBecauseHostIsGone() }
            decoder.append(bytes)
        }
    }

    private func handle(_ frame: Frame, onCancel: @Sendable (UInt32) -> Void) {
        switch try? HostMessage(frame: frame) {
        case .cancel(let reason):
            onCancel(reason)
        case .reply(let requestId, let status, let data):
            if let waiter = pending.withLock({ $0.removeValue(forKey: requestId) }) {
                waiter.reply.withLock { $0 = (status, data) }
                waiter.semaphore.signal()
            }
        default:
            break
        }
    }

    /// Sends one log line of the task (UTF-8, cut at ``maxLogLine`` bytes with a marker).
    func log(_ line: UnsafeBufferPointer<UInt8>) {
        var text = String(decoding: line, as: UTF8.self)
        if text.utf8.count > WorkerSession.maxLogLine {
            text =
                String(decoding: text.utf8.prefix(WorkerSession.maxLogLine), as: UTF8.self)
                + " [line truncated: \(line.count) bytes]"
        }
        send(.log(text))
    }

    /// Logs why the worker refused a request of the plugin's (prefixed
    /// `taskhost:`, so that it reads as the host's word, not the task's).
    func log(refusal: String) {
        send(.log("taskhost: " + refusal))
    }

    // MARK: - The host callback table handed to the plugin

    func makeHostAPI() -> th_host_api {
        th_host_api(
            struct_size: UInt32(MemoryLayout<th_host_api>.size),
            context: Unmanaged.passRetained(self).toOpaque(),
            log: { context, line in
                WorkerSession.from(context).log(UnsafeBufferPointer(start: line.data, count: line.data == nil ? 0 : line.length))
            },
            progress: { context, value in
                WorkerSession.from(context).reportProgress(value)
            },
            settings_get: { context, key, buffer, capacity, outLength in
                let reply = WorkerSession.from(context).request { .settingsGet(requestId: $0, key: String(key)) }
                return WorkerSession.copy(reply, into: buffer, capacity: capacity, length: outLength)
            },
            settings_set: { context, key, value in
                guard value.length <= WorkerSession.maxSettingValue else { return Int32(TH_INVALID_ARGUMENT.rawValue) }
                let bytes = Array(UnsafeBufferPointer(start: value.data, count: value.data == nil ? 0 : value.length))
                let reply = WorkerSession.from(context).request {
                    .settingsSet(requestId: $0, key: String(key), value: bytes)
                }
                return Int32(bitPattern: reply.status)
            },
            settings_delete: { context, key in
                let reply = WorkerSession.from(context).request { .settingsDelete(requestId: $0, key: String(key)) }
                return Int32(bitPattern: reply.status)
            },
            settings_keys: { context, buffer, capacity, outLength in
                let reply = WorkerSession.from(context).request { .settingsKeys(requestId: $0) }
                return WorkerSession.copy(reply, into: buffer, capacity: capacity, length: outLength)
            })
    }

    private static func from(_ context: UnsafeMutableRawPointer?) -> WorkerSession {
        Unmanaged<WorkerSession>.fromOpaque(context!).takeUnretainedValue()
    }

    private static func copy(
        _ reply: (status: UInt32, data: [UInt8]), into buffer: UnsafeMutablePointer<UInt8>?, capacity: Int,
        length: UnsafeMutablePointer<Int>?
    ) -> Int32 {
        guard reply.status == TH_OK.rawValue else { return Int32(bitPattern: reply.status) }
        length?.pointee = reply.data.count
        guard reply.data.count <= capacity, let buffer else { return Int32(TH_BUFFER_TOO_SMALL.rawValue) }
        if !reply.data.isEmpty {
            reply.data.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: $0.count) }
        }
        return Int32(TH_OK.rawValue)
    }
}

extension String {
    init(_ bytes: th_bytes) {
        self.init(decoding: UnsafeBufferPointer(start: bytes.data, count: bytes.data == nil ? 0 : bytes.length), as: UTF8.self)
    }
}
