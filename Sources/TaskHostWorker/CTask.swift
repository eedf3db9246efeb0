import CFFI
import CTaskHostABI
import FoundationEssentials
import Glibc
import Synchronization
import TaskHostIPC

/// Runs a C task (`"Abi": "c"`): a plain function exported by the library,
/// called through libffi with the parameters its manifest `Signature` lists,
/// and handed a `th_c_host` table whose callbacks are libffi closures bound to
/// this instance (see `taskhost_c_task.h`).
enum CTask {
    /// Calls `request.entryPoint` in the loaded library, reports the result and exits.
    static func run(
        handle: UnsafeMutableRawPointer, path: String, signature: CSignature, request: StartRequest, session: WorkerSession,
        pending: FrameDecoder
    ) -> Never {
        let symbol = request.entryPoint
        guard let function = dlsym(handle, symbol) else { Worker.refuse(session, "symbol \"\(symbol)\" " + notFound(path: path)) }
        session.send(.ready(sdkVersion: "", buildSignature: "abi=c"))

        // Cancellation is cooperative: the reader thread raises a flag that
        // host->is_canceled() reports; the host kills the process after the grace period.
        let state = CTaskState(session: session)
        session.startReading(decoder: pending)
        session.onCancel { reason in state.cancel(reason) }
        let host: UnsafeMutablePointer<th_c_host>
        do {
            host = try HostTable.make(state)
        } catch {
            Worker.refuse(session, error.description)
        }
        let instance = makeInstance(request)
        let payload = Worker.pin(request.payload)

        let code: Int32
        do {
            code = try call(function, signature: signature, instance: instance, host: UnsafePointer(host), payload: payload)
        } catch {
            Worker.refuse(session, "cannot call \(symbol) as \(signature): \(error.description)")
        }
        if state.isCanceled {
            session.send(.result(.canceled, message: ""))
        } else if code == 0 {
            session.send(.result(.completed, message: ""))
        } else {
            session.send(.result(.failed, message: "\(symbol) returned \(code)"))
        }
        Worker.finish(0)
    }

    /// What is wrong with a symbol the library does not export, and what to do.
    static func notFound(path: String) -> String {
        "not found in \(path.split(separator: "/").last.map(String.init) ?? path); export it from the library "
            + "(a C function that is not static and has default visibility, e.g. with TH_C_TASK_EXPORT; "
            + "#[no_mangle] pub extern \"C\" fn in Rust; export fn in Zig)"
    }

    /// The `th_c_instance` for `request`, in memory that lives as long as the process.
    static func makeInstance(_ request: StartRequest) -> UnsafePointer<th_c_instance> {
        let headers = PinnedPairs(request.headers)
        let arguments = PinnedPairs(request.arguments)
        let instance = UnsafeMutablePointer<th_c_instance>.allocate(capacity: 1)
        instance.initialize(
            to: th_c_instance(
                struct_size: UInt32(MemoryLayout<th_c_instance>.size), attempt: request.attempt, trigger_kind: request.triggerKind,
                task_name: Worker.pin(request.taskName), task_id: Worker.pin(request.taskId),
                instance_id: Worker.pin(request.instanceId), trigger_id: Worker.pin(request.triggerId),
                payload: Worker.pin(request.payload), channel_id: Worker.pin(request.channelId),
                headers: headers.pointer, header_count: headers.count,
                arguments: arguments.pointer, argument_count: arguments.count))
        return UnsafePointer(instance)
    }

