import Glibc
import Testing

@testable import TaskHostIPC

/// Whole writes to descriptors that are not sockets (standard error, lock files).
@Suite struct FileDescriptorIOTests {
    @Test func writeAllToAFileWritesEveryByteToAPipe() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let bytes = Array(repeating: UInt8(ascii: "x"), count: 10_000)
        #expect(FileDescriptorIO.writeAll(toFile: fds[1], bytes) == 0)
        close(fds[1])
        var read: [UInt8] = []
        while let chunk = FileDescriptorIO.read(fds[0]), !chunk.isEmpty { read += chunk }
        #expect(read == bytes)
        // The socket variant cannot write there at all (ENOTSOCK): why both exist.
        var again: [Int32] = [0, 0]
        try #require(pipe(&again) == 0)
        defer {
            close(again[0])
            close(again[1])
        }
        #expect(!FileDescriptorIO.writeAll(again[1], [1, 2, 3]))
    }

    @Test func writeAllToAFileReportsTheError() {
        #expect(FileDescriptorIO.writeAll(toFile: -1, [1]) == EBADF)
    }
}
