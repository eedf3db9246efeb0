import Glibc
import NIOCore

/// Why the daemon could not run: a ``code`` that code acts on, the error
/// underneath (with its `errno` where there is one), and a description in
/// words that say what to do.
package struct DaemonError: Error, CustomStringConvertible {
    /// What went wrong, for code to act on (the description is for people).
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String {
            case addressInUse, addressNotAvailable, permissionDenied
        }

        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// Another process listens on the address (`EADDRINUSE`).
        package static let addressInUse = Code(.addressInUse)
        /// The address to bind is not one of this machine's (`EADDRNOTAVAIL`).
        package static let addressNotAvailable = Code(.addressNotAvailable)
        /// The port needs privileges this process lacks (`EACCES`).
        package static let permissionDenied = Code(.permissionDenied)

        package var description: String { value.rawValue }
    }

    /// What went wrong.
    package var code: Code
    /// The error the daemon met (NIO's `IOError` for a failed bind).
    package var underlying: any Error
    /// The `errno` underneath, when the underlying error has one.
    package var errno: Int32?
    /// What happened and what to do.
    package var description: String

    /// Creates an error.
    package init(code: Code, underlying: any Error, errno: Int32? = nil, description: String) {
        self.code = code
        self.underlying = underlying
        self.errno = errno
        self.description = description
    }

    /// The daemon's error for `error` met while binding `host`:`port`, or
    /// `nil` when it is none this type knows (the caller rethrows it as it is).
    /// Recognised by the `errno` of NIO's `IOError`, never by its text.
    ///
    /// `option` names the listener: the push listener (`--bind`, `--port`) or
    /// the operator listener (`--metrics-bind`).
    init?(listening error: any Error, host: String, port: Int, option: ListenerOption = .push) {
        if let error = error as? DaemonError {
            self = error
            return
        }
        guard let io = error as? IOError else { return nil }
        let address = (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        let (port, bind) = option == .push ? ("--port", "--bind") : ("--metrics-bind (or off)", "--metrics-bind (or off)")
        switch io.errnoCode {
        case EADDRINUSE:
            self.init(
                code: .addressInUse, underlying: error, errno: io.errnoCode,
                description:
                    "cannot listen on \(address): the address is in use (is another taskhost serve running? choose another \(port))")
        case EADDRNOTAVAIL:
            self.init(
                code: .addressNotAvailable, underlying: error, errno: io.errnoCode,
                description: "cannot listen on \(address): the address is not one of this machine's (choose another \(bind))")
        case EACCES:
            self.init(
                code: .permissionDenied, underlying: error, errno: io.errnoCode,
                description: "cannot listen on \(address): permission denied (ports below 1024 need privileges; choose another \(port))")
        default:
            return nil
        }
    }
}

/// Which listener's options a ``DaemonError`` about binding names.
enum ListenerOption {
    /// The push listener: `--bind` and `--port`.
    case push
    /// The operator listener: `--metrics-bind`.
    case metricsBind
}
