import Foundation
import TaskHostIPC

/// Walks the JSON tree and collects every problem instead of stopping at the first.
struct ManifestValidator {
    var problems: [ManifestProblem] = []
    /// Whether tasks with invalid JSON were left out (an empty task list is then no problem of its own).
    var skippedTasks = false

    static let maxTimeLimitSeconds = 24.0 * 3600
    static let maxGraceSeconds = 300.0

    mutating func report(_ message: String, at position: SourcePosition?, task: String? = nil) {
        problems.append(ManifestProblem(position: position, task: task, message: message))
    }

    /// The members of an object node, after reporting unknown and missing fields.
    /// `listed`, when given, is every known field in the order messages list them.
    mutating func object(
        _ node: JSONNode, what: String, required: [String], optional: [String], listed: [String]? = nil, task: String? = nil
    ) -> [String: JSONNode]? {
        guard case .object(let members) = node.value else {
            report("\(what) must be an object, found \(node.value.typeName)", at: node.position, task: task)
            return nil
        }
        let known = listed ?? required + optional
        var fields: [String: JSONNode] = [:]
        for member in members {
            if known.contains(member.key) {
                fields[member.key] = member.node
            } else {
                let hint = Self.closest(to: member.key, in: known).map { " (did you mean \"\($0)\"?)" } ?? ""
                report(
                    "unknown field \"\(member.key)\" in \(what)\(hint); known fields: \(known.joined(separator: ", "))",
                    at: member.keyPosition, task: task)
            }
        }
        for name in required where fields[name] == nil {
            report("missing required field \"\(name)\" in \(what)", at: node.position, task: task)
        }
        return fields
    }

    mutating func string(_ node: JSONNode?, field: String, task: String? = nil) -> String? {
        guard let node else { return nil }
        guard case .string(let value) = node.value else {
            report("\(field) must be a string, found \(node.value.typeName)", at: node.position, task: task)
            return nil
        }
        return value
    }

