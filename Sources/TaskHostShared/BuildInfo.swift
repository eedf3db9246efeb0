import CTaskHostABI

/// What a plugin was built with. The plugin's descriptor carries it, and the
/// host refuses a plugin whose ABI version, Swift compiler or target differ
/// from its own, saying what to rebuild with.
package enum BuildInfo {
    /// The version of this SDK.
    package static let sdkVersion = "0.1.0"

    /// The plugin ABI version this SDK implements (`TH_ABI_VERSION`).
    package static let abiVersion = UInt32(TH_ABI_VERSION)

    /// The Swift compiler that built this code, major.minor.
    package static let swiftVersion: String = {
        #if compiler(>=6.5)
        return "6.5+"
        #elseif compiler(>=6.4)
        return "6.4"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #elseif compiler(>=6.1)
        return "6.1"
        #else
        return "6.0"
        #endif
    }()

    /// The target this code was built for.
    package static let target: String = {
        #if arch(x86_64)
        let arch = "x86_64"
        #elseif arch(arm64)
        let arch = "aarch64"
        #else
        let arch = "unknown"
        #endif
        #if os(Linux)
        return "\(arch)-unknown-linux-gnu"
        #else
        return "\(arch)-unknown-other"
        #endif
    }()

    /// `sdk=…;abi=…;swift=…;target=…`, as in the plugin descriptor.
    package static let signature = "sdk=\(sdkVersion);abi=\(abiVersion);swift=\(swiftVersion);target=\(target)"
}