    /// Calls `function` with the C arguments `signature` lists; its result
    /// (0 for a `void` function).
    static func call(
        _ function: UnsafeMutableRawPointer, signature: CSignature, instance: UnsafePointer<th_c_instance>,
        host: UnsafePointer<th_c_host>, payload: th_bytes
    ) throws(FFIError) -> Int32 {
        var types: [UnsafeMutablePointer<ffi_type>?] = []
        var values: [UnsafeMutableRawPointer?] = []
        func argument<T>(_ type: UnsafeMutablePointer<ffi_type>, _ value: T) {
            let slot = UnsafeMutableRawPointer.allocate(byteCount: max(MemoryLayout<T>.size, 8), alignment: 8)
            slot.storeBytes(of: value, as: T.self)
            types.append(type)
            values.append(slot)
        }
        for parameter in signature.parameters {
            switch parameter {
            case .instance: argument(cffi_pointer(), instance)
            case .host: argument(cffi_pointer(), host)
            case .payload:
                argument(cffi_pointer(), payload.data)
                argument(cffi_size_t(), UInt(payload.length))
            }
        }
        let returnType = signature.returnType == .int32 ? cffi_sint32()! : cffi_void()!
        let cif = try FFIError.prepare(returnType: returnType, arguments: types)
        var result: ffi_sarg = 0
        values.withUnsafeMutableBufferPointer { values in
            ffi_call(cif, unsafeBitCast(function, to: (@convention(c) () -> Void).self), &result, values.baseAddress)
        }
        return signature.returnType == .int32 ? Int32(truncatingIfNeeded: result) : 0
    }
}

/// What the callbacks of one running C task share.
final class CTaskState: Sendable {
    let session: WorkerSession
    /// 0 until canceled, then the reason + 1.
    private let canceled = Atomic<UInt32>(0)

    init(session: WorkerSession) { self.session = session }

    func cancel(_ reason: UInt32) {
        _ = canceled.compareExchange(expected: 0, desired: reason &+ 1, ordering: .sequentiallyConsistent)
    }

    var isCanceled: Bool { canceled.load(ordering: .sequentiallyConsistent) != 0 }
}

/// libffi refused to prepare a call or a closure.
struct FFIError: Error, CustomStringConvertible {
    var description: String

    /// A call interface, in memory that lives as long as the process (closures keep using it).
    static func prepare(
        returnType: UnsafeMutablePointer<ffi_type>, arguments: [UnsafeMutablePointer<ffi_type>?]
    ) throws(FFIError) -> UnsafeMutablePointer<ffi_cif> {
        let types = UnsafeMutablePointer<UnsafeMutablePointer<ffi_type>?>.allocate(capacity: max(arguments.count, 1))
        types.initialize(from: arguments, count: arguments.count)
        let cif = UnsafeMutablePointer<ffi_cif>.allocate(capacity: 1)
        let status = ffi_prep_cif(cif, cffi_default_abi(), UInt32(arguments.count), returnType, types)
        guard status == FFI_OK else { throw FFIError(description: "ffi_prep_cif failed (status \(status.rawValue))") }
        return cif
    }
}

/// The `th_c_host` table: one libffi closure per callback, each bound to the
/// instance's state through its user data, so C code calls plain functions.
enum HostTable {
    /// The callbacks, in table order.
    enum Callback: CaseIterable {
        case log, progress, settingsGet, settingsSet, settingsDelete
        case settingsGetString, settingsSetString, settingsGetInt64, settingsSetInt64, isCanceled

        /// The C signature: return type and parameter types.
        var types: (UnsafeMutablePointer<ffi_type>, [UnsafeMutablePointer<ffi_type>?]) {
            let pointer = cffi_pointer()!
            let size = cffi_size_t()!
            let int32 = cffi_sint32()!
            switch self {
            case .log: return (cffi_void(), [pointer, size])
            case .progress: return (cffi_void(), [cffi_uint32()])
            case .settingsGet, .settingsGetString: return (int32, [pointer, size, pointer, size, pointer])
            case .settingsSet, .settingsSetString: return (int32, [pointer, size, pointer, size])
            case .settingsDelete: return (int32, [pointer, size])
            case .settingsGetInt64: return (int32, [pointer, size, pointer])
            case .settingsSetInt64: return (int32, [pointer, size, cffi_sint64()])
            case .isCanceled: return (int32, [])
            }
        }
    }

    /// What a closure's user data points to.
    final class Binding: Sendable {
        let state: CTaskState
        let callback: Callback
        init(state: CTaskState, callback: Callback) {
            self.state = state
            self.callback = callback
        }
    }

