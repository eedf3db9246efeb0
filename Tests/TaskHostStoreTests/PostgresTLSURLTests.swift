import Foundation
import TaskHostStore
import TaskHostStorePostgres
import TaskHostTestSupport
import Testing

/// The TLS parameters of a `postgres://` URL (libpq's `sslmode`, `sslrootcert`,
/// `sslcert`, `sslkey`) and the errors of bad ones; no server is needed (the
/// files are read when a store opens, before it connects).
struct PostgresTLSURLTests {
    private func tls(_ parameters: String) throws -> PostgresTLS {
        try PostgresStoreLocation(url: "postgres://app:hunter2@db.example/tasks?" + parameters).tls
    }

    /// The error `parameters` give, which must not repeat the password.
    private func refusal(_ parameters: String) -> String {
        let url = "postgres://app:hunter2@db.example/tasks?" + parameters
        let error = #expect(throws: StoreError.self) { try PostgresStoreLocation(url: url) }
        #expect(error?.message.contains("hunter2") == false, "the password is not repeated: \(String(describing: error))")
        #expect(error?.code == .other, "a wrong URL is permanent")
        return error?.message ?? ""
    }

    @Test func theDefaultIsPreferWithoutChecks() throws {
        let location = try PostgresStoreLocation(url: "postgres://app@db.example/tasks")
        #expect(location.tls == PostgresTLS())
        #expect(location.tls.mode == .prefer && !location.tls.isRequired && !location.tls.verifiesChain)
        #expect(location.description == "postgres://app@db.example:5432/tasks", "the default is not spelled out")
    }

    @Test func eachModeMeansWhatLibpqsDoes() throws {
        let disable = try tls("sslmode=disable")
        #expect(disable.mode == .disable && !disable.isRequired && !disable.verifiesChain)
        for mode in ["allow", "prefer"] {
            let weak = try tls("sslmode=\(mode)")
            #expect(!weak.isRequired && !weak.verifiesChain && !weak.verifiesHostName, "\(mode)")
        }
        let require = try tls("sslmode=require")
        #expect(require.isRequired && !require.verifiesChain && !require.verifiesHostName)
        // libpq's rule: require with a root certificate checks the chain (as verify-ca).
        let requireWithCA = try tls("sslmode=require&sslrootcert=/etc/ca.pem")
        #expect(requireWithCA.verifiesChain && !requireWithCA.verifiesHostName)
        let verifyCA = try tls("sslmode=verify-ca&sslrootcert=/etc/ca.pem")
        #expect(verifyCA.isRequired && verifyCA.verifiesChain && !verifyCA.verifiesHostName)
        #expect(verifyCA.rootCertificates == .file("/etc/ca.pem"))
        let verifyFull = try tls("sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(verifyFull.isRequired && verifyFull.verifiesChain && verifyFull.verifiesHostName)
    }

    @Test func systemRootsImplyVerifyFullAndRefuseWeakerModes() throws {
        let system = try tls("sslrootcert=system")
        #expect(system.mode == .verifyFull && system.rootCertificates == .system)
        #expect(try tls("sslmode=verify-full&sslrootcert=system").mode == .verifyFull)
        #expect(refusal("sslmode=require&sslrootcert=system").contains("weaker than sslrootcert=system allows"))
    }

    @Test func aClientCertificateNeedsItsKey() throws {
        let client = try tls("sslmode=require&sslcert=/etc/client.crt&sslkey=/etc/client.key")
        #expect(client.clientCertificate == "/etc/client.crt" && client.clientKey == "/etc/client.key")
        #expect(refusal("sslcert=/etc/client.crt").contains("names sslcert without sslkey"))
        #expect(refusal("sslkey=/etc/client.key").contains("names sslkey without sslcert"))
    }

    @Test func badParametersAreNamed() {
        #expect(refusal("sslmode=on").contains("sslmode=on"))
        #expect(refusal("sslmode=on").contains("expected sslmode=disable|allow|prefer|require|verify-ca|verify-full"))
        #expect(refusal("sslmode=verify-full").contains("add sslrootcert=PATH"))
        #expect(refusal("sslmode=verify-ca").contains("or sslrootcert=system"))
        #expect(refusal("sslrootcert=").contains("sslrootcert= in"))
        let unknown = refusal("sslmode=require&options=-c%20x%3Dy")
        #expect(unknown.contains("unknown parameter \"options\""), "\(unknown)")
        #expect(
            unknown.contains("accepted: application_name, connect_timeout, host, sslcert, sslkey, sslmode, sslrootcert"), "\(unknown)")
    }

    @Test func theDescriptionShowsSettingsOtherThanTheDefault() throws {
        let location = try PostgresStoreLocation(url: "postgres://app:hunter2@db.example/tasks?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(location.description == "postgres://app@db.example:5432/tasks?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        // Over the Unix socket TLS is not used, whatever the URL says (libpq's rule): not shown, no file read.
        let socket = try PostgresStoreLocation(url: "postgres:///tasks?host=/run/postgresql&sslmode=verify-full&sslrootcert=/nonexistent")
        #expect(socket.description == "postgres://postgres@/run/postgresql (Unix socket)/tasks")
        #expect(throws: Never.self) { try socket.tlsContext() }
    }

    /// A certificate file that is not there fails the opening before any connection, saying which parameter names it.
    @Test func aMissingCertificateFileIsNamedWhenTheStoreOpens() throws {
        let missing = TestSupport.temporaryDirectory() + "/no-such-ca.pem"
        let url = "postgres://app:hunter2@127.0.0.1:1/tasks?sslmode=verify-full&sslrootcert=\(missing)"
        let error = #expect(throws: StoreError.self) { try PostgresTaskStore(location: PostgresStoreLocation(url: url)) }
        #expect(error?.message.contains("sslrootcert=\(missing): no such file") == true, "\(String(describing: error))")
        #expect(error?.message.contains("cannot open the PostgreSQL store at postgres://app@127.0.0.1:1/tasks") == true)
        #expect(error?.code == .other, "permanent: serve does not retry it")

        let notPEM = TestSupport.temporaryDirectory() + "/ca.pem"
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: notPEM))
        let garbled = #expect(throws: StoreError.self) {
            try PostgresTaskStore(location: PostgresStoreLocation(url: "postgres://u@127.0.0.1:1/d?sslmode=require&sslrootcert=\(notPEM)"))
        }
        #expect(garbled?.message.contains("sslrootcert=\(notPEM)") == true, "\(String(describing: garbled))")
    }
}
