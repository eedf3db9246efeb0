/// What the host asks a worker to do with one task instance.
package struct StartRequest: Sendable, Equatable {
    /// Absolute path of the plugin library.
    package var libraryPath: String
    /// `Module.Class` for a Swift task; the function's symbol for a C task.
    package var entryPoint: String
    /// The task's manifest name.
    package var taskName: String
    /// The registered task's stable id.
    package var taskId: String
    /// This instance's id.
    package var instanceId: String
    /// The trigger's stable id (the same on every retry).
    package var triggerId: String
    /// 1 for the first run of a trigger.
    package var attempt: UInt32
    /// A `th_trigger_kind` value.
    package var triggerKind: UInt32
    /// Raw push content.
    package var payload: [UInt8]
    /// Push channel id.
    package var channelId: String
    /// Push request headers.
    package var headers: [String: String]
    /// Application trigger arguments.
    package var arguments: [String: String]
    /// What the worker applies to itself before loading the plugin.
    package var sandbox: SandboxPolicy
    /// How to call the C function named by `entryPoint`; `nil` for a Swift task
    /// (the library's `taskhost_plugin_v1` descriptor runs `entryPoint`).
    package var cSignature: CSignature?

    /// Creates a request.
    package init(
        libraryPath: String, entryPoint: String, taskName: String, taskId: String, instanceId: String,
        triggerId: String, attempt: UInt32, triggerKind: UInt32, payload: [UInt8] = [], channelId: String = "",
        headers: [String: String] = [:], arguments: [String: String] = [:], sandbox: SandboxPolicy = SandboxPolicy(),
        cSignature: CSignature? = nil
    ) {
        self.libraryPath = libraryPath
        self.entryPoint = entryPoint
        self.taskName = taskName
        self.taskId = taskId
        self.instanceId = instanceId
        self.triggerId = triggerId
        self.attempt = attempt
        self.triggerKind = triggerKind
        self.payload = payload
        self.channelId = channelId
        self.headers = headers
        self.arguments = arguments
        self.sandbox = sandbox
        self.cSignature = cSignature
    }
}

