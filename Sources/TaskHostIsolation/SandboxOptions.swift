import Foundation
import TaskHostIPC
import TaskHostManifest
import TaskHostStore
import _TaskHostCShims

/// How the host sandboxes the instances it runs.
package struct SandboxOptions: Sendable, Equatable {
    /// The user instances run as when the host runs as root (`nil`: stay root,
    /// which `doctor` and each instance's history report as not enforced).
    package var user: String?
    /// Refuse to run an instance unless every layer is enforced.
    package var required: Bool
    /// Where each instance gets its private working directory (removed afterwards).
    package var workRoot: String

    /// The defaults: run as `nobody` when root, report missing layers, work in a temporary directory.
    package init(user: String? = "nobody", required: Bool = false, workRoot: String = NSTemporaryDirectory() + "taskhost-work") {
        self.user = user
        self.required = required
        self.workRoot = workRoot
    }

    /// The uid and gid of ``user``, when the host is root and the user exists
    /// (a user database lookup: resolve it once, not per instance).
    func resolveIdentity() -> (uid: UInt32, gid: UInt32)? {
        guard geteuid() == 0, let user, !user.isEmpty else { return nil }
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        guard th_lookup_user(user, &uid, &gid) == 0 else { return nil }
        return (uid, gid)
    }

    /// The policy for an instance of `task`, run as `identity` when the host is root.
    func policy(for task: TaskDeclaration, workingDirectory: String, identity: (uid: UInt32, gid: UInt32)?) -> SandboxPolicy {
        let wallSeconds = Double(task.timeLimit.components.seconds + task.cancellationGracePeriod.components.seconds) + 1
        return SandboxPolicy(
            cpuSeconds: UInt64(task.limits.cpuSeconds ?? Int(wallSeconds.rounded(.up))),
            memoryBytes: UInt64(task.limits.memoryMB) << 20,
            openFiles: UInt64(task.limits.openFiles),
            processes: UInt64(task.limits.processes),
            fileSizeBytes: UInt64(task.limits.fileSizeMB) << 20,
            allowNetwork: task.capabilities.contains(.internetClient),
            userId: identity?.uid, groupId: identity?.gid,
            workingDirectory: workingDirectory, required: required)
    }

    /// Creates an instance's private working directory, owned by `identity`
    /// (plain system calls: this is on every instance's way to `run`).
    func makeWorkingDirectory(instanceId: String, identity: (uid: UInt32, gid: UInt32)?) -> String {
        let root = workRoot
        let path = root + "/" + instanceId
        if mkdir(path, 0o700) != 0 {
            guard errno == ENOENT else { return "" }
            // Private like the state directory it is usually in: the worker
            // enters its directory before it gives up root (or is handed it
            // open), so the sandbox user never needs to pass through this one.
            try? PrivateFiles.createDirectory(root)
            guard mkdir(path, 0o700) == 0 else { return "" }
        }
        if let identity { _ = chown(path, identity.uid, identity.gid) }
        return path
    }

    /// Removes an instance's working directory and whatever the task left in it.
    func removeWorkingDirectory(_ path: String) {
        guard !path.isEmpty, rmdir(path) != 0 else { return }  // usually empty
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A one-line summary of `layers` for the history.
    static func summary(_ layers: [SandboxLayer]) -> String {
        guard !layers.isEmpty else { return "" }
        let missing = layers.filter(\.isMissing).map(\.name)
        let enforced = layers.filter(\.enforced).map(\.name)
        let waived = layers.filter(\.waived).map(\.name)
        return "enforced: " + enforced.joined(separator: ", ")
            + (waived.isEmpty ? "" : "; not applied as declared: " + waived.joined(separator: ", "))
            + (missing.isEmpty ? "" : "; NOT enforced: " + missing.joined(separator: ", "))
    }
}
