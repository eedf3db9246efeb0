import Foundation
import Logging

/// One log event as one line of JSON (`serve --log-format json`), for log
/// shippers: `time` (RFC 3339, UTC, milliseconds), `level`, `logger` (the
/// logger's label), `message`, then each metadata key as a field of its own
/// (a key that is one of those four gets a `_` in front). Strings are escaped
/// as JSON requires, so a plugin's text can never break a line in two.
enum JSONLogLine {
    /// The line for `event` of the logger `label`, with `metadata` (its trailing newline included).
    static func render(_ event: LogEvent, label: String, metadata: Logger.Metadata) -> String {
        var line = "{\"time\":"
        appendString(timestamp(), to: &line)
        line += ",\"level\":"
        appendString(event.level.rawValue, to: &line)
        line += ",\"logger\":"
        appendString(label, to: &line)
        line += ",\"message\":"
        appendString(event.message.description, to: &line)
        for key in metadata.keys.sorted() {
            line += ","
            appendString(reserved.contains(key) ? "_" + key : key, to: &line)
            line += ":"
            append(metadata[key]!, to: &line)
        }
        line += "}\n"
        return line
    }

    static let reserved: Set<String> = ["time", "level", "logger", "message"]

    private static func append(_ value: Logger.MetadataValue, to line: inout String) {
        switch value {
        case .string(let text): appendString(text, to: &line)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &line)
        case .array(let values):
            line += "["
            for (index, value) in values.enumerated() {
                if index > 0 { line += "," }
                append(value, to: &line)
            }
            line += "]"
        case .dictionary(let fields):
            line += "{"
            for (index, key) in fields.keys.sorted().enumerated() {
                if index > 0 { line += "," }
                appendString(key, to: &line)
                line += ":"
                append(fields[key]!, to: &line)
            }
            line += "}"
        }
    }

    /// `text` as a JSON string: quotes, backslashes and control characters escaped.
    static func appendString(_ text: String, to line: inout String) {
        line += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case "\u{2028}", "\u{2029}": line += String(format: "\\u%04x", scalar.value)
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    line += String(format: "\\u%04x", scalar.value)
                } else {
                    line.unicodeScalars.append(scalar)
                }
            }
        }
        line += "\""
    }

    /// Now, as `2026-12-03T07:21:14.123Z`.
    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
            parts.tm_min, parts.tm_sec, now.tv_nsec / 1_000_000)
    }
}
