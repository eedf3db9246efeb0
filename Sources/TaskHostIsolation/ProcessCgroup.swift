import Foundation
package import TaskHostIPC

/// A `pids` cgroup per instance: the task's `Processes` limit counted over
/// its own process tree, and a way to kill all of it at the end.
///
/// `RLIMIT_NPROC`, the fallback, counts every process and thread of the
/// sandbox *user*: every instance runs as that user, so one instance that
/// forks up to its limit would leave the others unable to start a thread
/// (and a plugin that calls `setsid` escapes the process group the host
/// kills). A cgroup bounds and ends one instance's tree, whatever it does.
/// Needs the cgroup v1 `pids` hierarchy writable by the host (root); where it
/// is not, ``ProcessCgroups/detect()`` returns `nil` and the rlimit applies.
package final class ProcessCgroups: Sendable {
    /// The directory the instances' cgroups are made in.
    let base: String

    private init(base: String) { self.base = base }

    /// The host's `pids` cgroups (`taskhost/host-PIDNS-PID/`), or `nil` where it
    /// cannot make them. Sweeps what hosts that are gone left behind.
    static func detect(hierarchy: String = defaultHierarchy) -> ProcessCgroups? {
        guard unavailability(hierarchy: hierarchy) == nil, let own = ownPath() else { return nil }
        let root = hierarchy + (own == "/" ? "" : own) + "/taskhost"
        guard mkdir(root, 0o755) == 0 || errno == EEXIST else { return nil }
        // Named by PID namespace too: hosts in other containers may share the
        // hierarchy, and their pids mean nothing here.
        let prefix = "host-\(pidNamespace())-"
        sweep(root, prefix: prefix)
        let base = root + "/" + prefix + "\(getpid())"
        guard mkdir(base, 0o755) == 0 || errno == EEXIST else { return nil }
        return ProcessCgroups(base: base)
    }

    /// Where the v1 `pids` hierarchy is mounted.
    package static let defaultHierarchy = "/sys/fs/cgroup/pids"

    /// Why this process cannot make per-instance `pids` cgroups, or `nil`
    /// when it can: the one test behind both ``detect(hierarchy:)`` and what
    /// `taskhost doctor` reports.
    static func unavailability(hierarchy: String = defaultHierarchy) -> String? {
        guard geteuid() == 0 else { return "the host is not root" }
        guard let own = ownPath() else { return "this kernel has no cgroup v1 pids hierarchy" }
        guard access(hierarchy + own + "/cgroup.procs", W_OK) == 0 else { return "\(hierarchy + own) is not writable" }
        return nil
    }

    /// The process limit as an instance of this host gets it, the layer
    /// `taskhost doctor` prints: a `pids` cgroup per instance, or else the
    /// sandbox user's `RLIMIT_NPROC`, which counts every instance together.
    package static func processLimitLayer(hierarchy: String = defaultHierarchy) -> SandboxLayer {
        if let reason = unavailability(hierarchy: hierarchy) { return fallbackLayer(reason) }
        return SandboxLayer(
            name: "process-limit", enforced: true,
            detail: "a pids cgroup per instance, pids.max from the manifest's Limits.Processes")
    }

    /// The process limit of an instance without a pids cgroup (`reason`): not
    /// enforced, as `doctor` reports it and `--require-sandbox` refuses it.
    static func fallbackLayer(_ reason: String) -> SandboxLayer {
        SandboxLayer(
            name: "process-limit", enforced: false,
            detail: "no pids cgroup per instance (\(reason)): RLIMIT_NPROC applies instead, counting every process of the sandbox user")
    }

    /// Removes the cgroups of hosts that are no longer running (a host killed
    /// with SIGKILL cannot remove its own), killing whatever is left in them.
    private static func sweep(_ root: String, prefix: String) {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            guard entry.hasPrefix(prefix), let pid = pid_t(entry.dropFirst(prefix.count)), pid != getpid(),
                kill(pid, 0) == -1, errno == ESRCH
            else { continue }
            let host = root + "/" + entry
            for instance in (try? FileManager.default.contentsOfDirectory(atPath: host)) ?? [] {
                let path = host + "/" + instance
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                    InstanceCgroup(path: path, maxProcesses: 0).remove(patience: 50)
                }
            }
            rmdir(host)
        }
    }

    /// The inode number of this process's PID namespace (`/proc/self/ns/pid`).
    private static func pidNamespace() -> String {
        var info = stat()
        return stat("/proc/self/ns/pid", &info) == 0 ? String(info.st_ino) : "0"
    }

    /// This process's path in the v1 `pids` hierarchy (`/proc/self/cgroup`).
    private static func ownPath() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if fields.count == 3, fields[1].split(separator: ",").contains("pids") { return String(fields[2]) }
        }
        return nil
    }

    /// The cgroup worker `pid` runs its instance in, allowing `maxProcesses`
    /// processes and threads: `current` (the cgroup a spare was moved into
    /// when it was forked) with its limit set, or else one made and joined now
    /// (and `current`, then empty, removed). `nil` if neither can be had.
    func cgroup(for pid: pid_t, name: String, maxProcesses: Int, current: InstanceCgroup? = nil) -> InstanceCgroup? {
        if let limited = current?.limit(to: maxProcesses) { return limited }
        guard let created = create(name: name, maxProcesses: maxProcesses) else { return nil }
        guard created.attach(pid) else {
            created.remove()
            return nil
        }
        current?.remove()
        return created
    }

    /// Makes the cgroup of one instance, allowing `maxProcesses` processes
    /// and threads; `nil` if it cannot be made.
    func create(name: String, maxProcesses: Int) -> InstanceCgroup? {
        let path = base + "/" + name
        guard mkdir(path, 0o755) == 0 else { return nil }
        let cgroup = InstanceCgroup(path: path, maxProcesses: maxProcesses)
        guard cgroup.write("pids.max", String(maxProcesses)) else {
            rmdir(path)
            return nil
        }
        return cgroup
    }
}

