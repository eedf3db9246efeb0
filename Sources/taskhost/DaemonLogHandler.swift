import Logging

/// The daemon's log handler: `StreamLogHandler`'s output on standard error,
/// with metadata rendered only when a line is written.
///
/// `StreamLogHandler` renders its metadata into a string each time the
/// metadata changes, and Hummingbird gives every request's logger a request
/// id: about 5% of the push endpoint's CPU per request, at any log level.
struct DaemonLogHandler: LogHandler {
    private var output: StreamLogHandler
    var metadata: Logger.Metadata = [:]

    init(label: String, level: Logger.Level) {
        output = StreamLogHandler.standardError(label: label)
        output.logLevel = level
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
        output.log(event: event)
    }
}
