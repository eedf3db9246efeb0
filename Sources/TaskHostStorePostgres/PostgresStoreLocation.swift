import Foundation
package import PostgresNIO
import TaskHostCore
package import TaskHostStore

/// Where the PostgreSQL store is: a `postgres://` URL, as `--store` takes it.
///
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, also `postgresql://`;
/// `?host=/run/postgresql` connects through the Unix socket in that directory;
/// `sslmode`, `sslrootcert`, `sslcert` and `sslkey` set TLS as in libpq
/// (``PostgresTLS``); `application_name` (what `pg_stat_activity` shows,
/// `taskhost` by default) and `connect_timeout` (seconds, 10 by default) as
/// libpq's. Any other parameter is refused.
package struct PostgresStoreLocation: Sendable, Equatable {
    /// The server's host name or address (`nil`: the Unix socket ``socketDirectory``).
    package var host: String?
    /// The directory of the server's Unix socket.
    package var socketDirectory: String?
    package var port: Int
    package var user: String
    package var password: String?
    package var database: String
    /// How connections over TCP use TLS (the Unix socket never does).
    package var tls: PostgresTLS
    /// The name the connections give the server (`pg_stat_activity.application_name`).
    package var applicationName = "taskhost"
    /// How long a connection attempt may take.
    package var connectTimeout: Duration = .seconds(10)

    /// The URL parameters accepted: `host` (a socket directory), `application_name`,
    /// `connect_timeout` and ``PostgresTLS/parameters``.
    package static let parameters: Set<String> = PostgresTLS.parameters.union(["host", "application_name", "connect_timeout"])

    /// Parses `url`; a malformed one is a ``StoreError`` saying what is wrong.
    package init(url: String) throws(StoreError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw StoreError(
                "\"\(url)\" is not a PostgreSQL URL: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE", resultCode: nil)
        }
        let query = components.queryItems ?? []
        if let unknown = query.first(where: { !Self.parameters.contains($0.name) }) {
            throw StoreError(
                "\(Self.redacted(url)): unknown parameter \"\(unknown.name)\"; accepted: "
                    + Self.parameters.sorted().joined(separator: ", "))
        }
        tls = try PostgresTLS(query: query, url: Self.redacted(url))
        if let name = query.last(where: { $0.name == "application_name" })?.value {
            guard !name.isEmpty, name.utf8.count < 64, name.allSatisfy({ $0.isASCII && !$0.isNewline }) else {
                throw StoreError("\(Self.redacted(url)): application_name must be 1 to 63 ASCII characters on one line")
            }
            applicationName = name
        }
        if let text = query.last(where: { $0.name == "connect_timeout" })?.value {
            guard let seconds = Int(text), seconds >= 1, seconds <= 3600 else {
                throw StoreError("\(Self.redacted(url)): connect_timeout=\(text) is not a number of seconds from 1 to 3600")
            }
            connectTimeout = .seconds(seconds)
        }
        socketDirectory = query.first(where: { $0.name == "host" })?.value.flatMap { $0.hasPrefix("/") ? $0 : nil }
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? (socketDirectory == nil ? "localhost" : nil)
        port = components.port ?? 5432
        user = components.user.flatMap { $0.isEmpty ? nil : $0 } ?? "postgres"
        password = components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.isEmpty, !path.contains("/") else {
            throw StoreError("\(Self.redacted(url)) names no database: add it as the path, postgres://USER@HOST/DATABASE")
        }
        database = path
    }

    /// The same server, another database (tests create one each).
    package func with(database: String) -> PostgresStoreLocation {
        var copy = self
        copy.database = database
        return copy
    }

    /// The TLS settings with their files read (``PostgresTLSContext``): what the
    /// configurations below take. Over the Unix socket, no TLS and no file read.
    package func tlsContext() throws(StoreError) -> PostgresTLSContext {
        socketDirectory == nil ? try PostgresTLSContext(tls) : .disabled
    }

    /// postgres-nio's configuration of a client (the pool) for this location.
    package func configuration(tls context: PostgresTLSContext) -> PostgresClient.Configuration {
        var configuration =
            if let socketDirectory {
                PostgresClient.Configuration(
                    unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
            } else {
                PostgresClient.Configuration(
                    host: host ?? "localhost", port: port, username: user, password: password, database: database, tls: context.client)
            }
        configuration.options.connectTimeout = connectTimeout
        configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        return configuration
    }

    /// postgres-nio's configuration of one connection to this location (opening's
    /// migrations, the wake-up listener), with the same TLS as the pool's.
    package func connectionConfiguration(tls context: PostgresTLSContext) -> PostgresConnection.Configuration {
        var configuration =
            if let socketDirectory {
                PostgresConnection.Configuration(
                    unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
            } else {
                PostgresConnection.Configuration(
                    host: host ?? "localhost", port: port, username: user, password: password, database: database, tls: context.connection)
            }
        configuration.options.connectTimeout = .seconds(connectTimeout.components.seconds)
        configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        return configuration
    }

    /// The location as a person reads it, without the password; TLS settings
    /// other than the default follow as URL parameters.
    package var description: String {
        let server = socketDirectory.map { "\($0) (Unix socket)" } ?? "\(host ?? "localhost"):\(port)"
        let settings = socketDirectory == nil && tls != PostgresTLS() ? "?" + tls.summary : ""
        return "postgres://\(user)@\(server)/\(database)\(settings)"
    }

    /// `url` with its password replaced by `***`, for messages.
    package static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }
}
