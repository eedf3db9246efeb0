import Foundation
package import TaskHostManifest

/// `UserPresent` and `SessionConnected` (and their opposites), from logind's
/// session files: `/run/systemd/sessions/*`, one per session, `KEY=value`
/// lines. A session is connected when its `STATE` is `active` or `online`
/// (not `closing`); a user is present when a session is `ACTIVE=1` (in the
/// foreground of its seat, or a remote one) and its `IDLE_HINT` is not `yes`.
/// Read at each change of the directory (``SessionEvents``) and every 5 s.
/// Without the directory (no systemd-logind) the facts cannot be observed:
/// conditions on them do not hold.
package struct SessionProbe: FactProbe {
    /// ``ConditionFact/userPresent`` or ``ConditionFact/sessionConnected``.
    package let fact: ConditionFact
    package let interval: Duration = .seconds(5)
    /// logind's sessions directory.
    package var directory: String

    /// Creates a probe of `fact`.
    package init(_ fact: ConditionFact, directory: String = "/run/systemd/sessions") {
        self.fact = fact
        self.directory = directory
    }

    package var source: String {
        switch fact {
        case .userPresent: "logind: a session in \(directory)/* with ACTIVE=1 and IDLE_HINT not yes (at each inotify event and every 5 s)"
        default: "logind: a session in \(directory)/* whose STATE is active or online (at each inotify event and every 5 s)"
        }
    }

    package func read() -> FactReading {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            return FactReading(value: nil, detail: "\(directory) cannot be read (no systemd-logind on this host?)")
        }
        var matching: [String] = []
        for name in names.sorted() where !name.hasSuffix(".ref") {
            guard let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else { continue }
            let keys = Self.keys(text)
            let connected = keys["STATE"] == "active" || keys["STATE"] == "online"
            let matches =
                fact == .userPresent ? connected && keys["ACTIVE"] == "1" && keys["IDLE_HINT"] != "yes" : connected
            if matches { matching.append("\(name)\(keys["USER"].map { " (\($0))" } ?? "")") }
        }
        let what = fact == .userPresent ? "active, non-idle" : "connected"
        guard !matching.isEmpty else { return FactReading(value: false, detail: "no \(what) session among \(names.count) in \(directory)") }
        return FactReading(value: true, detail: "\(what) session \(matching.joined(separator: ", "))")
    }

    /// The `KEY=value` lines of a session file.
    static func keys(_ text: String) -> [String: String] {
        var keys: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "="), !line.hasPrefix("#") else { continue }
            keys[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return keys
    }
}
