import CTaskHostABI

/// The worker's own build, compared with the plugin's build signature.
///
/// This repeats what `BackgroundTaskKit.BuildInfo` computes, on purpose: the
/// worker must not link BackgroundTaskKit, because the plugin brings its own
/// copy and two copies of one Swift module in a process collide.
enum WorkerBuildInfo {
    static let abiVersion = UInt32(TH_ABI_VERSION)

    static let swiftVersion: String = {
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

    static let target: String = {
        #if arch(x86_64)
        return "x86_64-unknown-linux-gnu"
        #elseif arch(arm64)
        return "aarch64-unknown-linux-gnu"
        #else
        return "unknown"
        #endif
    }()

    /// Why a plugin with `signature` cannot run in this worker, or `nil` when it can.
    static func mismatch(pluginABI: UInt32, signature: String, sdkVersion: String) -> String? {
        var fields: [String: String] = [:]
        for part in signature.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        var differences: [String] = []
        if pluginABI != abiVersion { differences.append("ABI version \(pluginABI), the host needs \(abiVersion)") }
        if fields["swift"] != swiftVersion {
            differences.append("Swift \(fields["swift"] ?? "unknown"), the host runs Swift \(swiftVersion)")
        }
        if fields["target"] != target {
            differences.append("target \(fields["target"] ?? "unknown"), the host is \(target)")
        }
        guard !differences.isEmpty else { return nil }
        return "plugin was built with " + differences.joined(separator: "; ")
            + " (plugin SDK \(sdkVersion)): rebuild it against this taskhost's BackgroundTaskKit with Swift \(swiftVersion) for \(target)"
    }
}
