package import Hummingbird
import NIOCore

/// `GET` (and `HEAD`) `/healthz` and `/readyz`, on the push listener and on
/// the operator listener alike.
///
/// - `/healthz`: 200 `ok` while the process answers.
/// - `/readyz`: 200 `ready`, or 503 with one line saying why not (see ``Health``).
package enum HealthRoutes {
    /// The paths these routes serve.
    package static let paths: Set<String> = ["/healthz", "/readyz"]

    /// Adds the health routes to `router`.
    package static func add<Context: RequestContext>(to router: Router<Context>, health: Health) {
        router.get("/healthz") { _, _ -> Response in
            text(.ok, "ok")
        }
        router.get("/readyz") { _, _ -> Response in
            switch await health.readiness() {
            case .ready:
                return text(.ok, "ready")
            case .notReady(let reason):
                let line = reason.split(whereSeparator: \.isNewline).joined(separator: " ")
                return text(.serviceUnavailable, "not ready: " + line)
            }
        }
    }

    /// A `text/plain` answer of one line, never cached.
    static func text(_ status: HTTPResponse.Status, _ line: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: line + "\n")))
    }
}
