import Foundation
import Logging

/// How `serve` writes its log lines on standard error (`--log-format`).
enum LogFormat: String, CaseIterable, Sendable {
    /// `StreamLogHandler`'s lines, for people.
    case text
    /// One JSON object per line, for log shippers (see ``JSONLogLine``).
    case json
}

/// The daemon's log handler: `StreamLogHandler`'s output on standard error
/// (or one JSON object per line), with metadata rendered only when a line is written.
///
/// `StreamLogHandler` renders its metadata into a string each time the
/// metadata changes, and Hummingbird gives every request's logger a request
/// id: about 5% of the push endpoint's CPU per request, at any log level.
struct DaemonLogHandler: LogHandler {
    private var output: StreamLogHandler
    private let format: LogFormat
    private let label: String
    var metadata: Logger.Metadata = [:]

    init(label: String, level: Logger.Level, format: LogFormat = .text) {
        output = StreamLogHandler.standardError(label: label)
        output.logLevel = level
        self.format = format
        self.label = label
    }

    var logLevel: Logger.Level {
        get { output.logLevel }
        set { output.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { output.metadataProvider }
        set { output.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty { event.metadata = metadata.merging(event.metadata ?? [:]) { $1 } }
        switch format {
        case .text:
            output.log(event: event)
        case .json:
            var all = metadataProvider?.get() ?? [:]
            if let own = event.metadata { all.merge(own) { $1 } }
            if let error = event.error, all["error"] == nil { all["error"] = "\(error)" }
            Self.writeLine(JSONLogLine.render(event, label: label, metadata: all))
        }
    }

    /// Writes `line` to standard error in one `write(2)` where it fits, so
    /// that lines of concurrent loggers do not interleave.
    private static func writeLine(_ line: String) {
        var bytes = Array(line.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(written)
        }
    }
}
