package import Hummingbird
import NIOCore

/// Why the status page, or an instance's log, was not served: a ``code`` for
/// code to act on and a message that says what to do. It renders itself as a
/// `text/plain` answer (Hummingbird's `HTTPResponseError`).
package struct StatusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of refusal this is.
    package enum Code: String, Sendable, CaseIterable {
        /// The client is not on this machine (403): the page is served to loopback clients only.
        case notLoopback = "not-loopback"
        /// No instance has that id (404).
        case noSuchInstance = "no-such-instance"
        /// The store could not be read (503).
        case storeUnavailable = "store-unavailable"
    }

    /// What kind of refusal this is.
    package var code: Code
    /// What was wrong and what to do.
    package var message: String

    /// Creates an error.
    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The HTTP status of ``code``.
    package var status: HTTPResponse.Status {
        switch code {
        case .notLoopback: .forbidden
        case .noSuchInstance: .notFound
        case .storeUnavailable: .serviceUnavailable
        }
    }

    package var description: String { "\(code.rawValue): \(message)" }
}

extension StatusError: HTTPResponseError {
    /// The answer: the status, and ``description`` and a newline as plain text.
    package func response(from request: Request, context: some RequestContext) -> Response {
        var fields = StatusRoutes.plainTextFields
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: description + "\n")))
    }
}
