import ArgumentParser
import Foundation
import TaskHostIPC

/// How `taskhost run` shows the task's progress (`--progress`).
enum ProgressStyle: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// A bar when standard output is a terminal, lines otherwise.
    case auto
    /// A bar redrawn in place.
    case bar
    /// One line per value (`progress 40%`).
    case lines
    /// Nothing.
    case none

    /// What `auto` means for the standard output this process has.
    func resolved(isTerminal: Bool = isatty(STDOUT_FILENO) == 1) -> ProgressStyle {
        self == .auto ? (isTerminal ? .bar : .lines) : self
    }
}

/// Shows a running task's progress on standard output, as `taskhost run`
/// receives it (at most one value per 100 ms): a bar redrawn in place on a
/// terminal, a plain line per value otherwise (logs, pipes, CI). Log lines
/// go to standard error; when the bar is shown, each clears it first and
/// redraws it after, so that the two never share a line.
///
/// Called on the instance's supervisor thread only (its `onLog` and
/// `onProgress`), then by the command once the instance is over.
final class ProgressDisplay: @unchecked Sendable {
    /// The bar's width in characters, between its brackets.
    static let barWidth = 30

    let style: ProgressStyle
    private var value: UInt32?
    private var barShown = false

    init(style: ProgressStyle) {
        self.style = style.resolved()
    }

    /// A new value from the task.
    func show(_ value: UInt32) {
        self.value = value
        switch style {
        case .bar: drawBar()
        case .lines: write("progress \(Self.percent(value))\n")
        case .auto, .none: break
        }
    }

    /// Writes a log line (to standard error), around the bar.
    func log(_ text: String) {
        if barShown { write("\r\u{1B}[2K") }
        writeStandardError(text)
        if barShown { drawBar() }
    }

    /// The instance is over: the bar, if shown, keeps its last value on a line of its own.
    func finish() {
        if barShown { write("\n") }
        barShown = false
    }

    /// `value` as people read it: a percentage from 0 to 100 (the convention), the number itself above.
    static func percent(_ value: UInt32) -> String {
        value <= 100 ? "\(value)%" : "\(value)"
    }

    /// `[#########·····]  60%` for `value`.
    static func bar(_ value: UInt32) -> String {
        let filled = Int(min(value, 100)) * barWidth / 100
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: barWidth - filled) + "] "
            + percent(value)
    }

    private func drawBar() {
        guard let value else { return }
        write("\r\u{1B}[2K  " + Self.bar(value))
        barShown = true
    }

    private func write(_ text: String) {
        FileDescriptorIO.writeAll(toFile: STDOUT_FILENO, Array(text.utf8))
    }
}
