public import CTaskHostABI

#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: see "A worker without Foundation" in the README
import Glibc
#else
import Foundation
#endif

/// The plugin's C entry point. Every plugin that links BackgroundTaskKit
/// exports it; the worker process finds it with `dlsym` and talks to the
/// plugin only through the descriptor it returns (see `taskhost_abi.h`).
// swift-format-ignore: AlwaysUseLowerCamelCase
// The C ABI's name for the entry point.
@_cdecl("taskhost_plugin_v1")
public func taskhost_plugin_v1() -> UnsafePointer<th_plugin_v1> {
    PluginRuntime.descriptor
}

/// The plugin side of the ABI: resolves task classes, runs one instance, and
/// routes settings, logs and progress to the host's callback table.
enum PluginRuntime {
    nonisolated(unsafe) static let descriptor: UnsafePointer<th_plugin_v1> = {
        let pointer = UnsafeMutablePointer<th_plugin_v1>.allocate(capacity: 1)
        pointer.initialize(
            to: th_plugin_v1(
                abi_version: TH_ABI_VERSION,
                struct_size: UInt32(MemoryLayout<th_plugin_v1>.size),
                sdk_version: UnsafePointer(strdup(BuildInfo.sdkVersion)),
                build_signature: UnsafePointer(strdup(BuildInfo.signature)),
                check_entry_point: { entryPoint, message, capacity in
                    switch TaskClassResolver.resolve(String(entryPoint)) {
                    case .success:
                        PluginRuntime.write("ok", to: message, capacity: capacity)
                        return Int32(TH_CHECK_OK.rawValue)
                    case .failure(let problem):
                        PluginRuntime.write(problem.problem, to: message, capacity: capacity)
                        return Int32(problem.code.rawValue)
                    }
                },
                run: { request, host, message, capacity in
                    guard let request, let host else { return Int32(TH_RUN_REFUSED.rawValue) }
                    let (result, text) = PluginRuntime.run(request.pointee, host: HostConnection(host.pointee))
                    PluginRuntime.write(text, to: message, capacity: capacity)
                    return Int32(result.rawValue)
                },
                cancel: { reason in
                    PluginRuntime.cancel(BackgroundTaskCancellationReason(rawValue: reason) ?? .abort)
                },
                prepare: { entryPoint in
                    PluginRuntime.prepare(String(entryPoint))
                }
            ))
        return UnsafePointer(pointer)
    }()

    /// The instance being run by this process (one per process).
    private static let active = PosixMutex<BackgroundTaskInstance?>(nil)
    /// A cancellation that arrived before the instance existed.
    private static let earlyCancel = PosixMutex<BackgroundTaskCancellationReason?>(nil)

    static func cancel(_ reason: BackgroundTaskCancellationReason) {
        let instance = active.withLock { instance -> BackgroundTaskInstance? in
            if instance == nil { earlyCancel.withLock { $0 = $0 ?? reason } }
            return instance
        }
        instance?.requestCancellation(reason)
    }

    static func run(_ request: th_run_request, host: HostConnection) -> (th_run_result, String) {
        let entryPoint = String(request.entry_point)
        let taskClass: ResolvedTaskClass
        switch TaskClassResolver.resolve(entryPoint) {
        case .success(let resolved): taskClass = resolved
        case .failure(let problem): return (TH_RUN_REFUSED, problem.description)
        }

        let instance = connect(request, host: host)
        active.withLock { $0 = instance }
        if let reason = earlyCancel.withLock({ $0 }) { instance.requestCancellation(reason) }

        var failure: String?
        switch taskClass {
        case .blocking(let type):
            do {
                try type.init().run(instance)
            } catch {
                failure = String(describing: error)
            }
            instance.lifetime.runReturned()
            instance.lifetime.waitUntilFinished()
        case .async(let type):
            let task = UncheckedSendable(type.init())
            let asyncFailure = PosixMutex<String?>(nil)
            let swiftTask = Task.detached {
                do {
                    try await task.value.run(instance)
                } catch is CancellationError where instance.isCanceled {
                    // Ending because the host asked is a cancellation, not a failure.
                } catch {
                    asyncFailure.withLock { $0 = String(describing: error) }
                }
                instance.lifetime.runReturned()
            }
            instance.lifetime.onCancel { _ in swiftTask.cancel() }
            instance.lifetime.waitUntilFinished()
            failure = asyncFailure.withLock { $0 }
        }

        if let message = failure { return (TH_RUN_FAILED, message) }
        if let reason = instance.cancellationReason { return (TH_RUN_CANCELED, reason.description) }
        return (TH_RUN_COMPLETED, "completed")
    }

