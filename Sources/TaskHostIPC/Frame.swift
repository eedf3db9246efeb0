/// Why bytes on the IPC socket could not be understood.
package enum IPCError: Error, Equatable, CustomStringConvertible {
    /// A field ends past the end of its frame.
    case truncated(String)
    /// A string field is not UTF-8.
    case invalidUTF8(String)
    /// A frame declares a body larger than the IPC socket allows.
    case frameTooLarge(size: Int, limit: Int)
    /// A frame has no body (not even its type byte).
    case emptyFrame
    /// A frame's type byte names no known message.
    case unknownMessage(UInt8)
    /// A message has bytes left over after its last field.
    case trailingBytes(String, Int)
    /// The IPC socket closed in the middle of a frame.
    case closedMidFrame(buffered: Int)
    /// A value in a field is out of range.
    case invalidValue(String)

    package var description: String {
        switch self {
        case .truncated(let field): "frame is truncated in field \"\(field)\""
        case .invalidUTF8(let field): "field \"\(field)\" is not valid UTF-8"
        case .frameTooLarge(let size, let limit): "frame of \(size) bytes exceeds the limit of \(limit) bytes"
        case .emptyFrame: "frame has no message type"
        case .unknownMessage(let type): "unknown message type \(type)"
        case .trailingBytes(let message, let count): "\(message) message has \(count) unexpected trailing bytes"
        case .closedMidFrame(let buffered): "the IPC socket closed in the middle of a frame (\(buffered) bytes buffered)"
        case .invalidValue(let what): "invalid value: \(what)"
        }
    }
}

/// One message on the IPC socket between host and worker: a 4-byte little-endian
/// body length, then the body: a type byte and the message's fields.
package struct Frame: Sendable, Equatable {
    /// Largest body the host or worker accepts: room for a push payload, a
    /// composite setting and a long log line, and small enough that a hostile
    /// worker cannot make the host buffer much.
    package static let defaultMaxBodySize = 1 << 20

    /// The message type.
    package var type: UInt8
    /// The message's fields.
    package var payload: [UInt8]

    /// Creates a frame.
    package init(type: UInt8, payload: [UInt8]) {
        self.type = type
        self.payload = payload
    }

    /// The frame as it goes on the wire.
    package var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.u32(UInt32(payload.count + 1))
        writer.u8(type)
        var bytes = writer.bytes
        bytes.append(contentsOf: payload)
        return bytes
    }
}

/// Splits a byte stream into frames, however the bytes arrive.
package struct FrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    /// The largest body accepted.
    package let maxBodySize: Int

    /// Creates a decoder that refuses bodies over `maxBodySize` bytes.
    package init(maxBodySize: Int = Frame.defaultMaxBodySize) {
        self.maxBodySize = maxBodySize
    }

    /// Bytes received but not yet part of a whole frame.
    package var bufferedCount: Int { buffer.count - start }

    /// Adds bytes read from the IPC socket.
    package mutating func append<C: Collection<UInt8>>(_ bytes: C) {
        if start > 0, start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame, or `nil` until more bytes arrive.
    package mutating func next() throws(IPCError) -> Frame? {
        guard bufferedCount >= 4 else { return nil }
        var length = 0
        for i in 0..<4 { length |= Int(buffer[start + i]) << (8 * i) }
        guard length > 0 else { throw .emptyFrame }
        guard length <= maxBodySize else { throw .frameTooLarge(size: length, limit: maxBodySize) }
        guard bufferedCount >= 4 + length else { return nil }
        let type = buffer[start + 4]
        let payload = Array(buffer[(start + 5)..<(start + 4 + length)])
        start += 4 + length
        if start > 64 * 1024, start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        return Frame(type: type, payload: payload)
    }

    /// Call at end of stream: throws when a partial frame is left.
    package func finish() throws(IPCError) {
        if bufferedCount > 0 { throw .closedMidFrame(buffered: bufferedCount) }
    }
}

/// Exit statuses with a meaning between worker and host.
package enum WorkerExitCode {
    /// The worker lost its IPC socket to the host (the host died, or the plugin
    /// closed or broke descriptor 3) and exited.
    package static let ipcLost: Int32 = 70
    /// The worker could not start a thread it needs (the instance's process
    /// limit, or the machine's, was reached) and exited.
    package static let noThread: Int32 = 71
}
