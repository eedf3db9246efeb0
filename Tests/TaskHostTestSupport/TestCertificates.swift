import Foundation

/// A certificate authority and the certificates it signed, made with the
/// `openssl` command for the tests of TLS to PostgreSQL: a CA, a server
/// certificate for `localhost` only (so that `127.0.0.1` is a host name it does
/// not name), a client certificate, and an unrelated CA that signed nothing the
/// server presents. P-256 keys, valid two days; PEM files in ``directory``.
package struct TestCertificates: Sendable {
    /// Where the files are.
    package let directory: String

    /// The CA's certificate (what `sslrootcert` names to trust the server).
    package var authority: String { directory + "/ca.crt" }
    /// A CA that signed neither the server's nor the client's certificate.
    package var otherAuthority: String { directory + "/other-ca.crt" }
    /// The server's certificate, for `localhost` (subject alternative name `DNS:localhost`).
    package var serverCertificate: String { directory + "/server.crt" }
    /// The server certificate's key.
    package var serverKey: String { directory + "/server.key" }
    /// A client certificate (`CN=taskhost-client`) signed by the CA.
    package var clientCertificate: String { directory + "/client.crt" }
    /// The client certificate's key.
    package var clientKey: String { directory + "/client.key" }
    /// The subject of ``clientCertificate``, as PostgreSQL's `pg_stat_ssl.client_dn` shows it.
    package static let clientSubject = "/CN=taskhost-client"

    /// Makes the files in a new temporary directory, or says why it cannot: no
    /// `openssl` (outside CI the tests that need it skip; `.ci/run` installs it), or a failed command.
    package static func make() -> Result<TestCertificates, PostgresServer.Unavailable> {
        guard let openssl = ExternalTools.executable("openssl") else {
            return .failure(.init(message: ExternalTools.missing(nil, "openssl", install: "apt-get install openssl") ?? "no openssl"))
        }
        let directory = NSTemporaryDirectory() + "taskhost-certificates-" + UUID().uuidString
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            return .failure(.init(message: "cannot create \(directory): \(error)"))
        }
        let certificates = TestCertificates(directory: directory)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let authority = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
        var commands: [[String]] = []
        for name in ["ca", "other-ca"] {
            commands.append(
                ["req", "-x509"] + key + [
                    "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).crt", "-days", "2", "-subj",
                    "/CN=taskhost test \(name)",
                ] + authority)
        }
        for (name, subject, usage) in [
            ("server", "/CN=localhost", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n"),
            ("client", clientSubject, "extendedKeyUsage=clientAuth\n"),
        ] {
            let extensions = "\(directory)/\(name).ext"
            guard FileManager.default.createFile(atPath: extensions, contents: Data(("basicConstraints=CA:FALSE\n" + usage).utf8)) else {
                return .failure(.init(message: "cannot write \(extensions)"))
            }
            commands.append(["req"] + key + ["-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).csr", "-subj", subject])
            commands.append([
                "x509", "-req", "-in", "\(directory)/\(name).csr", "-CA", certificates.authority, "-CAkey", "\(directory)/ca.key",
                "-CAcreateserial", "-out", "\(directory)/\(name).crt", "-days", "2", "-extfile", extensions,
            ])
        }
        for command in commands {
            if let failure = PostgresServer.run([openssl] + command, log: directory + "/openssl.log") {
                return .failure(.init(message: "openssl \(command.prefix(2).joined(separator: " ")) failed: \(failure)"))
            }
        }
        return .success(certificates)
    }
}