    /// Routes settings and log lines to `host` and builds the instance `request` describes.
    private static func connect(_ request: th_run_request, host: HostConnection) -> BackgroundTaskInstance {
        ApplicationData.install(HostSettingsStorage(host: host))
        Debug.setSink { host.log($0) }
        return BackgroundTaskInstance(
            instanceId: UUID(uuidString: String(request.instance_id)) ?? UUID(),
            task: BackgroundTaskRegistration(
                name: String(request.task_name),
                taskId: UUID(uuidString: String(request.task_id)) ?? UUID()),
            triggerDetails: triggerDetails(of: request),
            triggerId: String(request.trigger_id),
            attempt: Int(request.attempt),
            progressReporter: { host.progress($0) })
    }

    /// The descriptor's `prepare`: in a zygote, before it forks, goes through
    /// what ``run(_:host:)`` does for an instance of `entryPoint` except
    /// constructing and running the task (no task code, no thread), then puts
    /// the process-wide state back. Each forked child then finds Swift's
    /// runtime caches warm instead of filling them on its way to `run`.
    static func prepare(_ entryPoint: String) {
        _ = TaskClassResolver.resolve(entryPoint)
        let nowhere = HostConnection(
            th_host_api(
                struct_size: UInt32(MemoryLayout<th_host_api>.size), context: nil, log: nil, progress: nil, settings_get: nil,
                settings_set: nil, settings_delete: nil, settings_keys: nil))
        // Replacing the storage releases the previous one: a child releases the
        // default (in-memory) storage when `run` installs the host's.
        let storage = ApplicationData.install(InMemorySettingsStorage(["rehearsal": .bool(true)]))
        ApplicationData.install(HostSettingsStorage(host: nowhere))
        let sink = Debug.setSink(nil)
        defer {
            ApplicationData.install(storage)
            Debug.setSink(sink)
        }
        let id = Array("00000000-0000-0000-0000-000000000000".utf8)
        id.withUnsafeBufferPointer { id in
            for kind in [TH_TRIGGER_PUSH_NOTIFICATION, TH_TRIGGER_APPLICATION, TH_TRIGGER_TIME, TH_TRIGGER_WEB_PUSH] {
                let request = th_run_request(
                    struct_size: UInt32(MemoryLayout<th_run_request>.size), entry_point: th_bytes(id), task_name: th_bytes(id),
                    task_id: th_bytes(id), instance_id: th_bytes(id), trigger_id: th_bytes(id), attempt: 1, trigger_kind: kind.rawValue,
                    payload: th_bytes(id), channel_id: th_bytes(id), headers: nil, header_count: 0, arguments: nil, argument_count: 0)
                let instance = connect(request, host: nowhere)
                Debug.writeLine("")
                _ = instance.triggerDetails
                _ = active.withLock { $0 }
                _ = earlyCancel.withLock { $0 }
                instance.lifetime.runReturned()
                instance.lifetime.waitUntilFinished()
                _ = instance.cancellationReason
            }
        }
    }

    private static func triggerDetails(of request: th_run_request) -> (any TriggerDetails)? {
        switch th_trigger_kind(rawValue: request.trigger_kind) {
        case TH_TRIGGER_PUSH_NOTIFICATION:
            return RawNotification(
                contentBytes: Array(UnsafeBufferPointer(request.payload)),
                channelId: String(request.channel_id),
                headers: dictionary(request.headers, count: request.header_count))
        case TH_TRIGGER_APPLICATION:
            return ApplicationTriggerDetails(arguments: dictionary(request.arguments, count: request.argument_count))
        case TH_TRIGGER_TIME:
            return TimeTriggerDetails()
        case TH_TRIGGER_WEB_PUSH:
            let headers = dictionary(request.headers, count: request.header_count)
            return WebPushNotification(
                contentBytes: Array(UnsafeBufferPointer(request.payload)), subscriptionId: String(request.channel_id),
                topic: headers["topic"], urgency: headers["urgency"] ?? "normal")
        default:
            return nil
        }
    }