    /// Builds the table. The closures and the table live as long as the process.
    static func make(_ state: CTaskState) throws(FFIError) -> UnsafeMutablePointer<th_c_host> {
        var code: [Callback: UnsafeMutableRawPointer] = [:]
        for callback in Callback.allCases {
            let (returnType, arguments) = callback.types
            let cif = try FFIError.prepare(returnType: returnType, arguments: arguments)
            var executable: UnsafeMutableRawPointer?
            guard let closure = ffi_closure_alloc(cffi_closure_size(), &executable), let executable else {
                throw FFIError(description: "cannot allocate a libffi closure for the host callbacks (ffi_closure_alloc failed)")
            }
            let binding = Unmanaged.passRetained(Binding(state: state, callback: callback)).toOpaque()
            let status = ffi_prep_closure_loc(
                closure.assumingMemoryBound(to: ffi_closure.self), cif,
                { _, result, arguments, userData in
                    let binding = Unmanaged<Binding>.fromOpaque(userData!).takeUnretainedValue()
                    HostTable.invoke(binding, result: result, arguments: Arguments(raw: arguments!))
                },
                binding, executable)
            guard status == FFI_OK else {
                throw FFIError(description: "ffi_prep_closure_loc failed for the host callbacks (status \(status.rawValue))")
            }
            code[callback] = executable
        }
        func function<F>(_ callback: Callback) -> F { unsafeBitCast(code[callback]!, to: F.self) }
        let table = UnsafeMutablePointer<th_c_host>.allocate(capacity: 1)
        table.initialize(
            to: th_c_host(
                struct_size: UInt32(MemoryLayout<th_c_host>.size),
                log: function(.log), progress: function(.progress),
                settings_get: function(.settingsGet), settings_set: function(.settingsSet),
                settings_delete: function(.settingsDelete),
                settings_get_string: function(.settingsGetString), settings_set_string: function(.settingsSetString),
                settings_get_int64: function(.settingsGetInt64), settings_set_int64: function(.settingsSetInt64),
                is_canceled: function(.isCanceled)))
        return table
    }

    /// The arguments libffi hands a closure: pointers to each argument's value.
    struct Arguments {
        let raw: UnsafeMutablePointer<UnsafeMutableRawPointer?>

        func pointer<T>(_ index: Int, to: T.Type) -> UnsafeMutablePointer<T>? {
            raw[index]!.load(as: UnsafeMutablePointer<T>?.self)
        }
        func size(_ index: Int) -> Int { Int(bitPattern: raw[index]!.load(as: UInt.self)) }
        func uint32(_ index: Int) -> UInt32 { raw[index]!.load(as: UInt32.self) }
        func int64(_ index: Int) -> Int64 { raw[index]!.load(as: Int64.self) }

        /// The bytes at `index` whose length is at `index + 1`; `nil` for a NULL pointer with a length.
        func bytes(_ index: Int) -> UnsafeBufferPointer<UInt8>? {
            let length = size(index + 1)
            guard let data = pointer(index, to: UInt8.self) else { return length == 0 ? UnsafeBufferPointer(start: nil, count: 0) : nil }
            return UnsafeBufferPointer(start: data, count: length)
        }

        /// A setting name: UTF-8, 1 to 255 bytes (the host checks it again).
        func key(_ index: Int) -> String? {
            guard let bytes = bytes(index), (1...255).contains(bytes.count) else { return nil }
            return String(validating: bytes, as: UTF8.self)
        }
    }

    /// SettingValue's encoding, for the typed accessors (the worker does not link BackgroundTaskKit).
    enum Encoding {
        static let string: UInt8 = 1
        static let int: UInt8 = 2
    }

