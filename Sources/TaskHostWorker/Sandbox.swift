import FoundationEssentials
import Glibc
import TaskHostIPC
import _TaskHostCShims

/// The layers the worker applies to itself, in order, before any plugin code
/// runs. Each is reported: applied, or why not (the kernel forbids it, the
/// host is not root, …). Nothing here can fail the worker by itself; the host
/// decides (`--require-sandbox`) whether a missing layer is an error.
enum Sandbox {
    /// Every layer, in order, in a worker spawned for one instance.
    static func apply(_ policy: SandboxPolicy) -> [SandboxLayer] {
        var layers = [
            SandboxLayer(name: "descriptors", enforced: true, detail: "only the IPC socket and standard streams are open"),
            SandboxLayer(name: "parent-death", enforced: true, detail: "killed if the host dies"),
            environment(),
        ]
        if !policy.workingDirectory.isEmpty {
            layers.append(
                report(
                    "working-directory", chdir(policy.workingDirectory), "private directory \(policy.workingDirectory)",
                    "cannot enter \(policy.workingDirectory)"))
        }
        let startedAsRoot = geteuid() == 0
        layers.append(network(policy, startedAsRoot: startedAsRoot))
        layers.append(resourceLimits(policy))
        layers += identity(policy, startedAsRoot: startedAsRoot)
        return layers
    }

    /// The layers a zygote applies to itself before it loads the plugin: they
    /// are the same for every instance it forks, and plugin code (the
    /// library's constructors) must not run outside them.
    static func applyToZygote(_ policy: SandboxPolicy) -> [SandboxLayer] {
        let startedAsRoot = geteuid() == 0
        return [
            SandboxLayer(name: "descriptors", enforced: true, detail: "only the IPC socket and standard streams are open"),
            SandboxLayer(name: "parent-death", enforced: true, detail: "exits when the host's IPC socket closes"),
            network(policy, startedAsRoot: startedAsRoot),
        ] + identity(policy, startedAsRoot: startedAsRoot)
    }

    /// The layers a child forked by a zygote applies for its instance (its
    /// working directory was entered when it was handed its instance).
    static func applyToForkedChild(_ policy: SandboxPolicy, workingDirectoryEntered: Bool) -> [SandboxLayer] {
        var layers = [environment()]
        if !policy.workingDirectory.isEmpty {
            layers.append(
                SandboxLayer(
                    name: "working-directory", enforced: workingDirectoryEntered,
                    detail: workingDirectoryEntered ? "private directory \(policy.workingDirectory)" : "the host sent no working directory")
            )
        }
        layers.append(resourceLimits(policy))
        return layers
    }

    private static func report(_ name: String, _ result: Int32, _ enforced: String, _ failed: String) -> SandboxLayer {
        result == 0
            ? SandboxLayer(name: name, enforced: true, detail: enforced)
            : SandboxLayer(name: name, enforced: false, detail: "\(failed): \(String(cString: strerror(errno)))")
    }

    /// The environment variables a worker may see: none of the host's.
    static let allowedEnvironment = Set(WorkerEnvironment.names)