    mutating func seconds(
        _ node: JSONNode?, field: String, task: String, range: ClosedRange<Double>
    ) -> Duration? {
        guard let node else { return nil }
        guard case .number(let value) = node.value else {
            report("\(field) must be a number of seconds, found \(node.value.typeName)", at: node.position, task: task)
            return nil
        }
        guard range.contains(value) else {
            report(
                "\(field) is \(Self.format(value)); it must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound)) seconds",
                at: node.position, task: task)
            return nil
        }
        return .milliseconds(Int64((value * 1000).rounded()))
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    mutating func manifest(_ root: JSONNode, path: String) -> AppManifest? {
        guard let fields = object(root, what: "the manifest", required: ["Identity", "BackgroundTasks"], optional: []) else {
            return nil
        }
        let identity = fields["Identity"].flatMap { parseIdentity($0) }
        var tasks: [TaskDeclaration] = []
        if let list = fields["BackgroundTasks"] {
            if case .array(let entries) = list.value {
                if entries.isEmpty, !skippedTasks { report("BackgroundTasks is empty; declare at least one task", at: list.position) }
                var seen: [String: SourcePosition] = [:]
                for entry in entries {
                    guard let task = parseTask(entry) else { continue }
                    if let first = seen[task.name] {
                        report(
                            "duplicate task name (first declared at line \(first.line)); task names must be unique",
                            at: task.position, task: task.name)
                    } else {
                        seen[task.name] = task.position
                        tasks.append(task)
                    }
                }
            } else {
                report("BackgroundTasks must be an array of tasks, found \(list.value.typeName)", at: list.position)
            }
        }
        guard let identity else { return nil }
        return AppManifest(path: path, identity: identity, tasks: tasks)
    }

    mutating func parseIdentity(_ node: JSONNode) -> AppIdentity? {
        guard let fields = object(node, what: "Identity", required: ["Name"], optional: ["Version"]) else { return nil }
        let version = string(fields["Version"], field: "Identity.Version")
        guard let name = string(fields["Name"], field: "Identity.Name") else { return nil }
        guard Self.isValidName(name) else {
            report(
                "Identity.Name \"\(name)\" must be 1 to 255 letters, digits, '.', '_' or '-' (e.g. com.example.app)",
                at: fields["Name"]?.position)
            return nil
        }
        return AppIdentity(name: name, version: version)
    }

    mutating func parseTask(_ node: JSONNode) -> TaskDeclaration? {
        // Find the name first, so that every later message can name the task.
        var taskName: String?
        if case .object(let members) = node.value, let nameNode = members.first(where: { $0.key == "Name" })?.node,
            case .string(let name) = nameNode.value
        {
            taskName = name
        }
        let optional = [
            "Library", "TimeLimitSeconds", "CancellationGraceSeconds", "Capabilities", "Limits", "Description",
            "Abi", "Symbol", "Signature", "Conditions", "ClaimWindowMs",
        ]
        guard
            let fields = object(
                node, what: "a task", required: ["Name", "Triggers"], optional: ["TaskEntryPoint"] + optional,
                listed: ["Name", "TaskEntryPoint", "Triggers"] + optional, task: taskName)
        else { return nil }
        let problemsBefore = problems.count
        let name = string(fields["Name"], field: "Name")
        if let name, !Self.isValidName(name) {
            report("Name \"\(name)\" must be 1 to 255 letters, digits, '.', '_' or '-'", at: fields["Name"]?.position)
        }
        let abi = parseABI(fields, task: name)
        var entryPoint: String?
        switch abi {
        case .swift: entryPoint = parseEntryPoint(fields, node: node, task: name)
        case .c: entryPoint = parseSymbol(fields, node: node, task: name)
        case nil: break  // an unknown Abi: what names the code cannot be checked
        }
        var library = string(fields["Library"], field: "Library", task: name)
        if let given = library, given.isEmpty {
            report(
                "Library is empty; name the library (\"BackgroundTasks\") or give a path (\"lib/libBackgroundTasks.so\")",
                at: fields["Library"]?.position, task: name)
        }
        if library == nil, case .c = abi {
            report(
                "\"Library\" is required when \"Abi\" is \"c\"; name the library (\"CPushCounter\" finds libCPushCounter.so) or give a path (\"lib/libpush.so\")",
                at: node.position, task: name)
        }
        if library == nil, abi == .swift, let entryPoint { library = String(entryPoint.prefix { $0 != "." }) }
        let triggers = fields["Triggers"].map { parseTriggers($0, task: name) } ?? []
        let timeLimit =
            seconds(
                fields["TimeLimitSeconds"], field: "TimeLimitSeconds", task: name ?? "?",
                range: 0.001...Self.maxTimeLimitSeconds) ?? AppManifest.defaultTimeLimit
        let grace =
            seconds(
                fields["CancellationGraceSeconds"], field: "CancellationGraceSeconds", task: name ?? "?",
                range: 0...Self.maxGraceSeconds) ?? AppManifest.defaultGracePeriod
        let capabilities = fields["Capabilities"].map { parseCapabilities($0, task: name) } ?? []
        let limits = fields["Limits"].map { parseLimits($0, task: name) } ?? ResourceLimits()
        let conditions = fields["Conditions"].map { parseConditions($0, task: name) } ?? []
        _ = string(fields["Description"], field: "Description", task: name)
        let claimWindow = fields["ClaimWindowMs"].map { parseClaimWindow($0, task: name) } ?? TaskDeclaration.defaultClaimWindow
        guard problems.count == problemsBefore, let name, let abi, let entryPoint, let library else { return nil }
        var declaration = TaskDeclaration(
            name: name, entryPoint: entryPoint, abi: abi, library: library, triggers: triggers, timeLimit: timeLimit,
            cancellationGracePeriod: grace, capabilities: capabilities, limits: limits, conditions: conditions,
            position: node.position)
        declaration.claimWindow = claimWindow
        return declaration
    }

    /// `Abi` and, for a C task, its `Signature`; `nil` after reporting an unknown Abi.
    mutating func parseABI(_ fields: [String: JSONNode], task: String?) -> TaskABI? {
        let known = ["swift", "c"]
        let abi: String
        if let node = fields["Abi"] {
            guard let value = string(node, field: "Abi", task: task) else { return nil }
            guard known.contains(value) else {
                let hint = Self.closest(to: value, in: known).map { " (did you mean \"\($0)\"?)" } ?? ""
                report(
                    "unknown Abi \"\(value)\"\(hint); \"Abi\" is \"swift\" (the default: a BackgroundTask class named by \"TaskEntryPoint\") or \"c\" (a C function named by \"Symbol\")",
                    at: node.position, task: task)
                return nil
            }
            abi = value
        } else {
            abi = "swift"
        }
        guard abi == "c" else {
            if let node = fields["Signature"] {
                report(
                    "\"Signature\" is only for C tasks; add \"Abi\": \"c\" with a \"Symbol\", or remove it", at: node.position, task: task)
            }
            return .swift
        }
        guard let node = fields["Signature"] else { return .c(signature: .default) }
        guard let text = string(node, field: "Signature", task: task) else { return .c(signature: .default) }
        do {
            return .c(signature: try CSignature(parsing: text))
        } catch {
            report("Signature \"\(text)\" is not valid: \(error)", at: node.position, task: task)
            return .c(signature: .default)
        }
    }

    /// A Swift task's `TaskEntryPoint`.
    mutating func parseEntryPoint(_ fields: [String: JSONNode], node: JSONNode, task: String?) -> String? {
        if let symbol = fields["Symbol"] {
            if let entryPointNode = fields["TaskEntryPoint"] {
                report(Self.bothGiven, at: entryPointNode.position, task: task)
            } else {
                report(
                    "\"Symbol\" names a C function: add \"Abi\": \"c\" (or name a Swift class with \"TaskEntryPoint\")",
                    at: symbol.position, task: task)
            }
            return nil
        }
        guard let entryPointNode = fields["TaskEntryPoint"] else {
            report("missing required field \"TaskEntryPoint\" in a task", at: node.position, task: task)
            return nil
        }
        guard let entryPoint = string(entryPointNode, field: "TaskEntryPoint", task: task) else { return nil }
        let parts = entryPoint.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count < 2 || parts.contains(where: { !Self.isIdentifier($0) }) {
            report(
                "TaskEntryPoint \"\(entryPoint)\" is not Module.Class (e.g. \"BackgroundTasks.SampleBackgroundTask\")",
                at: entryPointNode.position, task: task)
        }
        return entryPoint
    }

    /// A C task's `Symbol`.
    mutating func parseSymbol(_ fields: [String: JSONNode], node: JSONNode, task: String?) -> String? {
        guard let symbolNode = fields["Symbol"] else {
            let hint = fields["TaskEntryPoint"] == nil ? "" : " (\"TaskEntryPoint\" names Swift classes only)"
            report(
                "\"Symbol\" is required when \"Abi\" is \"c\"; name the exported C function, e.g. \"Symbol\": \"on_push\"\(hint)",
                at: node.position, task: task)
            return nil
        }
        if let entryPointNode = fields["TaskEntryPoint"] {
            report(Self.bothGiven, at: entryPointNode.position, task: task)
        }
        guard let symbol = string(symbolNode, field: "Symbol", task: task) else { return nil }
        guard symbol.utf8.count <= 255, Self.isIdentifier(symbol[...]) else {
            report(
                "Symbol \"\(symbol)\" is not a C identifier (1 to 255 ASCII letters, digits and '_', not starting with a digit)",
                at: symbolNode.position, task: task)
            return nil
        }
        return symbol
    }

    static let bothGiven =
        "\"TaskEntryPoint\" and \"Symbol\" are both given; a Swift task names its class with \"TaskEntryPoint\", "
        + "a C task (\"Abi\": \"c\") its function with \"Symbol\": keep one"

    mutating func parseTriggers(_ node: JSONNode, task: String?) -> [TriggerDeclaration] {
        guard case .array(let entries) = node.value else {
            report("Triggers must be an array, found \(node.value.typeName)", at: node.position, task: task)
            return []
        }
        if entries.isEmpty {
            report("Triggers is empty; add one, e.g. { \"Type\": \"PushNotification\" }", at: node.position, task: task)
        }
        let types = ["PushNotification", "Application", "Time", "WebPush"]
        return entries.compactMap { entry -> TriggerDeclaration? in
            var type: String?
            if case .object(let members) = entry.value, let typeNode = members.first(where: { $0.key == "Type" })?.node,
                case .string(let value) = typeNode.value
            {
                type = value
            }
            let requiredFields = type == "Time" ? ["Type", "IntervalMinutes"] : ["Type"]
            let optionalFields = type == "Time" ? ["OneShot"] : []
            guard let fields = object(entry, what: "a trigger", required: requiredFields, optional: optionalFields, task: task),
                let type = string(fields["Type"], field: "Trigger Type", task: task)
            else { return nil }
            switch type {
            case "PushNotification": return .pushNotification
            case "Application": return .application
            case "WebPush": return .webPush
            case "Time":
                guard let intervalNode = fields["IntervalMinutes"] else { return nil }
                guard case .number(let minutes) = intervalNode.value, minutes == minutes.rounded(), minutes >= 1,
                    minutes <= 525_600
                else {
                    report("IntervalMinutes must be a whole number of minutes from 1 to 525600", at: intervalNode.position, task: task)
                    return nil
                }
                var oneShot = false
                if let node = fields["OneShot"] {
                    guard case .bool(let value) = node.value else {
                        report("OneShot must be true or false, found \(node.value.typeName)", at: node.position, task: task)
                        return nil
                    }
                    oneShot = value
                }
                return .time(intervalMinutes: Int(minutes), oneShot: oneShot)
            default:
                let hint = Self.closest(to: type, in: types).map { " (did you mean \"\($0)\"?)" } ?? ""
                report(
                    "unknown trigger Type \"\(type)\"\(hint); known types: \(types.joined(separator: ", "))",
                    at: fields["Type"]?.position, task: task)
                return nil
            }
        }
    }

    mutating func parseCapabilities(_ node: JSONNode, task: String?) -> [Capability] {
        guard case .array(let entries) = node.value else {
            report("Capabilities must be an array of strings, found \(node.value.typeName)", at: node.position, task: task)
            return []
        }
        let known = Capability.allCases.map(\.rawValue)
        return entries.compactMap { entry in
            guard let name = string(entry, field: "a capability", task: task) else { return nil }
            guard let capability = Capability(rawValue: name) else {
                report(
                    "unknown capability \"\(name)\"; known capabilities: \(known.joined(separator: ", "))",
                    at: entry.position, task: task)
                return nil
            }
            return capability
        }
    }

    mutating func parseLimits(_ node: JSONNode, task: String?) -> ResourceLimits {
        var limits = ResourceLimits()
        let ranges: [(String, ClosedRange<Int>)] = [
            ("CpuSeconds", 1...86_400), ("MemoryMB", 16...1_048_576), ("OpenFiles", 16...1_048_576),
            ("Processes", 8...65_536), ("FileSizeMB", 1...1_048_576),
        ]
        guard let fields = object(node, what: "Limits", required: [], optional: ranges.map(\.0), task: task) else { return limits }
        for (name, range) in ranges {
            guard let field = fields[name] else { continue }
            guard case .number(let value) = field.value, value == value.rounded(), range.contains(Int(exactly: value) ?? -1) else {
                report(
                    "Limits.\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)", at: field.position, task: task)
                continue
            }
            switch name {
            case "CpuSeconds": limits.cpuSeconds = Int(value)
            case "MemoryMB": limits.memoryMB = Int(value)
            case "OpenFiles": limits.openFiles = Int(value)
            case "Processes": limits.processes = Int(value)
            default: limits.fileSizeMB = Int(value)
            }
        }
        return limits
    }
}
