import Foundation
package import PostgresNIO
import TaskHostCore
package import TaskHostStore

/// Where the PostgreSQL store is: a `postgres://` URL, as `--store` takes it.
///
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, also `postgresql://`;
/// `?host=/run/postgresql` connects through the Unix socket in that directory.
/// TLS is not supported yet: `sslmode`, when given, must be `disable` (use a
/// trusted network or the Unix socket).
package struct PostgresStoreLocation: Sendable, Equatable {
    /// The server's host name or address (`nil`: the Unix socket ``socketDirectory``).
    package var host: String?
    /// The directory of the server's Unix socket.
    package var socketDirectory: String?
    package var port: Int
    package var user: String
    package var password: String?
    package var database: String

    /// Parses `url`; a malformed one is a ``StoreError`` saying what is wrong.
    package init(url: String) throws(StoreError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw StoreError(
                "\"\(url)\" is not a PostgreSQL URL: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE", resultCode: nil)
        }
        let query = components.queryItems ?? []
        if let mode = query.first(where: { $0.name == "sslmode" })?.value, mode != "disable" {
            throw StoreError(
                "sslmode=\(mode) in \(Self.redacted(url)): TLS to PostgreSQL is not supported yet; "
                    + "use sslmode=disable on a trusted network, or the Unix socket (?host=/run/postgresql)")
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

    /// postgres-nio's configuration of a client for this location.
    package var configuration: PostgresClient.Configuration {
        if let socketDirectory {
            return PostgresClient.Configuration(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        }
        return PostgresClient.Configuration(
            host: host ?? "localhost", port: port, username: user, password: password, database: database, tls: .disable)
    }

    /// postgres-nio's configuration of one connection to this location (opening's migrations).
    package var connectionConfiguration: PostgresConnection.Configuration {
        var configuration =
            if let socketDirectory {
                PostgresConnection.Configuration(
                    unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
            } else {
                PostgresConnection.Configuration(
                    host: host ?? "localhost", port: port, username: user, password: password, database: database, tls: .disable)
            }
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    /// The location as a person reads it, without the password.
    package var description: String {
        let server = socketDirectory.map { "\($0) (Unix socket)" } ?? "\(host ?? "localhost"):\(port)"
        return "postgres://\(user)@\(server)/\(database)"
    }

    /// `url` with its password replaced by `***`, for messages.
    package static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }
}
