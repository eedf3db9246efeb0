import Foundation

/// Where the operator listener (health, metrics and other operator pages)
/// binds: `--metrics-bind HOST:PORT`, `off`, or by default the loopback
/// address on the push port + 1.
///
/// The default is loopback-only because what it serves is for the host's
/// operator (metrics name tasks and apps); to scrape it from elsewhere, bind
/// it to an address of a private network or put an authenticating proxy in front.
package enum OperatorBind: Sendable, Equatable, CustomStringConvertible {
    /// No operator listener.
    case off
    /// `127.0.0.1` on the push port + 1 (any free port when the push port is 0).
    case loopbackNextToPush
    /// This address and port (port 0: any free one).
    case address(host: String, port: Int)

    /// Why a `--metrics-bind` value was refused, with what to write instead.
    package struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The value given.
        package var value: String
        /// What was wrong, and the accepted forms.
        package var description: String
    }

    /// Parses `off`, `HOST:PORT`, `[IPV6]:PORT` or `:PORT` (loopback).
    package init(parsing text: String) throws(ParseError) {
        let value = text.trimmingCharacters(in: .whitespaces)
        let forms = "write HOST:PORT (127.0.0.1:9090, [::1]:9090, 0.0.0.0:9090, :9090 for loopback) or off"
        if value.lowercased() == "off" {
            self = .off
            return
        }
        guard let colon = value.lastIndex(of: ":") else {
            throw ParseError(value: text, description: "--metrics-bind \"\(text)\" has no port: \(forms)")
        }
        var host = String(value[..<colon])
        let portText = value[value.index(after: colon)...]
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ParseError(value: text, description: "--metrics-bind \"\(text)\": the port must be a number from 0 to 65535: \(forms)")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "127.0.0.1" }
        guard !host.contains("[") && !host.contains("]") && !host.contains(where: \.isWhitespace) else {
            throw ParseError(value: text, description: "--metrics-bind \"\(text)\": malformed address: \(forms)")
        }
        if host.contains(":") && !value.hasPrefix("[") {
            throw ParseError(value: text, description: "--metrics-bind \"\(text)\": put an IPv6 address in brackets: \(forms)")
        }
        self = .address(host: host, port: port)
    }

    /// The address and port to bind next to a push listener on `pushPort`
    /// (`nil`: none). The default takes any free port when the push port
    /// is 0, or 65535 (which has no port + 1; the CLI refuses that case).
    package func resolve(pushPort: Int) -> (host: String, port: Int)? {
        switch self {
        case .off:
            return nil
        case .address(let host, let port):
            return (host, port)
        case .loopbackNextToPush:
            return ("127.0.0.1", pushPort == 0 || pushPort >= 65535 ? 0 : pushPort + 1)
        }
    }

    package var description: String {
        switch self {
        case .off: "off"
        case .loopbackNextToPush: "127.0.0.1:<push port + 1>"
        case .address(let host, let port): (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        }
    }
}
