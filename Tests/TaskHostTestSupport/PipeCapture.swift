import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One pipe from a child, read to its end by a thread of its own.
final class PipeCapture: @unchecked Sendable {
    private let lock = NSCondition()
    private var bytes: [UInt8] = []
    private var finished = false
    private var waiters: [CheckedContinuation<[UInt8], Never>] = []

    init(fd: Int32, name: String) {
        let reader = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                lock.withLock { bytes.append(contentsOf: buffer[0..<count]) }
            }
            close(fd)
            lock.lock()
            finished = true
            let woken = waiters
            waiters = []
            let all = bytes
            lock.broadcast()
            lock.unlock()
            for waiter in woken { waiter.resume(returning: all) }
        }
        reader.name = "ChildProcess \(name) reader"
        reader.start()
    }

    func data() async -> [UInt8] {
        await withCheckedContinuation { continuation in
            lock.lock()
            if finished {
                let all = bytes
                lock.unlock()
                continuation.resume(returning: all)
            } else {
                waiters.append(continuation)
                lock.unlock()
            }
        }
    }

    func dataBlocking() -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        while !finished { lock.wait() }
        return bytes
    }

    func soFar() -> [UInt8] { lock.withLock { bytes } }
}
