package import Foundation
package import _TaskHostCShims

#if canImport(Glibc)
import Glibc
#endif

/// A child process for tests, started with `posix_spawn` (never Foundation's
/// `Process`, whose `run()` in Swift 6.3.1 can over-read a buffer and crash
/// the test process).
///
/// Only the descriptors asked for reach the child: every descriptor the
/// parent opens for it is `O_CLOEXEC`, and the child closes every descriptor
/// from 3 up before it runs (`posix_spawn_file_actions_addclosefrom_np`). It
/// starts with an empty signal mask and every signal at its default
/// disposition, so a signal the test process ignores (`SIGPIPE`) or blocks is
/// not ignored or blocked in the child. By default it leads a process group
/// of its own, as with `Process`.
///
/// A dedicated thread waits for the child to exit (`waitid`, then `waitpid`
/// under the lock that ``signal(_:)`` takes, so a signal never reaches a
/// reused pid), and each pipe has a thread of its own that reads it to its
/// end: ``waitForExit()`` and ``read(_:)`` never block Swift's cooperative
/// pool, and a child that writes more than a pipe holds never stalls.
///
/// Not swift-subprocess: a child there lives only inside the closure passed
/// to `run`, while a test's `serve` lives across synchronous calls
/// (`ServeProcess`'s initializer, `terminate()`, `kill9()`), and it would be
/// a new package dependency.
///
/// Configure it with the initializer (or the properties), then ``run()``.
/// The members named as `Process` names them (`processIdentifier`,
/// `isRunning`, `waitUntilExit()`, `terminate()`…) are in
/// `ChildProcess+ProcessNames.swift`; reading output and writing input, in
/// `ChildProcess+Streams.swift`.
package final class ChildProcess: @unchecked Sendable {
    /// Where the child's standard input comes from.
    package enum Input: Sendable {
        /// `/dev/null`.
        case null
        /// A pipe: write to it with ``writeInput(_:)``, close it with ``closeInput()``.
        case pipe
    }

    /// Where the child's standard output or standard error goes.
    package enum Output: Sendable {
        /// The test process's own descriptor (1 or 2).
        case inherit
        /// `/dev/null`.
        case null
        /// A pipe that a thread reads to its end: see ``read(_:)``.
        case pipe
        /// The file at this path, created or truncated, opened by the child.
        case file(String)
        /// A descriptor of the caller's, duplicated into the child; the caller keeps it.
        case descriptor(Int32)
        /// Standard error only: wherever standard output goes (`2>&1`).
        case standardOutput
    }

    /// One of the child's output streams.
    package enum Stream: Sendable {
        case output, error
    }

    /// How the child ended.
    package enum Termination: Equatable, Sendable, CustomStringConvertible {
        /// It exited with this status.
        case exited(Int32)
        /// A signal killed it.
        case signaled(Int32)
        /// Other code in the test process reaped it (`waitpid(-1, …)`): how it ended is unknown.
        case reapedElsewhere

        package var description: String {
            switch self {
            case .exited(let status): "exited with status \(status)"
            case .signaled(let signal): "killed by signal \(signal)"
            case .reapedElsewhere: "reaped by other code in the test process (status unknown)"
            }
        }
    }

    /// The child could not be started.
    package struct SpawnError: Error, CustomStringConvertible {
        package var description: String
    }

    /// The executable's absolute path (not looked up in `PATH`).
    package var executablePath: String
    /// The arguments after the executable's path (which is `argv[0]`).
    package var arguments: [String]
    /// The whole environment; `nil` inherits the test process's.
    package var environment: [String: String]?
    /// The child's working directory; `nil` keeps the test process's.
    package var workingDirectory: String?
    /// Where standard input comes from (`/dev/null` by default).
    package var standardInputSource: Input
    /// Where standard output goes.
    package var standardOutputDestination: Output
    /// Where standard error goes.
    package var standardErrorDestination: Output
    /// Whether the child leads a new process group (`kill(-pid, …)` reaches what it starts).
    package var newProcessGroup: Bool

    let lock = NSCondition()
    private var started = false
    private var spawnedPid: pid_t = 0
    private var ended: Termination?
    private var waiters: [UInt64: CheckedContinuation<Termination?, Never>] = [:]
    private var nextWaiter: UInt64 = 0
    /// The writing end of the child's standard input pipe, or -1.
    var inputWriter: Int32 = -1
    /// The readers of the child's output pipes.
    var captures: [Stream: PipeCapture] = [:]
    /// Descriptors the parent owns only until the spawn (see the `Process` names).
    var closeAfterSpawn: [Int32] = []
    var closeAfterSpawnHandles: [FileHandle] = []
    /// What was set as `standardOutput`/`standardError` (see the `Process` names).
    var assigned: [Stream: Any] = [:]

    /// A child of `executable` with `arguments`; `environment` `nil` inherits
    /// the test process's environment, and `overrides` is set on top of
    /// either. Call ``run()`` to start it, or use ``start(_:arguments:environment:overrides:workingDirectory:input:output:error:newProcessGroup:)``.
    package init(
        _ executable: String, arguments: [String] = [], environment: [String: String]? = nil,
        overrides: [String: String] = [:], workingDirectory: String? = nil, input: Input = .null,
        output: Output = .inherit, error: Output = .inherit, newProcessGroup: Bool = true
    ) {
        executablePath = executable
        self.arguments = arguments
        if overrides.isEmpty {
            self.environment = environment
        } else {
            self.environment = (environment ?? ProcessInfo.processInfo.environment).merging(overrides) { $1 }
        }
        self.workingDirectory = workingDirectory
        standardInputSource = input
        standardOutputDestination = output
        standardErrorDestination = error
        self.newProcessGroup = newProcessGroup
    }

    /// Configures and starts a child in one step (see ``init(_:arguments:environment:overrides:workingDirectory:input:output:error:newProcessGroup:)``).
    package static func start(
        _ executable: String, arguments: [String] = [], environment: [String: String]? = nil,
        overrides: [String: String] = [:], workingDirectory: String? = nil, input: Input = .null,
        output: Output = .inherit, error: Output = .inherit, newProcessGroup: Bool = true
    ) throws -> ChildProcess {
        let child = ChildProcess(
            executable, arguments: arguments, environment: environment, overrides: overrides,
            workingDirectory: workingDirectory, input: input, output: output, error: error, newProcessGroup: newProcessGroup)
        try child.run()
        return child
    }

    deinit {
        if inputWriter >= 0 { close(inputWriter) }
        for fd in closeAfterSpawn { close(fd) }
    }

    /// The child's process id (0 before ``run()``).
    package var pid: pid_t { lock.withLock { spawnedPid } }

    /// How the child ended, or `nil` while it runs (or before ``run()``).
    package var termination: Termination? { lock.withLock { ended } }

    /// Starts the child. Throws ``SpawnError`` (saying what could not be
    /// done) when it cannot start, e.g. a missing executable or directory.
    package func run() throws {
        lock.lock()
        defer { lock.unlock() }
        precondition(!started, "ChildProcess.run() called twice for \(executablePath)")
        var parentEnds: [Stream: Int32] = [:]
        var childEnds: [Int32] = []
        defer {
            if !started {  // a failure: nothing is left open
                for fd in parentEnds.values { close(fd) }
                if inputWriter >= 0 { close(inputWriter) }
                inputWriter = -1
            }
            for fd in childEnds + closeAfterSpawn { close(fd) }
            closeAfterSpawn = []
            for handle in closeAfterSpawnHandles { try? handle.close() }
            closeAfterSpawnHandles = []
        }
        func makePipe() throws -> (read: Int32, write: Int32) {
            var ends: [Int32] = [-1, -1]
            guard th_pipe_cloexec(&ends) == 0 else {
                throw SpawnError(description: "cannot make a pipe for \(executablePath): \(String(cString: strerror(errno)))")
            }
            return (ends[0], ends[1])
        }

        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        switch standardInputSource {
        case .null:
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        case .pipe:
            let ends = try makePipe()
            inputWriter = ends.write
            childEnds.append(ends.read)
            posix_spawn_file_actions_adddup2(&actions, ends.read, 0)
        }
        for (stream, target) in [(Stream.output, Int32(1)), (.error, 2)] {
            switch stream == .output ? standardOutputDestination : standardErrorDestination {
            case .inherit:
                break
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0)
            case .pipe:
                let ends = try makePipe()
                parentEnds[stream] = ends.read
                childEnds.append(ends.write)
                posix_spawn_file_actions_adddup2(&actions, ends.write, target)
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, target, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            case .descriptor(let fd):
                posix_spawn_file_actions_adddup2(&actions, fd, target)
            case .standardOutput:
                precondition(stream == .error, ".standardOutput is for standard error only")
                posix_spawn_file_actions_adddup2(&actions, 1, 2)
            }
        }
        th_spawn_file_actions_closefrom(&actions, 3)
        if let workingDirectory { th_spawn_file_actions_chdir(&actions, workingDirectory) }

        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var everySignal = sigset_t()
        sigfillset(&everySignal)
        sigdelset(&everySignal, SIGKILL)
        sigdelset(&everySignal, SIGSTOP)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &everySignal)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if newProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let variables = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executablePath] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var spawned: pid_t = 0
        let status = posix_spawn(&spawned, executablePath, &actions, &attributes, argv, envp)
        guard status == 0 else {
            let directory = workingDirectory.map { " in \($0)" } ?? ""
            throw SpawnError(
                description: "cannot start \(executablePath)\(directory): \(String(cString: strerror(status)))"
                    + " (check that it exists and is executable, and that the directory and output files can be opened)")
        }
        let pid = spawned
        started = true
        spawnedPid = pid
        for (stream, fd) in parentEnds { captures[stream] = PipeCapture(fd: fd, name: "\(pid) \(stream)") }
        let reaper = Thread { [self] in reap(pid) }
        reaper.name = "ChildProcess \(pid) waiter"
        reaper.start()
    }

    /// Waits (on the dedicated thread) until the child exits, then reaps it
    /// under the lock and wakes every waiter.
    private func reap(_ pid: pid_t) {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
        lock.lock()
        var status: Int32 = 0
        var reaped: pid_t
        repeat { reaped = waitpid(pid, &status, 0) } while reaped == -1 && errno == EINTR
        let result: Termination =
            reaped != pid
            ? .reapedElsewhere
            : th_wait_signaled(status) != 0 ? .signaled(th_wait_term_signal(status)) : .exited(th_wait_exit_code(status))
        ended = result
        let woken = waiters
        waiters = [:]
        lock.broadcast()
        lock.unlock()
        for waiter in woken.values { waiter.resume(returning: result) }
    }

    /// Sends `signal` to the child, unless it has already been reaped (its pid may name another process by then).
    /// Returns whether it was sent.
    @discardableResult
    package func signal(_ signal: Int32) -> Bool {
        lock.withLock {
            guard started, ended == nil else { return false }
            return kill(spawnedPid, signal) == 0
        }
    }

    /// Sends `signal` to the child's process group (see ``newProcessGroup``), unless the child has been reaped.
    @discardableResult
    package func signalGroup(_ signal: Int32) -> Bool {
        lock.withLock {
            guard started, ended == nil, newProcessGroup else { return false }
            return kill(-spawnedPid, signal) == 0
        }
    }

    /// Waits until the child exits, without blocking a thread.
    package func waitForExit() async -> Termination {
        // Without a timeout, only the child's exit resumes the wait.
        await wait(timeout: nil)!
    }

    /// Waits until the child exits or `timeout` passes, without blocking a
    /// thread; `nil` when it still runs (it is left running).
    package func waitForExit(timeout: Duration) async -> Termination? {
        await wait(timeout: timeout)
    }

    private func wait(timeout: Duration?) async -> Termination? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Termination?, Never>) in
            lock.lock()
            precondition(started, "wait for a ChildProcess that was not started")
            if let ended {
                lock.unlock()
                continuation.resume(returning: ended)
                return
            }
            let id = nextWaiter
            nextWaiter += 1
            waiters[id] = continuation
            lock.unlock()
            guard let timeout else { return }
            Task { [self] in
                try? await Task.sleep(for: timeout)
                lock.withLock { waiters.removeValue(forKey: id) }?.resume(returning: nil)
            }
        }
    }

    /// Blocks the calling thread until the child exits or `timeout` (if any)
    /// passes; `nil` on timeout. For synchronous helpers: async code uses
    /// ``waitForExit()``.
    package func waitBlocking(timeout: TimeInterval? = nil) -> Termination? {
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        lock.lock()
        defer { lock.unlock() }
        precondition(started, "wait for a ChildProcess that was not started")
        while ended == nil {
            if let deadline {
                if !lock.wait(until: deadline) { break }
            } else {
                lock.wait()
            }
        }
        return ended
    }
}
