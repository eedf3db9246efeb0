import Foundation
package import TaskHostShared

/// How a task instance ended, as the host recorded it.
package enum InstanceOutcome: Sendable, Equatable, CustomStringConvertible {
    /// `run` returned and every deferral completed.
    case completed
    /// `run` threw; the error's description.
    case failed(String)
    /// The instance was canceled and finished within its grace period.
    case canceled(BackgroundTaskCancellationReason)
    /// The instance ran past its time limit, was canceled with
    /// `ExecutionTimeExceeded`, did not finish within its grace period, and was killed.
    case timedOut
    /// The instance was canceled for another reason, did not finish within its
    /// grace period, and was killed.
    case killed(BackgroundTaskCancellationReason)
    /// The worker process died of a signal (a crash, `fatalError`, `abort`, an
    /// out-of-memory kill).
    case crashed(signal: Int32)
    /// The worker process exited without reporting an outcome (the plugin called `exit`).
    case exited(code: Int32)
    /// The worker sent something the host could not accept; it was killed.
    case protocolError(String)
    /// Nothing ran: the library, the entry point, or the plugin's build is unusable.
    case refused(String)
    /// The process that supervised the instance (`taskhost serve` or
    /// `taskhost run`) stopped before the instance ended, so nothing recorded
    /// how it ended; the detail names that process. Settled the next time
    /// the store is opened.
    case abandoned(String)

    /// Whether the instance did its work to the end.
    package var isSuccess: Bool { self == .completed }

    /// The outcome's code as stored and printed: `completed`, `crashed`, …
    package var code: String {
        switch self {
        case .completed: "completed"
        case .failed: "failed"
        case .canceled: "canceled"
        case .timedOut: "timed-out"
        case .killed: "killed"
        case .crashed: "crashed"
        case .exited: "exited"
        case .protocolError: "protocol-error"
        case .refused: "refused"
        case .abandoned: "abandoned"
        }
    }

    /// What goes with the code: a reason, a signal, a message.
    package var detail: String {
        switch self {
        case .completed, .timedOut: ""
        case .failed(let message), .protocolError(let message), .refused(let message), .abandoned(let message): message
        case .canceled(let reason), .killed(let reason): reason.description
        case .crashed(let signal): String(signal)
        case .exited(let code): String(code)
        }
    }

    /// ``code`` and ``detail`` for a table cell, with a crash's signal named:
    /// `crashed: SIGILL (4)`, `failed: <message>`, `completed`.
    package var summary: String {
        switch self {
        case .crashed(let signal): "crashed: \(Self.signalName(signal)) (\(signal))"
        default: detail.isEmpty ? code : "\(code): \(detail)"
        }
    }

    /// A phrase for people: `crashed (signal 4, SIGILL)`.
    package var description: String {
        switch self {
        case .completed: "completed"
        case .failed(let message): "failed: \(message)"
        case .canceled(let reason): "canceled (\(reason))"
        case .timedOut: "timed out (canceled with ExecutionTimeExceeded, killed after the grace period)"
        case .killed(let reason): "killed after cancellation (\(reason)) and the grace period"
        case .crashed(let signal) where signal == SIGXCPU: "crashed (signal \(signal), SIGXCPU: CPU time limit exceeded)"
        case .crashed(let signal) where signal == SIGXFSZ: "crashed (signal \(signal), SIGXFSZ: file size limit exceeded)"
        case .crashed(let signal): "crashed (signal \(signal), \(Self.signalName(signal)))"
        case .exited(let code): "exited with status \(code) without finishing run"
        case .protocolError(let message): "protocol error: \(message)"
        case .refused(let message): "refused: \(message)"
        case .abandoned(let message): "abandoned: \(message)"
        }
    }

    /// Rebuilds an outcome from its stored code and detail.
    package init?(code: String, detail: String) {
        switch code {
        case "completed": self = .completed
        case "failed": self = .failed(detail)
        case "canceled": self = .canceled(BackgroundTaskCancellationReason(name: detail) ?? .abort)
        case "timed-out": self = .timedOut
        case "killed": self = .killed(BackgroundTaskCancellationReason(name: detail) ?? .abort)
        case "crashed": self = .crashed(signal: Int32(detail) ?? 0)
        case "exited": self = .exited(code: Int32(detail) ?? 0)
        case "protocol-error": self = .protocolError(detail)
        case "refused": self = .refused(detail)
        case "abandoned": self = .abandoned(detail)
        default: return nil
        }
    }

    package static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [
            1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
            9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 24: "SIGXCPU", 25: "SIGXFSZ", 31: "SIGSYS",
        ]
        return names[signal] ?? "signal \(signal)"
    }
}
