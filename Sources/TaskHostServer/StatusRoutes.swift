package import Foundation
package import HTTPTypes
package import Hummingbird
import NIOCore
import TaskHostConcurrency
import TaskHostCore
import TaskHostIsolation
package import TaskHostStore

/// What the status routes read: the store, and the page that renders it.
package struct StatusService: Sendable {
    /// The store whose state the page shows.
    package let store: any HostStore
    /// The page.
    package let page: StatusPage
    /// How many of the newest instances the page lists.
    package let recent: Int

    /// A service reading `store`, listing the `recent` newest instances.
    package init(store: any HostStore, page: StatusPage, recent: Int = StatusPage.defaultRecent) {
        self.store = store
        self.page = page
        self.recent = recent
    }

    /// The page's HTML, as the store is now.
    package func html(now: Date = Date()) throws(StatusError) -> String {
        do {
            return page.render(try store.statusSnapshot(recent: recent, now: now))
        } catch {
            throw StatusError(.storeUnavailable, "the store cannot be read (\(error.code.rawValue)); try again, and see the host's log")
        }
    }

    /// An instance's log as plain text: a heading line (task, app, outcome),
    /// the sandbox summary, then one line per log line: time, `[stream]` for
    /// other streams than the task's own, text.
    package func log(instanceId: String) throws(StatusError) -> String {
        // Instance ids are UUIDs, which the page links whole: anything else is no
        // instance (and is not echoed back).
        guard instanceId.utf8.count == 36,
            instanceId.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }
            )
        else { throw StatusError(.noSuchInstance, "no such instance; the status page (/status) links each instance's log") }
        let record: InstanceRecord?
        let lines: [LogLine]
        do {
            record = try store.instance(idPrefix: instanceId)
            lines = try record.map { record throws(StoreError) in try store.log(instanceId: record.id) } ?? []
        } catch {
            throw StatusError(.storeUnavailable, "the store cannot be read (\(error.code.rawValue)); try again, and see the host's log")
        }
        guard let record else {
            throw StatusError(.noSuchInstance, "no instance \(instanceId); the status page (/status) links each instance's log")
        }
        var text = "instance \(record.id) of \(record.task) (\(record.app)): \(record.outcome?.description ?? "running")\n"
        if !record.sandbox.isEmpty { text += "sandbox: \(record.sandbox)\n" }
        for line in lines {
            text += StatusPage.timestamp(line.at) + "  " + (line.stream == .task ? "" : "[\(line.stream.rawValue)] ") + line.text + "\n"
        }
        return text
    }
}

/// The status page's routes: `GET /status` (HTML) and
/// `GET /status/instances/{id}/log` (plain text), both answered to loopback
/// clients only (403 otherwise). They show task names, log lines and plugin
/// errors; to reach them from another machine, put an authenticating reverse
/// proxy on this machine in front of them.
package enum StatusRoutes {
    /// The paths of these routes, for a router's `405` middleware.
    package static func allowedMethods(path: String) -> [HTTPRequest.Method]? {
        if path == "/status" { return [.get, .head] }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 5, parts[0].isEmpty, parts[1] == "status", parts[2] == "instances", !parts[3].isEmpty, parts[4] == "log" {
            return [.get, .head]
        }
        return nil
    }

    /// Adds the routes to the operator listener's `router`, reading the daemon's store.
    static func add(to router: Router<OperatorRequestContext>, environment: OperatorEnvironment) {
        let configuration = environment.configuration
        let host = StatusPage.Host(
            isolation: configuration.isolation.rawValue, sandboxUser: configuration.sandbox.user,
            sandboxRequired: configuration.sandbox.required)
        add(to: router, service: StatusService(store: environment.store, page: StatusPage(host: host)))
    }

    /// Adds the routes to `router`.
    package static func add<Context: RequestContext & RemoteAddressRequestContext>(to router: Router<Context>, service: StatusService) {
        router.get("/status") { _, context -> Response in
            try requireLoopback(context.remoteAddress)
            let html = try await offEventLoop { () throws(StatusError) in try service.html() }
            var fields = htmlFields
            fields[.cacheControl] = "no-store"
            return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
        }
        router.get("/status/instances/:id/log") { _, context -> Response in
            try requireLoopback(context.remoteAddress)
            let id = context.parameters.get("id") ?? ""
            let text = try await offEventLoop { () throws(StatusError) in try service.log(instanceId: id) }
            var fields = plainTextFields
            fields[.cacheControl] = "no-store"
            return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
    }

    /// Where the store is read for these routes: one page at a time, off the
    /// cooperative pool, which the push listener's handlers share (a count
    /// over a long queue takes milliseconds that no push should wait for).
    private static let reader = BlockingExecutor(name: "taskhost-status", maxThreads: 1)

    /// `body`'s result, computed on ``reader``.
    static func offEventLoop<T: Sendable>(_ body: @escaping @Sendable () throws(StatusError) -> T) async throws(StatusError) -> T {
        try await reader.run(body)
    }

    static let contentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!

    /// The page allows no script, no plugin content, no frame around it: a
    /// second line of defence behind the template's escaping.
    static let htmlFields: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        contentTypeOptions: "nosniff",
        contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        referrerPolicy: "no-referrer",
    ]

    /// A log is text, never a page: a browser must not sniff HTML in it.
    static let plainTextFields: HTTPFields = [
        .contentType: "text/plain; charset=utf-8",
        contentTypeOptions: "nosniff",
        contentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'",
    ]

    /// Throws ``StatusError/Code/notLoopback`` unless `address` is on this machine.
    static func requireLoopback(_ address: SocketAddress?) throws(StatusError) {
        guard let address, isLoopback(address) else {
            throw StatusError(
                .notLoopback,
                "the status page answers clients on this machine only (it shows task names, logs and plugin errors); reach it through an authenticating reverse proxy on this machine, or an SSH tunnel"
            )
        }
    }

    /// Whether `address` is a loopback address (`127.0.0.0/8`, `::1`, `::ffff:127.x.y.z`) or a Unix socket.
    static func isLoopback(_ address: SocketAddress) -> Bool {
        switch address {
        case .unixDomainSocket:
            return true
        case .v4(let v4):
            // Read as bytes (sin_addr at 4..<8 of sockaddr_in, sin6_addr at 8..<24 of sockaddr_in6):
            // which C module owns their fields (Glibc or NIO's CNIOLinux) varies between builds.
            return withUnsafeBytes(of: v4.address) { $0[4] == 127 }
        case .v6(let v6):
            return withUnsafeBytes(of: v6.address) { whole in
                let bytes = UnsafeRawBufferPointer(rebasing: whole[8..<24])
                if bytes.prefix(15).allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }  // ::1
                return bytes.prefix(12).elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]) && bytes[12] == 127
            }
        }
    }
}
