import Foundation
import Synchronization

/// The server's public URL as app servers reach it: the base of Web Push
/// message URIs (`Location`), and the origin VAPID tokens must name as their
/// `aud`. Known once the port is bound (`--port 0`), so it is set then.
package final class PublicOrigin: Sendable {
    /// The URL and its origin, computed once per change rather than per push.
    private let url: Mutex<(base: String, origin: String)>

    /// An origin for `url` (set it later when the port is not known yet).
    package init(_ url: String = "") {
        self.url = Mutex((Self.trimmed(url), Self.origin(of: Self.trimmed(url))))
    }

    /// Sets the public URL.
    package func set(_ url: String) {
        let base = Self.trimmed(url)
        let origin = Self.origin(of: base)
        self.url.withLock { $0 = (base, origin) }
    }

    /// The public URL, without a trailing slash.
    package var baseURL: String { url.withLock { $0.base } }

    /// The origin of the public URL (scheme, host and port as written, no path):
    /// what a sender's VAPID `aud` must be.
    package var origin: String { url.withLock { $0.origin } }

    /// `scheme://authority` of `url`.
    package static func origin(of url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return url[..<schemeEnd.lowerBound].lowercased() + "://" + authority.lowercased()
    }

    /// The URL of a server bound to `bind`:`port`, reached from this machine
    /// (the loopback address when it is bound to every address).
    package static func defaultURL(bind: String, port: Int) -> String {
        let host = bind == "0.0.0.0" || bind.isEmpty ? "127.0.0.1" : bind == "::" ? "::1" : bind
        let urlHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "http://\(urlHost):\(port)"
    }

    private static func trimmed(_ url: String) -> String {
        url.hasSuffix("/") ? String(url.dropLast()) : url
    }
}
