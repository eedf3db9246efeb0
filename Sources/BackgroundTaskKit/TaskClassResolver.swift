import CTaskHostABI

/// A task class found by its entry point name.
enum ResolvedTaskClass {
    case blocking(any BackgroundTask.Type)
    case async(any AsyncBackgroundTask.Type)
}

/// Why an entry point cannot be used. Descriptions are sentences for the host's messages.
enum EntryPointProblem: Error, CustomStringConvertible {
    case notFound(String)
    case notAClass(String)
    case notConforming(String)
    case notFinal(String)

    var code: th_check_result {
        switch self {
        case .notFound: TH_CHECK_NOT_FOUND
        case .notAClass: TH_CHECK_NOT_A_CLASS
        case .notConforming: TH_CHECK_NOT_CONFORMING
        case .notFinal: TH_CHECK_NOT_FINAL
        }
    }

    /// The entry point's name.
    var entryPoint: String {
        switch self {
        case .notFound(let name), .notAClass(let name), .notConforming(let name), .notFinal(let name): name
        }
    }

    /// What is wrong, as a phrase that follows the entry point's name.
    var problem: String {
        switch self {
        case .notFound:
            "does not exist as a class (is it a public class, and is its module name right?)"
        case .notAClass:
            "is not a class (declare it as `public final class`)"
        case .notConforming:
            "is not a BackgroundTask (the class must conform to BackgroundTask or AsyncBackgroundTask)"
        case .notFinal:
            "is not a final class (declare it as `public final class`, Swift's spelling of Windows' sealed)"
        }
    }

    var description: String { "TaskEntryPoint \"\(entryPoint)\" \(problem)" }
}

/// Finds task classes by their `Module.Class` name, inside the plugin, against
/// the plugin's own copy of the SDK's protocols (the host cannot do this cast:
/// its copy of the protocols is a different type).
enum TaskClassResolver {
    static func resolve(_ entryPoint: String) -> Result<ResolvedTaskClass, EntryPointProblem> {
        guard let type = _typeByName(entryPoint) else { return .failure(.notFound(entryPoint)) }
        guard let cls = type as? AnyClass else { return .failure(.notAClass(entryPoint)) }
        let resolved: ResolvedTaskClass
        if let task = type as? any BackgroundTask.Type {
            resolved = .blocking(task)
        } else if let task = type as? any AsyncBackgroundTask.Type {
            resolved = .async(task)
        } else {
            return .failure(.notConforming(entryPoint))
        }
        if ClassMetadata(cls)?.declaresOverridableMembers == true {
            return .failure(.notFinal(entryPoint))
        }
        return .success(resolved)
    }
}

/// A read-only view of a class's runtime metadata, enough to tell whether
/// the class can be subclassed.
///
/// Swift records no "final" bit at run time. What it does record is the
/// class's vtable: the members a subclass could override. A final class has
/// no overridable instance members; a non-final class that declares its own
/// `run` (which a task class must) has one. A subclass that declares nothing
/// of its own cannot be told apart from a final class this way and passes.
///
/// Layout, from the Swift ABI (non-Objective-C platforms): class metadata holds
/// a pointer to its nominal type descriptor at offset 40; the descriptor's
/// first word holds its flags (kind in bits 0–4, HasVTable bit 31,
/// HasResilientSuperclass bit 29, metadata-initialization kind bits 16–17),
/// and its vtable header follows the fixed fields at offset 44.
struct ClassMetadata {
    private let descriptor: UnsafeRawPointer

    init?(_ cls: AnyClass) {
        #if os(Linux) && _pointerBitWidth(_64)
        let metadata = unsafeBitCast(cls, to: UnsafeRawPointer.self)
        guard let descriptor = metadata.load(fromByteOffset: 40, as: UnsafeRawPointer?.self) else { return nil }
        let flags = descriptor.load(as: UInt32.self)
        let isClass = flags & 0x1F == 16
        let isGeneric = flags & 0x80 != 0
        guard isClass, !isGeneric else { return nil }
        self.descriptor = descriptor
        #else
        return nil
        #endif
    }

    private var flags: UInt32 { descriptor.load(as: UInt32.self) }

    var declaresOverridableMembers: Bool {
        guard flags & (1 << 31) != 0 else { return false }
        var offset = 44
        if flags & (1 << 29) != 0 { offset += 4 }  // resilient superclass reference
        switch (flags >> 16) & 0x3 {
        case 1: offset += 12  // singleton metadata initialization
        case 2: offset += 4  // foreign metadata initialization
        default: break
        }
        let size = Int(descriptor.load(fromByteOffset: offset + 4, as: UInt32.self))
        guard size < 4096 else { return false }  // not a layout we understand: do not refuse
        let isInstanceMember: UInt32 = 0x10
        for index in 0..<size {
            let methodFlags = descriptor.load(fromByteOffset: offset + 8 + 8 * index, as: UInt32.self)
            if methodFlags & isInstanceMember != 0 { return true }
        }
        return false
    }
}