/// Messages from the host to a worker.
package enum HostMessage: Sendable, Equatable {
    /// Load the library and run one instance.
    case start(StartRequest)
    /// Load the library and check entry points without running anything:
    /// Swift `entryPoints` through the plugin descriptor, C `symbols` with
    /// `dlsym` (a library with C symbols only needs no descriptor).
    case check(libraryPath: String, entryPoints: [String], sandbox: SandboxPolicy = SandboxPolicy(), symbols: [String] = [])
    /// Apply the sandbox, report its layers, and exit (`taskhost doctor`).
    case probe(SandboxPolicy)
    /// Cancel the running instance (a `BackgroundTaskCancellationReason` value).
    case cancel(reason: UInt32)
    /// The answer to a worker's settings request.
    case reply(requestId: UInt32, status: UInt32, data: [UInt8])

    enum Kind: UInt8 {
        case start = 1
        case check
        case cancel
        case reply
        case probe
    }

    /// The message as a frame.
    package var frame: Frame {
        var w = ByteWriter()
        let kind: Kind
        switch self {
        case .start(let r):
            kind = .start
            w.string(r.libraryPath)
            w.string(r.entryPoint)
            w.string(r.taskName)
            w.string(r.taskId)
            w.string(r.instanceId)
            w.string(r.triggerId)
            w.u32(r.attempt)
            w.u32(r.triggerKind)
            w.data(r.payload)
            w.string(r.channelId)
            w.pairs(r.headers)
            w.pairs(r.arguments)
            r.sandbox.encode(into: &w)
            w.string(r.cSignature?.description ?? "")
        case .check(let libraryPath, let entryPoints, let sandbox, let symbols):
            kind = .check
            w.string(libraryPath)
            w.u32(UInt32(entryPoints.count))
            for entryPoint in entryPoints { w.string(entryPoint) }
            sandbox.encode(into: &w)
            w.u32(UInt32(symbols.count))
            for symbol in symbols { w.string(symbol) }
        case .probe(let sandbox):
            kind = .probe
            sandbox.encode(into: &w)
        case .cancel(let reason):
            kind = .cancel
            w.u32(reason)
        case .reply(let requestId, let status, let data):
            kind = .reply
            w.u32(requestId)
            w.u32(status)
            w.data(data)
        }
        return Frame(type: kind.rawValue, payload: w.bytes)
    }

    /// Decodes a frame sent by the host.
    package init(frame: Frame) throws(IPCError) {
        guard let kind = Kind(rawValue: frame.type) else { throw .unknownMessage(frame.type) }
        var r = ByteReader(frame.payload)
        switch kind {
        case .start:
            self = .start(
                StartRequest(
                    libraryPath: try r.string("libraryPath"), entryPoint: try r.string("entryPoint"),
                    taskName: try r.string("taskName"), taskId: try r.string("taskId"),
                    instanceId: try r.string("instanceId"), triggerId: try r.string("triggerId"),
                    attempt: try r.u32("attempt"), triggerKind: try r.u32("triggerKind"),
                    payload: try r.data("payload"), channelId: try r.string("channelId"),
                    headers: try r.pairs("headers"), arguments: try r.pairs("arguments"),
                    sandbox: try SandboxPolicy(from: &r), cSignature: try Self.cSignature(try r.string("cSignature"))))
        case .check:
            let libraryPath = try r.string("libraryPath")
            let count = Int(try r.u32("entryPoints"))
            guard count <= frame.payload.count else { throw .truncated("entryPoints") }
            var entryPoints: [String] = []
            for _ in 0..<count { entryPoints.append(try r.string("entryPoint")) }
            let sandbox = try SandboxPolicy(from: &r)
            let symbolCount = Int(try r.u32("symbols"))
            guard symbolCount <= frame.payload.count else { throw .truncated("symbols") }
            var symbols: [String] = []
            for _ in 0..<symbolCount { symbols.append(try r.string("symbol")) }
            self = .check(libraryPath: libraryPath, entryPoints: entryPoints, sandbox: sandbox, symbols: symbols)
        case .probe:
            self = .probe(try SandboxPolicy(from: &r))
        case .cancel:
            self = .cancel(reason: try r.u32("reason"))
        case .reply:
            self = .reply(requestId: try r.u32("requestId"), status: try r.u32("status"), data: try r.data("data"))
        }
        try r.finish("\(kind)")
    }

    /// A C signature as `start` carries it: empty for a Swift task.
    private static func cSignature(_ text: String) throws(IPCError) -> CSignature? {
        guard !text.isEmpty else { return nil }
        do {
            return try CSignature(parsing: text)
        } catch {
            throw .invalidValue("C signature \"\(text)\": \(error.problem)")
        }
    }
}

/// How an instance ended, as the worker saw it.
package enum RunResultKind: UInt32, Sendable {
    /// `run` returned and every deferral completed.
    case completed = 0
    /// Ended after the host's cancel request.
    case canceled = 1
    /// `run` threw.
    case failed = 2
    /// The library or entry point is unusable; nothing ran.
    case refused = 3
}

/// What the worker learned about one entry point in check mode.
package struct EntryPointReport: Sendable, Equatable {
    /// The entry point checked.
    package var entryPoint: String
    /// A `th_check_result` value.
    package var code: UInt32
    /// The plugin's sentence about it.
    package var message: String

    /// Creates a report.
    package init(entryPoint: String, code: UInt32, message: String) {
        self.entryPoint = entryPoint
        self.code = code
        self.message = message
    }
}

