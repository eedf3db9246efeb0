import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import TaskHostClient

/// One HTTP/1.1 POST, for `taskhost push`.
///
/// Built on swift-nio, which the server already links, rather than
/// `URLSession`: its FoundationNetworking would load libcurl and a TLS stack
/// (about 6 MB of resident memory) into every taskhost process, the daemon's
/// included. The push server speaks plain HTTP; where it sits behind a TLS
/// proxy, push through the proxy with curl.
enum PushClient {
    /// The status, headers and body of the answer.
    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    /// Why the request could not be made or answered.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Posts `body` to `url` (an `http://` URL) with `headers`.
    static func post(_ url: URL, headers: [(String, String)], body: [UInt8]) async throws -> Response {
        guard url.scheme == "http", let host = url.host, !host.isEmpty else {
            throw Failure(description: "\(url) is not an http:// URL (for https, push through curl)")
        }
        let port = url.port ?? 80
        var target = url.path.isEmpty ? "/" : url.path
        if let query = url.query { target += "?" + query }
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw Failure(description: "cannot connect to \(host):\(port): \(ListenError.reason(error)) (is taskhost serve running?)")
        }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target)
            head.headers.add(name: "Host", value: url.port == nil ? host : "\(host):\(port)")
            for (name, value) in headers { head.headers.add(name: name, value: value) }
            head.headers.add(name: "Content-Length", value: String(body.count))
            head.headers.add(name: "Connection", value: "close")
            try await outbound.write(.head(head))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
            try await outbound.write(.end(nil))
            var response: Response?
            for try await part in inbound {
                switch part {
                case .head(let head):
                    response = Response(status: Int(head.status.code), headers: head.headers, body: [])
                case .body(var buffer):
                    response?.body += buffer.readBytes(length: buffer.readableBytes) ?? []
                case .end:
                    if let response { return response }
                }
            }
            throw Failure(description: "the connection closed before a whole answer came")
        }
    }
}
