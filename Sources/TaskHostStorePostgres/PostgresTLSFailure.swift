import Foundation
// The handshake's errors (NIOSSLError, its BoringSSL error stack, a host name the certificate does not name).
import NIOSSL
import PostgresNIO
import TaskHostStore

/// TLS failures of a connection to PostgreSQL, as messages a person can act on.
///
/// They are permanent (no ``StoreError/Code``, so `other`): a server without
/// TLS, a certificate signed by another CA or naming another host does not
/// change by waiting, so `taskhost serve` ends with the message instead of
/// retrying as it does while a server is unreachable. A connection lost during
/// the handshake (the server went away) is not one of them: it stays
/// `unavailable`.
enum PostgresTLSFailure {
    /// What went wrong, when `error` (postgres-nio's) is a TLS failure; `nil` otherwise.
    static func message(_ error: PSQLError) -> String? {
        switch error.code {
        case .sslUnsupported:
            return "the server does not accept TLS connections, and the URL's sslmode (require, verify-ca or verify-full) "
                + "requires TLS: turn ssl on in the server's postgresql.conf, or connect with sslmode=prefer or disable "
                + "on a network you trust"
        case .failedToAddSSLHandler:
            return
                "cannot start TLS to the server (\(error.underlying.map { "\($0)" } ?? "no reason given")); check the host name in the URL"
        default:
            return error.underlying.flatMap(message(handshake:))
        }
    }

    /// What went wrong, when `error` (a connection's underlying error) is a TLS handshake failure.
    static func message(handshake error: any Error) -> String? {
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return "the server's certificate does not name the host of the URL (sslmode=verify-full checks it): "
                + "connect by a name, or an IP address, that the certificate lists in its subject alternative names, "
                + "or use sslmode=verify-ca to check the chain only"
        }
        guard let error = error as? NIOSSLError else { return nil }
        switch error {
        case .handshakeFailed(let reason):
            let detail = reasons(reason)
            if detail.contains("CERTIFICATE_VERIFY_FAILED") {
                return "the server's certificate is not signed by a CA of sslrootcert (\(detail)): name the CA that "
                    + "signed it with sslrootcert=PATH, or check that the server presents the certificate you expect"
            }
            return "the TLS handshake with the server failed (\(detail)); check the server's ssl settings and the URL's sslmode"
        case .noCertificateToValidate, .unableToValidateCertificate:
            return "the server's certificate cannot be checked (\(error)); check the server's ssl_cert_file"
        default:
            return nil
        }
    }

    /// BoringSSL's reasons in `error` (`CERTIFICATE_VERIFY_FAILED`), without the source paths NIOSSL adds.
    private static func reasons(_ error: BoringSSLError) -> String {
        let stack: [BoringSSLInternalError]
        switch error {
        case .sslError(let errors), .unknownError(let errors): stack = errors
        default: return "\(error)"
        }
        let reasons = stack.map { entry -> String in
            // "Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at /path:393"
            let text = "\(entry)"
            let withoutPlace = text.range(of: " at ").map { String(text[..<$0.lowerBound]) } ?? text
            return withoutPlace.split(separator: ":").last.map(String.init) ?? withoutPlace
        }
        return reasons.isEmpty ? "\(error)" : reasons.joined(separator: ", ")
    }
}