/// Messages from a worker to the host.
package enum WorkerMessage: Sendable, Equatable {
    /// The plugin is loaded and its build matches the host's.
    case ready(sdkVersion: String, buildSignature: String)
    /// A log line (`Debug.writeLine`).
    case log(String)
    /// Progress reported by the task.
    case progress(UInt32)
    /// Read a setting; the host answers with `reply`.
    case settingsGet(requestId: UInt32, key: String)
    /// Write a setting (its encoded value); the host answers with `reply`.
    case settingsSet(requestId: UInt32, key: String, value: [UInt8])
    /// Delete a setting; the host answers with `reply`.
    case settingsDelete(requestId: UInt32, key: String)
    /// List setting names; the host answers with `reply`, names NUL-separated.
    case settingsKeys(requestId: UInt32)
    /// The instance is over.
    case result(RunResultKind, message: String)
    /// Check mode's answer.
    case checkResult(abiVersion: UInt32, sdkVersion: String, buildSignature: String, reports: [EntryPointReport])
    /// The sandbox layers, as applied before the plugin was loaded.
    case sandbox([SandboxLayer])

    enum Kind: UInt8 {
        case ready = 64
        case log
        case progress
        case settingsGet
        case settingsSet
        case settingsDelete
        case settingsKeys
        case result
        case checkResult
        case sandbox
    }

    /// The message as a frame.
    package var frame: Frame {
        var w = ByteWriter()
        let kind: Kind
        switch self {
        case .ready(let sdkVersion, let buildSignature):
            kind = .ready
            w.string(sdkVersion)
            w.string(buildSignature)
        case .log(let line):
            kind = .log
            w.string(line)
        case .progress(let value):
            kind = .progress
            w.u32(value)
        case .settingsGet(let requestId, let key):
            kind = .settingsGet
            w.u32(requestId)
            w.string(key)
        case .settingsSet(let requestId, let key, let value):
            kind = .settingsSet
            w.u32(requestId)
            w.string(key)
            w.data(value)
        case .settingsDelete(let requestId, let key):
            kind = .settingsDelete
            w.u32(requestId)
            w.string(key)
        case .settingsKeys(let requestId):
            kind = .settingsKeys
            w.u32(requestId)
        case .result(let result, let message):
            kind = .result
            w.u32(result.rawValue)
            w.string(message)
        case .checkResult(let abiVersion, let sdkVersion, let buildSignature, let reports):
            kind = .checkResult
            w.u32(abiVersion)
            w.string(sdkVersion)
            w.string(buildSignature)
            w.u32(UInt32(reports.count))
            for report in reports {
                w.string(report.entryPoint)
                w.u32(report.code)
                w.string(report.message)
            }
        case .sandbox(let layers):
            kind = .sandbox
            w.u32(UInt32(layers.count))
            for layer in layers {
                w.string(layer.name)
                w.u8(layer.enforced ? 1 : layer.waived ? 2 : 0)
                w.string(layer.detail)
            }
        }
        return Frame(type: kind.rawValue, payload: w.bytes)
    }

    /// Decodes a frame sent by a worker. Workers run untrusted code: every
    /// field is checked, and anything unexpected is an error, never a crash.
    package init(frame: Frame) throws(IPCError) {
        guard let kind = Kind(rawValue: frame.type) else { throw .unknownMessage(frame.type) }
        var r = ByteReader(frame.payload)
        switch kind {
        case .ready:
            self = .ready(sdkVersion: try r.string("sdkVersion"), buildSignature: try r.string("buildSignature"))
        case .log:
            self = .log(try r.string("line"))
        case .progress:
            self = .progress(try r.u32("progress"))
        case .settingsGet:
            self = .settingsGet(requestId: try r.u32("requestId"), key: try r.string("key"))
        case .settingsSet:
            self = .settingsSet(requestId: try r.u32("requestId"), key: try r.string("key"), value: try r.data("value"))
        case .settingsDelete:
            self = .settingsDelete(requestId: try r.u32("requestId"), key: try r.string("key"))
        case .settingsKeys:
            self = .settingsKeys(requestId: try r.u32("requestId"))
        case .result:
            let raw = try r.u32("result")
            guard let result = RunResultKind(rawValue: raw) else { throw .invalidValue("run result \(raw)") }
            self = .result(result, message: try r.string("message"))
        case .checkResult:
            let abiVersion = try r.u32("abiVersion")
            let sdkVersion = try r.string("sdkVersion")
            let buildSignature = try r.string("buildSignature")
            let count = Int(try r.u32("reports"))
            guard count <= frame.payload.count else { throw .truncated("reports") }
            var reports: [EntryPointReport] = []
            for _ in 0..<count {
                reports.append(
                    EntryPointReport(
                        entryPoint: try r.string("entryPoint"), code: try r.u32("code"), message: try r.string("message")))
            }
            self = .checkResult(abiVersion: abiVersion, sdkVersion: sdkVersion, buildSignature: buildSignature, reports: reports)
        case .sandbox:
            let count = Int(try r.u32("layers"))
            guard count <= frame.payload.count else { throw .truncated("layers") }
            var layers: [SandboxLayer] = []
            for _ in 0..<count {
                let name = try r.string("name")
                let state = try r.u8("enforced")
                layers.append(SandboxLayer(name: name, enforced: state == 1, detail: try r.string("detail"), waived: state == 2))
            }
            self = .sandbox(layers)
        }
        try r.finish("\(kind)")
    }
}