    private static func dictionary(_ pairs: UnsafePointer<th_pair>?, count: Int) -> [String: String] {
        guard let pairs else { return [:] }
        var result: [String: String] = [:]
        for pair in UnsafeBufferPointer(start: pairs, count: count) {
            result[String(pair.name)] = String(pair.value)
        }
        return result
    }

    static func write(_ text: String, to buffer: UnsafeMutablePointer<CChar>?, capacity: Int) {
        guard let buffer, capacity > 0 else { return }
        let bytes = Array(text.utf8.prefix(capacity - 1))
        for (index, byte) in bytes.enumerated() { buffer[index] = CChar(bitPattern: byte) }
        buffer[bytes.count] = 0
    }
}

/// A value that is only touched by one task at a time, by construction.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The host's callback table, callable from any thread (the host promises it).
struct HostConnection: @unchecked Sendable {
    let api: th_host_api

    init(_ api: th_host_api) { self.api = api }

    func log(_ line: String) {
        Array(line.utf8).withUnsafeBufferPointer { api.log?(api.context, th_bytes($0)) }
    }

    func progress(_ value: UInt32) {
        api.progress?(api.context, value)
    }
}

/// Settings that live in the host's store, reached through the callback table.
struct HostSettingsStorage: SettingsStorage {
    let host: HostConnection

    private func check(_ status: Int32) throws(SettingsError) {
        switch th_status(rawValue: UInt32(bitPattern: status)) {
        case TH_OK: return
        case TH_INVALID_ARGUMENT: throw .rejected("the value breaks the host's limits")
        default: throw .hostUnavailable
        }
    }

    func value(forKey key: String) throws(SettingsError) -> SettingValue? {
        guard let get = host.api.settings_get else { throw .hostUnavailable }
        let keyBytes = Array(key.utf8)
        var capacity = SettingLimits.maxValueSize + 64
        while true {
            var buffer = [UInt8](repeating: 0, count: capacity)
            var length = 0
            let status = keyBytes.withUnsafeBufferPointer { key in
                buffer.withUnsafeMutableBufferPointer { out in
                    get(host.api.context, th_bytes(key), out.baseAddress, out.count, &length)
                }
            }
            if status == Int32(TH_NOT_FOUND.rawValue) { return nil }
            if status == Int32(TH_BUFFER_TOO_SMALL.rawValue), length > capacity {
                capacity = length
                continue
            }
            try check(status)
            return try SettingValue(encoded: buffer.prefix(length))
        }
    }

    func setValue(_ value: SettingValue, forKey key: String) throws(SettingsError) {
        guard let set = host.api.settings_set else { throw .hostUnavailable }
        let status = Array(key.utf8).withUnsafeBufferPointer { key in
            value.encoded().withUnsafeBufferPointer { set(host.api.context, th_bytes(key), th_bytes($0)) }
        }
        try check(status)
    }

    func removeValue(forKey key: String) throws(SettingsError) -> Bool {
        guard let delete = host.api.settings_delete else { throw .hostUnavailable }
        let status = Array(key.utf8).withUnsafeBufferPointer { delete(host.api.context, th_bytes($0)) }
        if status == Int32(TH_NOT_FOUND.rawValue) { return false }
        try check(status)
        return true
    }

    func keys() throws(SettingsError) -> [String] {
        guard let list = host.api.settings_keys else { throw .hostUnavailable }
        var capacity = 64 * 1024
        while true {
            var buffer = [UInt8](repeating: 0, count: capacity)
            var length = 0
            let status = buffer.withUnsafeMutableBufferPointer { list(host.api.context, $0.baseAddress, $0.count, &length) }
            if status == Int32(TH_BUFFER_TOO_SMALL.rawValue), length > capacity {
                capacity = length
                continue
            }
            try check(status)
            return buffer.prefix(length).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        }
    }
}

extension th_bytes {
    init(_ buffer: UnsafeBufferPointer<UInt8>) {
        self.init(data: buffer.baseAddress, length: buffer.count)
    }
}

extension UnsafeBufferPointer<UInt8> {
    init(_ bytes: th_bytes) {
        self.init(start: bytes.data, count: bytes.data == nil ? 0 : bytes.length)
    }
}

extension String {
    init(_ bytes: th_bytes) {
        self.init(decoding: UnsafeBufferPointer(bytes), as: UTF8.self)
    }
}
