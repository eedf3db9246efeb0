import Foundation
import TaskHostStore

/// How the store's connections to PostgreSQL use TLS: the `sslmode`,
/// `sslrootcert`, `sslcert` and `sslkey` parameters of a `--store` URL, with
/// libpq's names and meanings.
///
/// | `sslmode` | encrypted | server's certificate checked |
/// |---|---|---|
/// | `disable` | no | — |
/// | `allow`, `prefer` (the default) | when the server offers TLS | only when `sslrootcert` is given (its chain) |
/// | `require` | always | only when `sslrootcert` is given (its chain) |
/// | `verify-ca` | always | its chain, against `sslrootcert` |
/// | `verify-full` | always | its chain, and that it names the host of the URL |
///
/// `allow` is `prefer` here (postgres-nio asks for TLS first; libpq's `allow`
/// tries without). `sslrootcert=system` verifies with the system's CAs and, as
/// in libpq 16, implies `verify-full` and refuses a weaker `sslmode`. The Unix
/// socket (`?host=/run/postgresql`) is never encrypted, whatever `sslmode` says
/// (libpq's rule too: the socket does not leave the machine). The files are read
/// when the store opens (``PostgresTLSContext``), not when the URL is parsed.
package struct PostgresTLS: Sendable, Equatable {
    /// libpq's `sslmode`.
    package enum Mode: String, Sendable, CaseIterable, Comparable {
        /// No TLS.
        case disable
        /// As ``prefer`` (libpq tries without TLS first; postgres-nio cannot).
        case allow
        /// TLS when the server offers it, plain text otherwise.
        case prefer
        /// TLS or no connection; the certificate is checked only when `sslrootcert` is given.
        case require
        /// TLS, and the server's certificate chain checked against `sslrootcert`.
        case verifyCA = "verify-ca"
        /// As ``verifyCA``, and the certificate must name the URL's host.
        case verifyFull = "verify-full"

        /// Weaker before stronger, in the order of the cases.
        package static func < (lhs: Mode, rhs: Mode) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// The certificates the server's certificate chain is checked against.
    package enum RootCertificates: Sendable, Equatable {
        /// The CA certificates in this PEM file.
        case file(String)
        /// The system's trust store (`sslrootcert=system`).
        case system
    }

    /// The mode; `prefer` when the URL names none (libpq's default).
    package var mode: Mode = .prefer
    /// What the server's certificate is checked against (`nil`: not checked, unless ``mode`` needs it).
    package var rootCertificates: RootCertificates?
    /// A PEM file of this host's client certificate (and its chain), presented when the server asks (`sslcert`).
    package var clientCertificate: String?
    /// The PEM file of the client certificate's private key (`sslkey`).
    package var clientKey: String?

    /// The URL parameters this type reads.
    package static let parameters: Set<String> = ["sslmode", "sslrootcert", "sslcert", "sslkey"]

    /// The default: `prefer`, no certificate checked.
    package init() {}

    /// Reads the TLS parameters of `query`; `url` (redacted) names the URL in errors.
    init(query: [URLQueryItem], url: String) throws(StoreError) {
        func value(_ name: String) throws(StoreError) -> String? {
            guard let item = query.last(where: { $0.name == name }) else { return nil }
            guard let value = item.value, !value.isEmpty else {
                throw StoreError("\(name)= in \(url) has no value: \(Self.expected(name))")
            }
            return value
        }
        if let rootCertificate = try value("sslrootcert") {
            rootCertificates = rootCertificate == "system" ? .system : .file(rootCertificate)
        }
        if let named = try value("sslmode") {
            guard let mode = Mode(rawValue: named) else {
                throw StoreError("sslmode=\(named) in \(url) is not a TLS mode: \(Self.expected("sslmode"))")
            }
            self.mode = mode
        } else if rootCertificates == .system {
            mode = .verifyFull
        }
        if rootCertificates == .system, mode != .verifyFull, mode != .disable {
            throw StoreError(
                "sslmode=\(mode.rawValue) in \(url) is weaker than sslrootcert=system allows (as in libpq): "
                    + "use sslmode=verify-full, or name a CA file with sslrootcert=PATH")
        }
        if mode >= .verifyCA, rootCertificates == nil {
            throw StoreError(
                "sslmode=\(mode.rawValue) in \(url) checks the server's certificate, but no CA names what to check it against: "
                    + "add sslrootcert=PATH (the PEM file of the CA that signed the server's certificate) or sslrootcert=system")
        }
        clientCertificate = try value("sslcert")
        clientKey = try value("sslkey")
        if (clientCertificate == nil) != (clientKey == nil) {
            let missing = clientCertificate == nil ? "sslcert" : "sslkey"
            throw StoreError("\(url) names \(missing == "sslcert" ? "sslkey" : "sslcert") without \(missing): give both, or neither")
        }
    }

    /// Whether a connection without TLS is refused (`require` and stronger).
    package var isRequired: Bool { mode >= .require }

    /// Whether the server's certificate chain is checked: `verify-ca`, `verify-full`,
    /// or a weaker mode that asks for TLS with a `sslrootcert` given (libpq's rule).
    package var verifiesChain: Bool { mode != .disable && rootCertificates != nil }

    /// Whether the server's certificate must name the host of the URL (`verify-full`).
    package var verifiesHostName: Bool { mode == .verifyFull }

    /// What `parameter` takes, for messages.
    static func expected(_ parameter: String) -> String {
        switch parameter {
        case "sslmode": "expected sslmode=" + Mode.allCases.map(\.rawValue).joined(separator: "|")
        case "sslrootcert": "expected sslrootcert=PATH, a PEM file of CA certificates, or sslrootcert=system"
        case "sslcert": "expected sslcert=PATH, a PEM file of the client certificate"
        default: "expected sslkey=PATH, a PEM file of the client certificate's private key"
        }
    }
}
