/// The control protocol between the host and a zygote (`taskhost-worker
/// --zygote`), and between the host and the workers a zygote forks.
///
/// A zygote's life on its control socket (descriptor 3, a Unix stream socket):
/// 1. The host sends a framed ``HostMessage/check(libraryPath:entryPoints:sandbox:symbols:)``;
///    the zygote loads the library and answers a framed `checkResult`
///    (or a `result` saying why it cannot serve).
/// 2. Then, any number of times: the host sends a *fork request*, the byte
///    ``forkRequest`` with ``forkDescriptorCount`` descriptors as
///    `SCM_RIGHTS` (the new worker's IPC socket, standard output, standard
///    error, in that order); the zygote forks a child on them and answers a
///    ``ForkReply`` of ``ForkReply/size`` bytes.
/// 3. The host closes the control socket to retire the zygote.
///
/// A forked child waits on its own IPC socket for the host to hand it an
/// instance: the byte ``handOverByte`` with zero or one descriptor (its
/// working directory), then a framed ``HostMessage/start(_:)``.
package enum ZygoteProtocol {
    /// The command-line argument that makes a worker a zygote.
    package static let argument = "--zygote"
    /// The byte of a fork request.
    package static let forkRequest: UInt8 = 1
    /// How many descriptors travel with a fork request: IPC socket, standard output, standard error.
    package static let forkDescriptorCount = 3
    /// The byte with which the host hands a forked worker its instance: sent
    /// with the working directory's descriptor (`SCM_RIGHTS`), if any, right
    /// before the start message.
    package static let handOverByte: UInt8 = 2

    /// The zygote's answer to a fork request: one little-endian `Int32`, the
    /// child's pid (positive), the `errno` of a failed fork (negated), or
    /// ``notSingleThreadedCode``.
    package enum ForkReply: Sendable, Equatable {
        /// The zygote forked a worker with this pid.
        case forked(pid: Int32)
        /// The fork (or the request) failed with this `errno`; the zygote serves on.
        case failed(errno: Int32)
        /// The zygote is no longer single-threaded (the plugin started a
        /// thread): it cannot fork safely, and exits after this answer.
        case notSingleThreaded

        /// The encoded size of a reply.
        package static let size = 4
        /// The wire value of ``notSingleThreaded`` (below every negated `errno`).
        package static let notSingleThreadedCode: Int32 = -100_000

        /// The reply's wire value.
        package var wireValue: Int32 {
            switch self {
            case .forked(let pid): pid
            case .failed(let errno): -errno
            case .notSingleThreaded: Self.notSingleThreadedCode
            }
        }

        /// Reads a wire value; `nil` for 0, which no zygote sends.
        package init?(wireValue: Int32) {
            switch wireValue {
            case 0: return nil
            case Self.notSingleThreadedCode: self = .notSingleThreaded
            case 1...: self = .forked(pid: wireValue)
            default: self = .failed(errno: -wireValue)
            }
        }

        /// The reply as it is written on the control socket.
        package var encoded: [UInt8] {
            withUnsafeBytes(of: wireValue.littleEndian) { Array($0) }
        }

        /// Decodes a reply of exactly ``size`` bytes; `nil` for any other length or a 0.
        package init?(bytes: [UInt8]) {
            guard bytes.count == Self.size else { return nil }
            self.init(wireValue: Int32(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }))
        }
    }
}
