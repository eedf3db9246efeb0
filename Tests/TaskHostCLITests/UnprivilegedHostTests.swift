import Foundation
import TaskHostTestSupport
import Testing

/// CI runs as root, which would hide the unprivileged path: these run the
/// host as `nobody` (with setpriv), from copies of the build products that
/// `nobody` can read.
@Suite(.serialized) struct UnprivilegedHostTests {
    static let enabled = geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

    /// A world-readable directory with the executables, the fixture library and
    /// a state directory owned by nobody.
    static let sandbox: String? = {
        guard enabled else { return nil }
        let directory = NSTemporaryDirectory() + "taskhost-nobody-" + UUID().uuidString
        let build = CLITests.buildDirectory
        do {
            try FileManager.default.createDirectory(atPath: directory + "/state", withIntermediateDirectories: true)
            for file in ["taskhost", "taskhost-worker", "libFaultyTasks.so"] {
                try FileManager.default.copyItem(atPath: build + "/" + file, toPath: directory + "/" + file)
            }
            try """
            {"Identity": {"Name": "com.example.nobody"}, "BackgroundTasks": [
              {"Name": "Escape", "TaskEntryPoint": "FaultyTasks.EscapeArtistTask", "Library": "FaultyTasks",
               "Triggers": [{"Type": "Application"}]}]}
            """.write(toFile: directory + "/manifest.json", atomically: true, encoding: .utf8)
            for path in [directory, directory + "/manifest.json"]
                + ["taskhost", "taskhost-worker", "libFaultyTasks.so"].map({ directory + "/" + $0 })
            {
                try FileManager.default.setAttributes([.posixPermissions: path.hasSuffix(".json") ? 0o644 : 0o755], ofItemAtPath: path)
            }
            _ = chown(directory + "/state", 65534, 65534)
        } catch {
            return nil
        }
        return directory
    }()

    func asNobody(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let directory = try #require(Self.sandbox)
        let process = try ChildProcess.start(
            "/usr/bin/setpriv",
            arguments: ["--reuid=65534", "--regid=65534", "--clear-groups", "--", directory + "/taskhost"] + arguments
                + ["--state-dir", directory + "/state"],
            environment: ["PATH": "/usr/bin:/bin", "HOME": directory], workingDirectory: directory,
            output: .pipe, error: .standardOutput)
        let output = process.readBlocking(.output)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test(.enabled(if: enabled)) func doctorReportsWhatAnUnprivilegedHostCannotEnforce() throws {
        let result = try asNobody(["doctor"])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("host: uid 65534"))
        #expect(result.output.contains("MISSING state-isolation"))
        #expect(result.output.contains("ok      seccomp"))
        #expect(result.output.contains("ok      user               runs as the host's unprivileged user (uid 65534)"))
        #expect(result.output.contains("MISSING process-limit      no pids cgroup per instance (the host is not root)"), "\(result.output)")
    }

    @Test(.enabled(if: enabled)) func anUnprivilegedHostStillSandboxesItsInstances() throws {
        let run = try asNobody(["run", "Escape", "--arg", "port=9", "--manifest", "manifest.json"])
        #expect(run.status == 0, "\(run.output)")
        let connect = try asNobody(["settings", "get", "connect", "--app", "com.example.nobody"])
        #expect(connect.output == "failed: Network is unreachable\n", "a user namespace gives the instance its own network")
        let unshare = try asNobody(["settings", "get", "unshare", "--app", "com.example.nobody"])
        #expect(unshare.output == "failed: Operation not permitted\n")
        let id = try #require(run.output.split(separator: "\n").first { $0.hasPrefix("instance ") }?.split(separator: " ")[1])
        let logs = try asNobody(["logs", String(id)])
        #expect(logs.output.contains("NOT enforced: state-isolation"), "\(logs.output)")
        #expect(logs.output.contains("host: sandbox: state-isolation: NOT enforced"))
        // As `doctor` says: RLIMIT_NPROC alone does not count as the process limit.
        #expect(logs.output.contains("host: sandbox: process-limit: NOT enforced"), "\(logs.output)")
        let notEnforced = logs.output.components(separatedBy: "NOT enforced: ").dropFirst().first ?? ""
        #expect(notEnforced.hasPrefix("state-isolation, process-limit"), "\(logs.output)")
        let refused = try asNobody(["run", "Escape", "--manifest", "manifest.json", "--require-sandbox"])
        #expect(refused.status == 1)
        // The host refuses before it starts the worker (which would refuse for state-isolation).
        #expect(refused.output.contains("refused: the sandbox is required but not enforced: process-limit"), "\(refused.output)")
    }
}
