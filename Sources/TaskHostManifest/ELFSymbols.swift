import Foundation

/// The symbols a shared library exports, read from its ELF dynamic symbol
/// table without loading it (no code of the library runs).
package struct ELFSymbols: Sendable, Equatable {
    /// Exported functions (C symbols a manifest's `Symbol` can name, Swift
    /// functions in mangled form).
    package var functions: [String]
    /// Exported data symbols.
    package var objects: [String]

    /// Reads the dynamic symbol table of the 64-bit little-endian ELF file at `path`.
    package static func read(path: String) throws(ELFError) -> ELFSymbols {
        guard let data = FileManager.default.contents(atPath: path) else { throw ELFError("\(path): cannot be read") }
        let bytes = [UInt8](data)
        func integer<T: FixedWidthInteger>(_ offset: Int, _: T.Type) throws(ELFError) -> T {
            guard offset >= 0, offset + MemoryLayout<T>.size <= bytes.count else { throw ELFError("\(path): truncated ELF file") }
            var value: T = 0
            for index in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(bytes[offset + index]) }
            return value
        }
        guard bytes.count > 64, bytes[0..<4] == [0x7F, 0x45, 0x4C, 0x46] else { throw ELFError("\(path): not an ELF file") }
        guard bytes[4] == 2, bytes[5] == 1 else { throw ELFError("\(path): not a 64-bit little-endian ELF file") }
        let sectionTable = Int(try integer(0x28, UInt64.self))
        let sectionSize = Int(try integer(0x3A, UInt16.self))
        let sectionCount = Int(try integer(0x3C, UInt16.self))
        var functions: [String] = []
        var objects: [String] = []
        for index in 0..<sectionCount {
            let header = sectionTable + index * sectionSize
            guard try integer(header + 4, UInt32.self) == 11 else { continue }  // SHT_DYNSYM
            let offset = Int(try integer(header + 0x18, UInt64.self))
            let size = Int(try integer(header + 0x20, UInt64.self))
            let link = Int(try integer(header + 0x28, UInt32.self))
            let entrySize = max(24, Int(try integer(header + 0x38, UInt64.self)))
            let strings = Int(try integer(sectionTable + link * sectionSize + 0x18, UInt64.self))
            for entry in stride(from: offset, to: offset + size, by: entrySize) {
                let info = try integer(entry + 4, UInt8.self)
                let sectionIndex = try integer(entry + 6, UInt16.self)
                let binding = info >> 4
                let type = info & 0xF
                guard sectionIndex != 0, binding == 1 || binding == 2 else { continue }  // defined, global or weak
                var end = strings + Int(try integer(entry, UInt32.self))
                let start = end
                while end < bytes.count, bytes[end] != 0 { end += 1 }
                guard end > start else { continue }
                let name = String(decoding: bytes[start..<end], as: UTF8.self)
                if type == 2 { functions.append(name) } else if type == 1 { objects.append(name) }
            }
        }
        return ELFSymbols(functions: functions.sorted(), objects: objects.sorted())
    }

    /// The C functions: exported functions that are not Swift symbols.
    package var cFunctions: [String] { functions.filter { !$0.hasPrefix("$s") && !$0.hasPrefix("_$s") && !$0.hasPrefix("_") } }

    /// `Module.Class` of every package class the library defines, from the
    /// class descriptors it exports (`…CMn`), outside the SDK's own module.
    package var swiftClasses: [String] {
        objects.filter { $0.hasPrefix("$s") && $0.hasSuffix("CMn") }.compactMap { symbol in
            guard let text = Self.demangle(symbol) else { return nil }
            let prefix = "nominal type descriptor for "
            guard text.hasPrefix(prefix) else { return nil }
            let name = String(text.dropFirst(prefix.count))
            guard !name.contains(where: { " <(,:".contains($0) }), !name.hasPrefix("BackgroundTaskKit.") else { return nil }
            return name
        }.sorted()
    }

    static func demangle(_ symbol: String) -> String? {
        symbol.withCString { pointer -> String? in
            guard let output = swift_demangle(pointer, strlen(pointer), nil, nil, 0) else { return nil }
            defer { free(output) }
            return String(cString: output)
        }
    }
}

// swift-format-ignore: AlwaysUseLowerCamelCase
// The runtime's own name.
@_silgen_name("swift_demangle")
private func swift_demangle(
    _ mangledName: UnsafePointer<CChar>, _ length: Int, _ outputBuffer: UnsafeMutablePointer<CChar>?,
    _ outputBufferSize: UnsafeMutablePointer<Int>?, _ flags: UInt32
) -> UnsafeMutablePointer<CChar>?

/// A file that is not a readable 64-bit ELF shared library.
package struct ELFError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with the file.
    package var description: String
    init(_ description: String) { self.description = description }
}
