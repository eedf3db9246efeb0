import Foundation
import Logging
import NIOCore
import NIOWebSocket

/// Who may listen on an upgraded connection: checked before the upgrade.
package struct ListenerGrant: Sendable, Equatable {
    /// The app whose pushes it sees.
    package var app: String
    /// Whether it may claim them (`?claim=true`).
    package var claims: Bool
}

/// One listener's WebSocket connection: registers it with the hub, writes
/// what the hub queues for it, reads its `claim <id>` messages, answers pings
/// and the close handshake.
enum ListenerConnection {
    /// The largest message a listener may send (a claim is about 40 bytes).
    static let maxInbound = 4096
    /// The kernel's send buffer of a listener's socket: a listener that does not
    /// read fills it, then its buffer in the hub, and is dropped, without the
    /// kernel's buffer autotuning growing to megabytes per listener first.
    static let socketSendBuffer: SocketOptionValue = 128 * 1024

    /// Serves `channel` for `grant` until either side closes it or the hub drops it.
    static func serve(
        _ channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, grant: ListenerGrant, hub: ListenerHub, logger: Logger
    ) async {
        let raw = channel.channel
        _ = try? await raw.setOption(ChannelOptions.socketOption(.so_sndbuf), value: socketSendBuffer).get()
        let listener = hub.register(app: grant.app, claims: grant.claims) { raw.close(promise: nil) }
        defer { hub.unregister(listener) }
        _ = listener.send(.text(ListenerMessage.ready(app: grant.app, claims: grant.claims)))
        do {
            try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await item in listener.outgoing {
                            switch item {
                            case .text(let text):
                                try await outbound.write(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text)))
                            case .pong(let data):
                                try await outbound.write(WebSocketFrame(fin: true, opcode: .pong, data: ByteBuffer(bytes: data)))
                            }
                        }
                        if let reason = listener.droppedBecause {
                            try? await outbound.write(close(.policyViolation, reason))
                        }
                    }
                    group.addTask {
                        defer { listener.continuation.finish() }
                        try await read(inbound, listener: listener, hub: hub, outbound: outbound)
                    }
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("listener connection ended", metadata: ["app": "\(grant.app)", "error": "\(error)"])
        }
    }

    /// Reads the listener's messages until it closes.
    private static func read(
        _ inbound: NIOAsyncChannelInboundStream<WebSocketFrame>, listener: ListenerHub.Listener, hub: ListenerHub,
        outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>
    ) async throws {
        var message: [UInt8] = []
        var inText = false
        for try await frame in inbound {
            switch frame.opcode {
            case .ping:
                _ = listener.send(.pong(Array(buffer: frame.unmaskedData)))
            case .connectionClose:
                // Echo the close (RFC 6455 section 5.5.1); the writer ends with the stream.
                listener.continuation.finish()
                try? await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer()))
                return
            case .text, .continuation:
                guard (frame.opcode == .text) != inText else {
                    try? await outbound.write(close(.protocolError, "a fragmented message must start with a text frame"))
                    return
                }
                inText = !frame.fin
                message += Array(buffer: frame.unmaskedData)
                guard message.count <= maxInbound else {
                    try? await outbound.write(close(.messageTooLarge, "a listener's message is at most \(maxInbound) bytes"))
                    return
                }
                guard frame.fin else { continue }
                let text = String(decoding: message, as: UTF8.self)
                message.removeAll(keepingCapacity: true)
                await handle(text, listener: listener, hub: hub)
            case .pong:
                continue
            default:
                try? await outbound.write(close(.unacceptableData, "send text messages: claim <trigger id>"))
                return
            }
        }
    }

    /// One text message from the listener: `claim <trigger id>`.
    private static func handle(_ text: String, listener: ListenerHub.Listener, hub: ListenerHub) async {
        let words = text.split(whereSeparator: \.isWhitespace)
        guard words.count == 2, words[0] == "claim", words[1].count <= 64 else {
            let answer = ListenerHub.ClaimAnswer.refused(
                "unknown message \"\(text.prefix(40))\": the only message a listener sends is claim <trigger id>")
            _ = listener.send(.text(ListenerMessage.claim("", answer)))
            return
        }
        let id = String(words[1])
        let answer = await hub.claim(id, by: listener)
        _ = listener.send(.text(ListenerMessage.claim(id, answer)))
    }

    /// A close frame with `code` and `reason` (at most 123 bytes of it).
    private static func close(_ code: WebSocketErrorCode, _ reason: String) -> WebSocketFrame {
        var data = ByteBuffer()
        data.write(webSocketErrorCode: code)
        data.writeString(String(decoding: Array(reason.utf8.prefix(123)), as: UTF8.self))
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
    }
}
