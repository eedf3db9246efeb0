package import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The members of Foundation's `Process` that tests use, with the same names
/// and meaning, so code written against `Process` (`ServeProcess.process`,
/// `TaskHostCommand.start`) compiles and behaves the same with a
/// ``ChildProcess``.
extension ChildProcess {
    /// Why a child ended, as `Process.TerminationReason` says it.
    package enum TerminationReason: Sendable {
        case exit, uncaughtSignal
    }

    /// An unconfigured child: set ``executableURL`` (and the rest) before ``run()``.
    package convenience init() {
        self.init("")
    }

    /// The executable, as a file URL (``executablePath``).
    package var executableURL: URL? {
        get { executablePath.isEmpty ? nil : URL(fileURLWithPath: executablePath) }
        set { executablePath = newValue?.path ?? "" }
    }

    /// The working directory, as a file URL (``workingDirectory``).
    package var currentDirectoryURL: URL? {
        get { workingDirectory.map { URL(fileURLWithPath: $0) } }
        set { workingDirectory = newValue?.path }
    }

    /// Where standard output goes, set as with `Process`: a `FileHandle`
    /// (`FileHandle.nullDevice` for `/dev/null`), a `Pipe`, or `nil` to
    /// inherit the test process's. Reading it back gives what was set, which
    /// it keeps alive (a `Pipe`'s reading end stays open while it is set).
    package var standardOutput: Any? {
        get { assigned[.output] ?? standardOutputDestination }
        set {
            standardOutputDestination = destination(newValue)
            assigned[.output] = newValue
        }
    }

    /// Where standard error goes; see ``standardOutput``.
    package var standardError: Any? {
        get { assigned[.error] ?? standardErrorDestination }
        set {
            standardErrorDestination = destination(newValue)
            assigned[.error] = newValue
        }
    }

    /// A `Process`-style destination as an ``Output``: a `FileHandle` or a
    /// `Pipe`'s writing end is duplicated (close-on-exec) until the spawn, and
    /// a `Pipe`'s writing end is closed in this process after it, as
    /// `Process` does, so the reader sees the end when the child exits.
    private func destination(_ value: Any?) -> Output {
        switch value {
        case nil:
            return .inherit
        case let output as Output:
            return output
        case let handle as FileHandle:
            if handle === FileHandle.nullDevice { return .null }
            return keepUntilSpawn(handle.fileDescriptor)
        case let pipe as Pipe:
            closeAfterSpawnHandles.append(pipe.fileHandleForWriting)
            return keepUntilSpawn(pipe.fileHandleForWriting.fileDescriptor)
        default:
            preconditionFailure(
                "standardOutput/standardError take a FileHandle, a Pipe, a ChildProcess.Output or nil, not \(type(of: value!))")
        }
    }

    private func keepUntilSpawn(_ fd: Int32) -> Output {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        precondition(copy >= 0, "cannot duplicate descriptor \(fd): \(String(cString: strerror(errno)))")
        closeAfterSpawn.append(copy)
        return .descriptor(copy)
    }

    /// The child's process id (``pid``).
    package var processIdentifier: Int32 { pid }

    /// Whether the child was started and has not been seen to exit.
    package var isRunning: Bool { pid != 0 && termination == nil }

    /// The exit status, or the number of the signal that killed the child
    /// (as `Process` says it); -1 when other code reaped it. The child must have exited.
    package var terminationStatus: Int32 {
        switch termination {
        case .exited(let status)?: status
        case .signaled(let signal)?: signal
        case .reapedElsewhere?: -1
        case nil: preconditionFailure("terminationStatus of \(executablePath) asked while it still runs: wait for it first")
        }
    }

    /// Whether the child exited or a signal killed it. The child must have exited.
    package var terminationReason: TerminationReason {
        switch termination {
        case .exited?, .reapedElsewhere?: .exit
        case .signaled?: .uncaughtSignal
        case nil: preconditionFailure("terminationReason of \(executablePath) asked while it still runs: wait for it first")
        }
    }

    /// Blocks the calling thread until the child exits (``waitBlocking(timeout:)``).
    package func waitUntilExit() {
        _ = waitBlocking()
    }

    /// Sends `SIGTERM`.
    package func terminate() {
        signal(SIGTERM)
    }

    /// Sends `SIGINT`.
    package func interrupt() {
        signal(SIGINT)
    }
}
