import Foundation
import Synchronization
import TaskHostCore

/// Instances' private working directories, reused when an instance leaves
/// its directory empty.
///
/// Creating and removing a directory costs about 30 and 110 µs of kernel
/// time on this machine's ext4, on every instance, the creation on its way
/// to `run`. A directory an instance left empty is handed to a later one
/// instead (its mode and owner set again: the task owned it and may have
/// changed its mode); one with anything in it is removed with its contents.
/// Only directories of instances whose processes are all known to be gone
/// (see ``ProcessCgroups``) are reused.
final class WorkingDirectoryPool: Sendable {
    /// Empty directories kept for reuse, at most.
    static let capacity = 64

    private let sandbox: SandboxOptions
    private let identity: (uid: UInt32, gid: UInt32)?
    private let free = Mutex<[String]>([])

    init(sandbox: SandboxOptions, identity: (uid: UInt32, gid: UInt32)?) {
        self.sandbox = sandbox
        self.identity = identity
    }

    deinit {
        for path in free.withLock({ $0 }) { rmdir(path) }
    }

    /// An empty private directory for one instance ("" when none can be made).
    func take() -> String {
        if let path = free.withLock({ $0.popLast() }) {
            if chmod(path, 0o700) == 0, identity.map({ chown(path, $0.uid, $0.gid) == 0 }) ?? true { return path }
            sandbox.removeWorkingDirectory(path)
        }
        return sandbox.makeWorkingDirectory(instanceId: "w-" + RandomToken.hex(bytes: 8), identity: identity)
    }

    /// Takes back an instance's directory. `reuse`: every process of the
    /// instance is known to be gone (its cgroup is empty), so none can write
    /// into the directory once another instance has it.
    func give(_ path: String, reuse: Bool) {
        guard !path.isEmpty else { return }
        if reuse, Self.isEmpty(path),
            free.withLock({ free -> Bool in
                guard free.count < Self.capacity else { return false }
                free.append(path)
                return true
            })
        {
            return
        }
        sandbox.removeWorkingDirectory(path)
    }

    private static func isEmpty(_ path: String) -> Bool {
        guard let directory = opendir(path) else { return false }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { name in
                name[0] == UInt8(ascii: ".") && (name[1] == 0 || (name[1] == UInt8(ascii: ".") && name[2] == 0))
            }
            if !isDot { return false }
        }
        return true
    }
}
