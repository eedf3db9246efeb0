#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Blocking reads and writes of whole frames on a descriptor, retrying on
/// `EINTR` and short writes.
package enum FileDescriptorIO {
    /// Writes every byte to a socket; returns `false` when the other end is
    /// gone, or when a send timeout (`SO_SNDTIMEO`) expired because the other
    /// end stopped reading.
    package static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written > 0 {
                offset += written
            } else if written < 0, errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }

    /// Writes every byte to a file, pipe or terminal with `write(2)` (not a
    /// socket call, which fails on those), retrying on `EINTR` and short
    /// writes; returns `0`, or the `errno` of the write that failed.
    @discardableResult
    package static func writeAll(toFile fd: Int32, _ bytes: [UInt8]) -> Int32 {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written > 0 {
                offset += written
            } else if written < 0, errno == EINTR {
                continue
            } else {
                return written < 0 ? errno : EIO
            }
        }
        return 0
    }

    /// Reads up to `capacity` bytes: an empty result means end of stream,
    /// `nil` means there is nothing to read right now (non-blocking descriptor).
    package static func read(_ fd: Int32, capacity: Int = 64 * 1024) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: capacity)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count >= 0 { return Array(buffer.prefix(count)) }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return nil }
            return []
        }
    }

    /// Reads the next frame from a blocking descriptor; `nil` at a clean end of stream.
    package static func readFrame(_ fd: Int32, decoder: inout FrameDecoder) throws(IPCError) -> Frame? {
        while true {
            if let frame = try decoder.next() { return frame }
            guard let bytes = read(fd), !bytes.isEmpty else {
                try decoder.finish()
                return nil
            }
            decoder.append(bytes)
        }
    }
}