/// One instance's `pids` cgroup.
struct InstanceCgroup: Sendable {
    let path: String
    let maxProcesses: Int

    /// Moves `pid` (a worker that has not run plugin code yet) into the cgroup;
    /// what it starts stays in it. Slow (about 170 µs here: cgroup v1 waits for
    /// an RCU grace period), so a zygote's spare is attached when it is forked.
    func attach(_ pid: pid_t) -> Bool { write("cgroup.procs", String(pid)) }

    /// Sets the number of processes and threads allowed (for a spare's cgroup,
    /// once the instance it will run is known).
    func limit(to maxProcesses: Int) -> InstanceCgroup? {
        write("pids.max", String(maxProcesses)) ? InstanceCgroup(path: path, maxProcesses: maxProcesses) : nil
    }

    /// The layer the host reports for it.
    var layer: SandboxLayer {
        SandboxLayer(
            name: "process-limit", enforced: true, detail: "at most \(maxProcesses) processes and threads in the instance's own pids cgroup"
        )
    }

    /// Kills whatever is left in the cgroup and removes it, trying `patience`
    /// times, at most 2 ms apart, while the killed processes leave (what is
    /// still there then is swept when the next host starts).
    func remove(patience: Int = 500) {
        var pause: UInt32 = 100  // µs, doubling to 2 ms: a reaped worker usually leaves within the first
        // Killed processes that were reparented to the host (a child subreaper)
        // must be reaped by it, or they stay zombies; they leave the cgroup
        // before that, so they are remembered here.
        var killed: Set<pid_t> = []
        for _ in 0..<patience {
            // Still running, or not to be reaped yet; not a child: not ours.
            killed = killed.filter { !OrphanReaper.shared.reapUnregistered($0) }
            if killed.isEmpty, rmdir(path) == 0 || errno == ENOENT { return }
            let members = (try? String(contentsOfFile: path + "/cgroup.procs", encoding: .utf8)) ?? ""
            for pid in members.split(separator: "\n").compactMap({ pid_t($0) }) {
                kill(pid, SIGKILL)
                killed.insert(pid)
            }
            usleep(pause)  // killed processes leave the cgroup once they are gone
            pause = min(pause * 2, 2000)
        }
    }

    fileprivate func write(_ file: String, _ value: String) -> Bool {
        let fd = open(path + "/" + file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        return bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) } == bytes.count
    }
}
