import Foundation
import TaskHostConcurrency
import TaskHostCore
import TaskHostStore
import TaskHostStorePostgres
import TaskHostTestSupport
import Testing

/// `--store` with TLS, as an operator meets it: the commands connect with
/// `sslmode=verify-full`, and a TLS setting that cannot work ends `taskhost serve`
/// (and `taskhost queue`) at once with the reason, rather than being retried as
/// an unreachable server is.
@Suite(
    .enabled("needs PostgreSQL and openssl (skipped when absent outside CI; the line above the results says why)") {
        await PostgresTLSServer.testsRun()
    })
struct PostgresTLSCLITests {
    /// Where the `taskhost` processes are waited for: never the cooperative pool.
    static let threads = BlockingExecutor(name: "tls-cli-tests", maxThreads: 2)

    @Test func queueConnectsWithVerifyFull() async throws {
        try await PostgresTLSServer.withDatabase { server, database in
            let url = server.url(database: database.location.database, "sslmode=verify-full&sslrootcert=\(server.certificates.authority)")
            let state = TestSupport.temporaryDirectory()
            let result = try await Self.threads.run { () throws(any Error) in
                try TaskHostCommand.run(["queue", "--store", url], in: state, stateDirectory: state)
            }
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.hasPrefix("pending 0"), "\(result.stdout)")
        }
    }

    @Test func aCertificateOfAnotherCAEndsServeAndQueueAtOnce() async throws {
        try await PostgresTLSServer.withDatabase { server, database in
            let url = server.url(
                database: database.location.database, "sslmode=verify-full&sslrootcert=\(server.certificates.otherAuthority)")
            let state = TestSupport.temporaryDirectory()
            let queue = try await Self.threads.run { () throws(any Error) in
                try TaskHostCommand.run(["queue", "--store", url], in: state, stateDirectory: state)
            }
            #expect(queue.status != 0)
            #expect(queue.stderr.contains("the server's certificate is not signed by a CA of sslrootcert"), "\(queue.stderr)")

            let serve = TaskHostCommand.start(["serve", "--port", "0", "--store", url], in: state, stateDirectory: state)
            serve.standardOutputDestination = .pipe
            serve.standardErrorDestination = .pipe
            try serve.run()
            // A deadline against a hang only: a TLS failure is not retried, so serve ends in well under a second.
            let ended = await serve.waitForExit(timeout: .seconds(120))
            if ended == nil { serve.terminate() }
            let stderr = await serve.read(.error)
            #expect(ended != nil && ended != .exited(0), "serve ended with an error instead of waiting: \(stderr)")
            #expect(stderr.contains("the server's certificate is not signed by a CA of sslrootcert"), "\(stderr)")
            #expect(!stderr.contains("retrying"), "\(stderr)")
        }
    }

}
