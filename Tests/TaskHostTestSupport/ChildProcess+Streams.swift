import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What the child writes, and what it reads.
extension ChildProcess {
    /// Everything the child wrote to `stream`, once it is complete: for a
    /// pipe, when every writer has closed it (the child and whatever it
    /// started that kept it); for a file, its contents now; `""` otherwise.
    package func read(_ stream: Stream) async -> String {
        if let capture = lock.withLock({ captures[stream] }) {
            return String(decoding: await capture.data(), as: UTF8.self)
        }
        return fileContents(stream)
    }

    /// ``read(_:)`` for synchronous helpers: blocks the calling thread until a pipe's end.
    package func readBlocking(_ stream: Stream) -> String {
        if let capture = lock.withLock({ captures[stream] }) {
            return String(decoding: capture.dataBlocking(), as: UTF8.self)
        }
        return fileContents(stream)
    }

    /// What the child has written to `stream` so far (a pipe or a file), without waiting.
    package func readSoFar(_ stream: Stream) -> String {
        if let capture = lock.withLock({ captures[stream] }) {
            return String(decoding: capture.soFar(), as: UTF8.self)
        }
        return fileContents(stream)
    }

    private func fileContents(_ stream: Stream) -> String {
        guard case .file(let path) = stream == .output ? standardOutputDestination : standardErrorDestination else { return "" }
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// Writes `bytes` to the child's standard input (``Input/pipe``); returns whether all were written.
    @discardableResult
    package func writeInput(_ bytes: some Collection<UInt8>) -> Bool {
        let fd = lock.withLock { inputWriter }
        guard fd >= 0 else { return false }
        return Array(bytes).withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return false }
                offset += written
            }
            return true
        }
    }

    /// Closes the child's standard input pipe: the child reads its end.
    package func closeInput() {
        lock.withLock {
            if inputWriter >= 0 { close(inputWriter) }
            inputWriter = -1
        }
    }
}
