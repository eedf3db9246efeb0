import Foundation
// NIOSSL's TLSConfiguration and NIOSSLContext: postgres-nio's TLS options take them.
import NIOSSL
package import PostgresNIO
package import TaskHostStore

/// A store's TLS settings (``PostgresTLS``) with their files read and NIOSSL's
/// context built, once per store: the pool's connections and the one that listens
/// for wake-ups use the same.
package struct PostgresTLSContext: Sendable {
    /// The settings for the pool (`PostgresClient`).
    package let client: PostgresClient.Configuration.TLS
    /// The settings for a connection of its own (migrations, the wake-up listener, tests).
    package let connection: PostgresConnection.Configuration.TLS

    /// No TLS (`sslmode=disable`, or the Unix socket).
    package static let disabled = PostgresTLSContext(client: .disable, connection: .disable)

    private init(client: PostgresClient.Configuration.TLS, connection: PostgresConnection.Configuration.TLS) {
        self.client = client
        self.connection = connection
    }

    /// Reads the certificate and key files `tls` names and builds the context.
    ///
    /// A missing or unreadable file is a ``StoreError`` naming the parameter and
    /// the file; it is permanent (code `other`): `taskhost serve` does not retry it.
    package init(_ tls: PostgresTLS) throws(StoreError) {
        if tls.mode == .disable {
            self = .disabled
            return
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification =
            if tls.verifiesHostName {
                .fullVerification
            } else if tls.verifiesChain {
                .noHostnameVerification
            } else {
                .none
            }
        switch tls.rootCertificates {
        case .file(let path): configuration.trustRoots = .certificates(try Self.certificates("sslrootcert", path))
        case .system: configuration.trustRoots = .default
        case nil: break
        }
        if let certificate = tls.clientCertificate, let key = tls.clientKey {
            configuration.certificateChain = try Self.certificates("sslcert", certificate).map { .certificate($0) }
            try Self.checkReadable("sslkey", key)
            do {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            } catch {
                throw StoreError("sslkey=\(key): cannot read a PEM private key from it (\(error)); an encrypted key is not supported")
            }
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw StoreError("cannot set up TLS to PostgreSQL with \(tls.summary): \(error)", underlying: error)
        }
        if tls.isRequired {
            self.init(client: .require(configuration), connection: .require(context))
        } else {
            self.init(client: .prefer(configuration), connection: .prefer(context))
        }
    }

    /// The PEM certificates in `path`, the file of URL parameter `parameter`.
    private static func certificates(_ parameter: String, _ path: String) throws(StoreError) -> [NIOSSLCertificate] {
        try checkReadable(parameter, path)
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw StoreError("\(parameter)=\(path): cannot read PEM certificates from it (\(error))", underlying: error)
        }
        guard !certificates.isEmpty else {
            throw StoreError("\(parameter)=\(path) holds no certificate: expected one or more PEM blocks (BEGIN CERTIFICATE)")
        }
        return certificates
    }

    private static func checkReadable(_ parameter: String, _ path: String) throws(StoreError) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError("\(parameter)=\(path): no such file (a relative path is from \(cwd)); \(PostgresTLS.expected(parameter))")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw StoreError("\(parameter)=\(path): this user cannot read it; check the file's owner and mode")
        }
    }

    private static var cwd: String { FileManager.default.currentDirectoryPath }
}

extension PostgresTLS {
    /// The settings as URL parameters (no passwords in them), for messages: `sslmode=verify-full&sslrootcert=/etc/ca.pem`.
    package var summary: String {
        var parts = ["sslmode=\(mode.rawValue)"]
        switch rootCertificates {
        case .file(let path): parts.append("sslrootcert=\(path)")
        case .system: parts.append("sslrootcert=system")
        case nil: break
        }
        if let clientCertificate { parts.append("sslcert=\(clientCertificate)") }
        return parts.joined(separator: "&")
    }
}