    /// Checks (rather than trusts) that the environment holds only
    /// ``allowedEnvironment``: the host's secrets must not reach plugin code.
    static func environment() -> SandboxLayer {
        var names: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let variable = String(cString: pointer)
            names.append(String(variable.prefix { $0 != "=" }))
            entry += 1
        }
        let extra = names.filter { !allowedEnvironment.contains($0) }.sorted()
        return extra.isEmpty
            ? SandboxLayer(name: "environment", enforced: true, detail: "only " + allowedEnvironment.sorted().joined(separator: ", "))
            : SandboxLayer(name: "environment", enforced: false, detail: "the host passed " + extra.joined(separator: ", "))
    }

    private static func network(_ policy: SandboxPolicy, startedAsRoot: Bool) -> SandboxLayer {
        if policy.allowNetwork {
            return SandboxLayer(name: "network", enforced: false, detail: "the task declares internetClient", waived: true)
        }
        return report(
            "network", th_unshare_network(startedAsRoot ? 0 : 1), "private network namespace: no network",
            startedAsRoot
                ? "cannot create a network namespace"
                : "cannot create a user and network namespace (unprivileged user namespaces disabled?)")
    }

    /// Builds what ``applyToForkedChild(_:workingDirectoryEntered:)`` reports,
    /// without applying anything: a zygote runs this once so that its children
    /// find the Swift runtime's caches (generic metadata, conformances) warm.
    static func rehearseForkedChild(_ policy: SandboxPolicy) -> [SandboxLayer] {
        [
            environment(),
            SandboxLayer(name: "working-directory", enforced: true, detail: "private directory \(policy.workingDirectory)"),
            resourceLimits(policy, apply: false),
        ]
    }

    private static func resourceLimits(_ policy: SandboxPolicy, apply: Bool = true) -> SandboxLayer {
        var limits: [(String, Int32, UInt64, UInt64)] = []
        if policy.cpuSeconds > 0 {
            limits.append(("cpu \(policy.cpuSeconds)s", Int32(RLIMIT_CPU.rawValue), policy.cpuSeconds, policy.cpuSeconds + 1))
        }
        if policy.memoryBytes > 0 {
            limits.append(("memory \(policy.memoryBytes >> 20) MiB", Int32(RLIMIT_DATA.rawValue), policy.memoryBytes, policy.memoryBytes))
        }
        if policy.openFiles > 0 {
            limits.append(("files \(policy.openFiles)", Int32(RLIMIT_NOFILE.rawValue), policy.openFiles, policy.openFiles))
        }
        if policy.processes > 0 {
            limits.append(("processes \(policy.processes)", Int32(__RLIMIT_NPROC.rawValue), policy.processes, policy.processes))
        }
        if policy.fileSizeBytes > 0 {
            limits.append(
                ("file size \(policy.fileSizeBytes >> 20) MiB", Int32(RLIMIT_FSIZE.rawValue), policy.fileSizeBytes, policy.fileSizeBytes))
        }
        limits.append(("no core dumps", Int32(RLIMIT_CORE.rawValue), 0, 0))
        var failed: [String] = []
        for (name, resource, soft, hard) in limits where apply && th_set_rlimit(resource, soft, hard) != 0 {
            failed.append("\(name): \(String(cString: strerror(errno)))")
        }
        return failed.isEmpty
            ? SandboxLayer(name: "rlimits", enforced: true, detail: limits.map(\.0).joined(separator: ", "))
            : SandboxLayer(name: "rlimits", enforced: false, detail: failed.joined(separator: "; "))
    }

    /// User, state isolation, no_new_privs and seccomp: the layers that make
    /// the process unprivileged for good, last.
    private static func identity(_ policy: SandboxPolicy, startedAsRoot: Bool) -> [SandboxLayer] {
        var layers: [SandboxLayer] = []
        if startedAsRoot {
            if let uid = policy.userId, let gid = policy.groupId {
                layers.append(
                    report("user", th_drop_privileges(uid, gid), "runs as uid \(uid), gid \(gid), not root", "cannot drop to uid \(uid)"))
            } else {
                layers.append(SandboxLayer(name: "user", enforced: false, detail: "runs as root: no sandbox user configured"))
            }
        } else {
            layers.append(SandboxLayer(name: "user", enforced: true, detail: "runs as the host's unprivileged user (uid \(getuid()))"))
        }
        let isolatedFromState = startedAsRoot && geteuid() != 0
        layers.append(
            SandboxLayer(
                name: "state-isolation", enforced: isolatedFromState,
                detail: isolatedFromState
                    ? "the state directory belongs to another user"
                    : "the task runs as the user that owns the state directory; run the host as root with a sandbox user to isolate it"))
        layers.append(
            report(
                "no-new-privs", th_set_no_new_privs(), "setuid binaries and file capabilities grant nothing",
                "prctl(PR_SET_NO_NEW_PRIVS) failed"))
        layers.append(
            report(
                "seccomp", th_install_seccomp_denylist(),
                "ptrace, mount, kexec, bpf, module loading, reboot, namespaces and clock changes fail with EPERM",
                "cannot install the seccomp filter"))
        return layers
    }
}