    static func invoke(_ binding: Binding, result: UnsafeMutableRawPointer?, arguments: Arguments) {
        let session = binding.state.session
        func request(_ make: (UInt32) -> WorkerMessage) -> (status: UInt32, data: [UInt8]) { session.request(make) }
        /// Sets the setting named by argument 0; a write refused here says why in the
        /// instance's log, as the host's own refusals (and the Swift SDK's) do.
        func set(_ value: [UInt8]) -> Int32 {
            guard let key = arguments.key(0) else {
                let length = arguments.bytes(0)?.count ?? 0
                session.log(refusal: "refused a setting whose name is \(length) bytes: a name is 1 to 255 bytes of UTF-8")
                return Int32(TH_INVALID_ARGUMENT.rawValue)
            }
            guard value.count <= WorkerSession.maxSettingValue else {
                session.log(
                    refusal:
                        "refused setting \"\(key.prefix(80))\": its value is \(value.count) bytes; the limit is \(WorkerSession.maxSettingValue) bytes (store larger data in a file, or split it)"
                )
                return Int32(TH_INVALID_ARGUMENT.rawValue)
            }
            return Int32(bitPattern: request { .settingsSet(requestId: $0, key: key, value: value) }.status)
        }
        func get(_ key: String?) -> (status: Int32, data: [UInt8]) {
            guard let key else { return (Int32(TH_INVALID_ARGUMENT.rawValue), []) }
            let reply = request { .settingsGet(requestId: $0, key: key) }
            return (Int32(bitPattern: reply.status), reply.data)
        }
        /// Copies `bytes` (and a NUL when `terminate`) into the caller's buffer.
        func copy(_ bytes: ArraySlice<UInt8>, buffer: Int, terminate: Bool) -> Int32 {
            arguments.pointer(buffer + 2, to: Int.self)?.pointee = bytes.count
            let capacity = arguments.size(buffer + 1)
            guard let target = arguments.pointer(buffer, to: UInt8.self), capacity >= bytes.count + (terminate ? 1 : 0) else {
                return Int32(TH_BUFFER_TOO_SMALL.rawValue)
            }
            bytes.withUnsafeBufferPointer { target.update(from: $0.baseAddress!, count: $0.count) }
            if terminate { target[bytes.count] = 0 }
            return Int32(TH_OK.rawValue)
        }

        let status: Int32
        switch binding.callback {
        case .log:
            session.log(arguments.bytes(0) ?? UnsafeBufferPointer(start: nil, count: 0))
            return
        case .progress:
            session.reportProgress(arguments.uint32(0))
            return
        case .settingsGet:
            let reply = get(arguments.key(0))
            status = reply.status == TH_OK.rawValue ? copy(reply.data[...], buffer: 2, terminate: false) : reply.status
        case .settingsSet:
            status = arguments.bytes(2).map { set(Array($0)) } ?? Int32(TH_INVALID_ARGUMENT.rawValue)
        case .settingsDelete:
            if let key = arguments.key(0) {
                status = Int32(bitPattern: request { .settingsDelete(requestId: $0, key: key) }.status)
            } else {
                status = Int32(TH_INVALID_ARGUMENT.rawValue)
            }
        case .settingsGetString:
            let reply = get(arguments.key(0))
            if reply.status != TH_OK.rawValue {
                status = reply.status
            } else if reply.data.first != Encoding.string {
                status = Int32(TH_WRONG_TYPE.rawValue)
            } else {
                status = copy(reply.data.dropFirst(), buffer: 2, terminate: true)
            }
        case .settingsSetString:
            status =
                arguments.bytes(2).map { set([Encoding.string] + Array($0)) }
                ?? Int32(TH_INVALID_ARGUMENT.rawValue)
        case .settingsGetInt64:
            let reply = get(arguments.key(0))
            if reply.status != TH_OK.rawValue {
                status = reply.status
            } else if reply.data.count != 9 || reply.data[0] != Encoding.int {
                status = Int32(TH_WRONG_TYPE.rawValue)
            } else if let out = arguments.pointer(2, to: Int64.self) {
                out.pointee = reply.data.dropFirst().reversed().reduce(0) { $0 << 8 | Int64($1) }
                status = Int32(TH_OK.rawValue)
            } else {
                status = Int32(TH_INVALID_ARGUMENT.rawValue)
            }
        case .settingsSetInt64:
            var value = arguments.int64(2).littleEndian
            let bytes = withUnsafeBytes(of: &value) { Array($0) }
            status = set([Encoding.int] + bytes)
        case .isCanceled:
            status = binding.state.isCanceled ? 1 : 0
        }
        // libffi widens integer results to a full register (ffi_arg).
        result?.storeBytes(of: ffi_sarg(status), as: ffi_sarg.self)
    }
}
