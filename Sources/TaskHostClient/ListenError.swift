import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Why listening failed.
public enum ListenError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The host refused the listener: `status` (401: the token is missing,
    /// malformed, unknown or revoked; 403: it may not listen to this app; 429:
    /// too many failed authentications), with the host's description.
    case refused(status: Int, description: String)
    /// Nothing answered as a taskhost server with listeners at the URL.
    case unreachable(String)
    /// The connection closed.
    case closed

    public var description: String {
        switch self {
        case .refused(let status, let description): "the host refused the listener (\(status)): \(description)"
        case .unreachable(let why): why
        case .closed: "the connection to the host closed"
        }
    }

    /// Why a connection failed, in words: `connection refused`, not
    /// `NIOConnectionError(... SingleConnectionFailure(...))`. The CLI's push
    /// client words its connection failures with it too.
    package static func reason(_ error: any Error) -> String {
        if let failure = error as? NIOConnectionError {
            if let first = failure.connectionErrors.first { return reason(first.error) }
            if failure.dnsAError != nil || failure.dnsAAAAError != nil { return "cannot resolve the host name" }
        }
        if let io = error as? IOError {
            let text = String(cString: strerror(io.errnoCode))
            return text.prefix(1).lowercased() + text.dropFirst()
        }
        if case ChannelError.connectTimeout = error { return "no answer within 10 seconds" }
        return "\(error)"
    }

    /// Asks the host why it refused the upgrade: the same request as plain
    /// HTTP gets the refusal's status and description (426 when the token was
    /// fine). Plain NIO, not `URLSession`, whose FoundationNetworking would load
    /// libcurl into every process that links this module (the `taskhost` CLI).
    static func refused(url: String, token: String) async -> ListenError {
        guard let target = URL(string: url), let host = target.host, !host.isEmpty else { return .unreachable("not a URL: \(url)") }
        let port = target.port ?? 80
        var path = target.path.isEmpty ? "/" : target.path
        if let query = target.query { path += "?" + query }
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
            return try await channel.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
                head.headers.add(name: "Host", value: "\(host):\(port)")
                head.headers.add(name: "Authorization", value: "Bearer " + token)
                head.headers.add(name: "Connection", value: "close")
                try await outbound.write(.head(head))
                try await outbound.write(.end(nil))
                var status = 0
                var body: [UInt8] = []
                for try await part in inbound {
                    switch part {
                    case .head(let head): status = Int(head.status.code)
                    case .body(var buffer): body += buffer.readBytes(length: buffer.readableBytes) ?? []
                    case .end:
                        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                        if status == 404 { return .unreachable("\(url) answered 404: is it a taskhost server that serves listeners?") }
                        return .refused(status: status, description: text.isEmpty ? "no description" : text)
                    }
                }
                return .unreachable("\(host):\(port) closed the connection without an answer")
            }
        } catch {
            return .unreachable("cannot connect to \(host):\(port): \(reason(error)) (is taskhost serve running?)")
        }
    }
}
