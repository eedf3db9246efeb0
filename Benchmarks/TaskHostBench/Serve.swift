import Foundation
import TaskHostCore
import TaskHostStore

/// A `taskhost serve` process of the release build, on a free loopback port.
final class ServeProcess: @unchecked Sendable {
    let process: Process
    let port: Int
    let state: String
    var pid: pid_t { process.processIdentifier }

    /// Starts `taskhost serve --port 0 --state-dir state` with `arguments` and
    /// waits until it listens. With a `launcher` (e.g. `prlimit
    /// --nofile=1024:1024`, which execs it: the pid stays the server's), that command runs it.
    init(_ products: Products, state: String, arguments: [String], launcher: [String] = []) throws {
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let process = Process()
        let serve = ["serve", "--port", "0", "--state-dir", state, "--log-level", "warning"] + arguments
        process.executableURL = URL(fileURLWithPath: launcher.first ?? products.taskhost)
        process.arguments = launcher.isEmpty ? serve : Array(launcher.dropFirst()) + [products.taskhost] + serve
        // No manifest.json there: the host runs the plugins directory only.
        process.currentDirectoryURL = URL(fileURLWithPath: state)
        let output = Pipe()
        process.standardOutput = output
        _ = FileManager.default.createFile(atPath: state + "/serve.log", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: state + "/serve.log")
        try process.run()
        var text = ""
        var port: Int?
        let deadline = Date().addingTimeInterval(30)
        while port == nil, Date() < deadline {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
            if let range = text.range(of: #"listening on http://[^:]+:(\d+)"#, options: .regularExpression) {
                port = Int(text[range].split(separator: ":").last ?? "")
            }
        }
        guard let port else {
            process.terminate()
            let log = (try? String(contentsOfFile: state + "/serve.log", encoding: .utf8)) ?? ""
            throw BenchError("taskhost serve did not start: \(text) \(log.suffix(2000))")
        }
        self.process = process
        self.port = port
        self.state = state
    }

    /// Resident memory, in kB.
    var residentKilobytes: Int { Machine.residentKilobytes(pid: pid) ?? 0 }

    /// User + system CPU time consumed so far, in seconds.
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // Fields after the command: state is 3rd overall, utime 14th, stime 15th.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// SIGTERM, and wait for the graceful shutdown.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { stop() }
}
