import Foundation
import TaskHostTestSupport
import Testing

/// The tests' `posix_spawn` helper, ``ChildProcess``: how a child ended,
/// what it wrote, what it inherited (environment, descriptors, signal state)
/// and that waiting for it never holds a thread of the cooperative pool.
@Suite struct ChildProcessTests {
    /// Fields of `/proc/PID/stat` after the command name (field 3 is first).
    static func statFields(_ pid: pid_t) -> [Substring] {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let close = stat.lastIndex(of: ")") else { return [] }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    @Test func anExitStatusIsReportedAsItWas() async throws {
        let child = try ChildProcess.start("/bin/sh", arguments: ["-c", "exit 7"])
        #expect(await child.waitForExit() == .exited(7))
        #expect(child.terminationStatus == 7)
        #expect(child.terminationReason == .exit)
        #expect(!child.isRunning)
    }

    @Test func aSignalDeathIsReportedWithItsSignal() async throws {
        let terminated = try ChildProcess.start("/bin/sleep", arguments: ["30"])
        #expect(terminated.isRunning)
        #expect(terminated.signal(SIGTERM))
        #expect(await terminated.waitForExit() == .signaled(SIGTERM))
        #expect(terminated.terminationReason == .uncaughtSignal)
        #expect(terminated.terminationStatus == SIGTERM)
        #expect(!terminated.signal(SIGKILL), "a reaped child is not signalled: its pid may name another process")

        // A stopped child has not exited: a bounded wait says so, and SIGKILL still ends it.
        let stopped = try ChildProcess.start("/bin/sleep", arguments: ["30"])
        #expect(stopped.signal(SIGSTOP))
        #expect(await TestSupport.eventually { Self.statFields(stopped.pid).first == "T" })
        #expect(await stopped.waitForExit(timeout: .milliseconds(300)) == nil)
        #expect(stopped.isRunning)
        #expect(stopped.signal(SIGKILL))
        #expect(await stopped.waitForExit(timeout: .seconds(20)) == .signaled(SIGKILL))
    }

    @Test func outputIsCapturedFromPipesAndFiles() async throws {
        let piped = try ChildProcess.start(
            "/bin/sh", arguments: ["-c", "echo out; echo err >&2; exit 3"], output: .pipe, error: .pipe)
        #expect(await piped.read(.output) == "out\n")
        #expect(await piped.read(.error) == "err\n")
        #expect(await piped.waitForExit() == .exited(3))

        // More than a pipe holds (64 KiB): read while it runs, so it can exit before anyone asks.
        let large = try ChildProcess.start("/usr/bin/head", arguments: ["-c", "1000000", "/dev/zero"], output: .pipe)
        #expect(await large.waitForExit(timeout: .seconds(20)) == .exited(0))
        #expect(await large.read(.output).utf8.count == 1_000_000)

        // Both streams into one file, in the order written (`> file 2>&1`).
        let file = TestSupport.temporaryDirectory() + "/both.log"
        let combined = try ChildProcess.start(
            "/bin/sh", arguments: ["-c", "echo one; echo two >&2; echo three"], output: .file(file), error: .standardOutput)
        _ = await combined.waitForExit()
        #expect(await combined.read(.output) == "one\ntwo\nthree\n")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "one\ntwo\nthree\n")
    }

    @Test func standardInputIsAPipeOrEmpty() async throws {
        let cat = try ChildProcess.start("/bin/cat", input: .pipe, output: .pipe)
        #expect(cat.writeInput(Array("hello\n".utf8)))
        cat.closeInput()
        #expect(await cat.read(.output) == "hello\n")
        #expect(await cat.waitForExit() == .exited(0))

        let empty = try ChildProcess.start("/bin/cat", output: .pipe)
        #expect(await empty.read(.output) == "")
        #expect(await empty.waitForExit() == .exited(0))
    }

    @Test func theEnvironmentIsExplicitOrInheritedWithOverrides() async throws {
        let explicit = try ChildProcess.start("/usr/bin/env", environment: ["ONLY": "this"], output: .pipe)
        #expect(await explicit.read(.output) == "ONLY=this\n")

        let inherited = try ChildProcess.start(
            "/usr/bin/env", overrides: ["CHILD_PROCESS_TEST": "over"], output: .pipe)
        let lines = Set(await inherited.read(.output).split(separator: "\n").map(String.init))
        #expect(lines.contains("CHILD_PROCESS_TEST=over"))
        let path = try #require(ProcessInfo.processInfo.environment["PATH"])
        #expect(lines.contains("PATH=" + path))
    }

    @Test func theWorkingDirectoryAndTheProcessGroupAreAsAsked() async throws {
        let directory = TestSupport.temporaryDirectory()
        let pwd = try ChildProcess.start("/bin/pwd", workingDirectory: directory, output: .pipe)
        #expect(await pwd.read(.output) == directory + "\n")

        let leader = try ChildProcess.start("/bin/sleep", arguments: ["30"])
        let member = try ChildProcess.start("/bin/sleep", arguments: ["30"], newProcessGroup: false)
        defer {
            leader.signal(SIGKILL)
            member.signal(SIGKILL)
        }
        #expect(Self.statFields(leader.pid).dropFirst(2).first == "\(leader.pid)", "leads a process group of its own")
        #expect(Self.statFields(member.pid).dropFirst(2).first == "\(getpgrp())", "stays in the test process's group")
    }

    @Test func aMissingExecutableOrDirectoryIsAnErrorSayingWhich() throws {
        #expect(throws: ChildProcess.SpawnError.self) { try ChildProcess.start("/nonexistent/program") }
        do {
            _ = try ChildProcess.start("/bin/true", workingDirectory: "/nonexistent/directory")
            Issue.record("started in a directory that does not exist")
        } catch {
            #expect("\(error)".contains("/nonexistent/directory"), "\(error)")
        }
    }

    /// A descriptor the test process opened without close-on-exec does not
    /// reach the child: it gets 0, 1 and 2 only.
    @Test func onlyTheIntendedDescriptorsReachTheChild() async throws {
        var pair: [Int32] = [-1, -1]
        try #require(pipe(&pair) == 0)
        // Not close-on-exec, like a descriptor a library leaves open; above 3, which ls uses itself.
        let ends = pair.map { fcntl($0, F_DUPFD, 200) }
        for fd in pair + ends { try #require(fd >= 0) }
        defer { for fd in pair + ends { close(fd) } }
        let file = TestSupport.temporaryDirectory() + "/fds.log"
        let child = try ChildProcess.start("/bin/ls", arguments: ["-1", "/proc/self/fd"], output: .pipe, error: .file(file))
        let listed = await child.read(.output).split(separator: "\n").map(String.init)
        #expect(await child.waitForExit() == .exited(0))
        #expect(!listed.contains(String(ends[0])) && !listed.contains(String(ends[1])), "\(listed)")
        // 0, 1, 2 and the directory ls reads.
        #expect(listed == ["0", "1", "2", "3"], "\(listed)")
    }

    /// A signal the test process ignores, or that the spawning thread blocks,
    /// is neither ignored nor blocked in the child.
    @Test func theChildStartsWithDefaultSignalDispositionsAndAnEmptyMask() async throws {
        signal(SIGPIPE, SIG_IGN)  // as servers and the test runner commonly do
        var blocked = sigset_t()
        var previous = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGUSR1)
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        let child = Result { try ChildProcess.start("/bin/grep", arguments: ["^Sig", "/proc/self/status"], output: .pipe) }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        let status = try await child.get().read(.output)
        func mask(_ name: String) -> UInt64? {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                .flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) }
        }
        #expect(mask("SigBlk") == 0, "\(status)")
        // Signals 1 to 31 (bits 0 to 30); glibc's posix_spawn ignores its own internal ones (32, 33) in the child.
        #expect(mask("SigIgn").map { $0 & 0x7FFF_FFFF } == 0, "\(status)")
    }

    /// More waiters than the cooperative pool has threads (2 here): if a wait
    /// held a thread, the test could not go on to close `cat`'s input.
    @Test(.timeLimit(.minutes(1))) func waitingHoldsNoThreadOfTheCooperativePool() async throws {
        let cat = try ChildProcess.start("/bin/cat", input: .pipe, output: .null)
        try await withThrowingTaskGroup(of: ChildProcess.Termination.self) { group in
            for _ in 0..<6 { group.addTask { await cat.waitForExit() } }
            for _ in 0..<2 { group.addTask { try #require(await cat.waitForExit(timeout: .seconds(50))) } }
            try await Task.sleep(for: .milliseconds(200))  // lets the waiters start (not an assertion)
            cat.closeInput()
            for try await termination in group { #expect(termination == .exited(0)) }
        }
    }

    /// A child started as the CLI tests start `taskhost`.
    static func configured(in directory: String) -> ChildProcess {
        TaskHostCommand.start(["--help"], in: directory, stateDirectory: directory)
    }

    /// `Process`'s names, which `ServeProcess.process` and `TaskHostCommand.start` callers use.
    @Test func processNamesWorkAsWithProcess() throws {
        let directory = TestSupport.temporaryDirectory()
        let output = directory + "/out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let version = Self.configured(in: directory)
        version.standardOutput = Pipe()
        try version.run()
        version.waitUntilExit()
        #expect(version.terminationStatus == 0)

        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sh")
        child.arguments = ["-c", "pwd; exit 4"]
        child.currentDirectoryURL = URL(fileURLWithPath: directory)
        child.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        child.standardError = FileHandle.nullDevice
        try child.run()
        child.waitUntilExit()
        #expect(child.terminationStatus == 4)
        #expect(child.processIdentifier > 0)
        #expect(try String(contentsOfFile: output, encoding: .utf8) == directory + "\n")
    }
}
