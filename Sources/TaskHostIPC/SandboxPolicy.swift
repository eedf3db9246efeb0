/// What the worker does to itself before it loads plugin code.
package struct SandboxPolicy: Sendable, Equatable {
    /// CPU seconds (`RLIMIT_CPU`; SIGXCPU, then SIGKILL a second later). 0: no limit.
    package var cpuSeconds: UInt64
    /// Address space in bytes (`RLIMIT_AS`). 0: no limit.
    package var memoryBytes: UInt64
    /// Open descriptors (`RLIMIT_NOFILE`). 0: no limit.
    package var openFiles: UInt64
    /// Processes of the sandbox user (`RLIMIT_NPROC`; counts every process of
    /// that user, and does not bind root). 0: no limit.
    package var processes: UInt64
    /// Largest file the task may write, in bytes (`RLIMIT_FSIZE`). 0: no limit.
    package var fileSizeBytes: UInt64
    /// Whether the task keeps the host's network (the `internetClient` capability).
    package var allowNetwork: Bool
    /// The user and group to run as when the worker starts as root.
    package var userId: UInt32?
    package var groupId: UInt32?
    /// The instance's private working directory ("" to stay where it is).
    package var workingDirectory: String
    /// Refuse to run unless every layer is enforced.
    package var required: Bool

    /// Creates a policy.
    package init(
        cpuSeconds: UInt64 = 0, memoryBytes: UInt64 = 0, openFiles: UInt64 = 0, processes: UInt64 = 0,
        fileSizeBytes: UInt64 = 0, allowNetwork: Bool = true, userId: UInt32? = nil, groupId: UInt32? = nil,
        workingDirectory: String = "", required: Bool = false
    ) {
        self.cpuSeconds = cpuSeconds
        self.memoryBytes = memoryBytes
        self.openFiles = openFiles
        self.processes = processes
        self.fileSizeBytes = fileSizeBytes
        self.allowNetwork = allowNetwork
        self.userId = userId
        self.groupId = groupId
        self.workingDirectory = workingDirectory
        self.required = required
    }

    func encode(into writer: inout ByteWriter) {
        writer.u64(cpuSeconds)
        writer.u64(memoryBytes)
        writer.u64(openFiles)
        writer.u64(processes)
        writer.u64(fileSizeBytes)
        writer.u8(allowNetwork ? 1 : 0)
        writer.u8(userId == nil ? 0 : 1)
        writer.u32(userId ?? 0)
        writer.u32(groupId ?? 0)
        writer.string(workingDirectory)
        writer.u8(required ? 1 : 0)
    }

    init(from reader: inout ByteReader) throws(IPCError) {
        cpuSeconds = try reader.u64("cpuSeconds")
        memoryBytes = try reader.u64("memoryBytes")
        openFiles = try reader.u64("openFiles")
        processes = try reader.u64("processes")
        fileSizeBytes = try reader.u64("fileSizeBytes")
        allowNetwork = try reader.u8("allowNetwork") != 0
        let hasUser = try reader.u8("hasUser") != 0
        let uid = try reader.u32("userId")
        let gid = try reader.u32("groupId")
        userId = hasUser ? uid : nil
        groupId = hasUser ? gid : nil
        workingDirectory = try reader.string("workingDirectory")
        required = try reader.u8("required") != 0
    }
}

/// One layer of the sandbox, and whether this kernel and this host let the
/// worker enforce it.
package struct SandboxLayer: Sendable, Equatable, CustomStringConvertible {
    /// The layer's name: `no-new-privs`, `seccomp`, `network`, `user`, `rlimits`, …
    package var name: String
    /// Whether it is in force.
    package var enforced: Bool
    /// What it does, or why it is not in force.
    package var detail: String
    /// Not applied because the task's manifest asks for what the layer
    /// prevents (the network for a task that declares `internetClient`): not
    /// in force, but not missing either (`--require-sandbox` accepts it).
    package var waived: Bool

    /// Creates a layer report.
    package init(name: String, enforced: Bool, detail: String, waived: Bool = false) {
        self.name = name
        self.enforced = enforced && !waived
        self.detail = detail
        self.waived = waived
    }

    /// Not in force, and not because the task asked for it.
    package var isMissing: Bool { !enforced && !waived }

    package var description: String { "\(name): \(enforced ? "enforced" : waived ? "not applied" : "NOT enforced") (\(detail))" }
}
