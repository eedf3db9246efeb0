import Foundation
package import TaskHostIsolation
package import TaskHostManifest

extension PluginManager {
    /// Checks the plugin folder at `directory` as the host does before it
    /// registers it: its manifest, an identity of its own, libraries inside
    /// the folder, each loaded in a scanner process, each entry point usable.
    ///
    /// - Parameters:
    ///   - registry: when given, an identity another app registered is a problem.
    ///   - searchesOutside: whether a library the checker's resolver finds
    ///     outside the folder will do (`taskhost plugins validate` of a package
    ///     folder with `--library-path`); the host accepts only the folder's own.
    package static func validate(
        directory: String, plugin: String, checker: ManifestChecker, reservedIdentity: String?, registry: TaskRegistry?,
        searchesOutside: Bool = false
    ) -> PluginValidation {
        let manifestPath = directory + "/manifest.json"
        guard FileManager.default.fileExists(atPath: manifestPath) else {
            return PluginValidation(
                manifest: nil,
                problems: [
                    "plugin folder \"\(plugin)\" has no manifest.json (\(manifestPath)); a plugin folder holds its manifest.json and the libraries it names"
                ])
        }
        let manifest: AppManifest
        do {
            manifest = try AppManifest.load(path: manifestPath)
        } catch {
            return PluginValidation(manifest: nil, problems: [error.description])
        }
        let identity = manifest.identity.name
        if identity == reservedIdentity {
            return PluginValidation(
                manifest: manifest,
                problems: ["its Identity.Name \"\(identity)\" is the root manifest's; give the plugin an identity of its own"])
        }
        if let other = registry?.identityInUse(identity, byOtherThan: plugin) {
            return PluginValidation(
                manifest: manifest,
                problems: [
                    "its Identity.Name \"\(identity)\" is already used by \(other.plugin.map { "plugin \"\($0)\"" } ?? "the root manifest"); each plugin needs an identity of its own"
                ])
        }
        var problems: [String] = []
        var tasks: [RegisteredTask] = []
        let folder = LibraryResolver.absolute(directory, relativeTo: FileManager.default.currentDirectoryPath)
        for task in manifest.tasks {
            switch checker.resolver.resolve(task.library, manifestDirectory: manifest.directory) {
            case .success(let path) where searchesOutside || path.hasPrefix(folder + "/"):
                tasks.append(RegisteredTask(app: manifest, task: task, libraryPath: path, plugin: plugin))
            case .success:
                problems.append(
                    "task \"\(task.name)\": Library \"\(task.library)\" is outside the plugin folder; put the library in the folder")
            case .failure(let notFound):
                problems.append("task \"\(task.name)\": " + (searchesOutside ? notFound.description : notFound.pluginFolderDescription))
            }
        }
        guard problems.isEmpty else { return PluginValidation(manifest: manifest, problems: problems) }
        let (checked, inspections) = checker.check(manifest)
        return PluginValidation(
            manifest: manifest, tasks: checked.isEmpty ? tasks : [],
            problems: checked.isEmpty ? [] : [ManifestError(file: manifest.path, problems: checked).description],
            inspections: inspections)
    }
}

/// The result of ``PluginManager/validate(directory:plugin:checker:reservedIdentity:registry:searchesOutside:)``.
package struct PluginValidation: Sendable {
    /// The plugin's manifest, when it could be read.
    package var manifest: AppManifest?
    /// Its tasks, resolved (empty when there are problems).
    package var tasks: [RegisteredTask] = []
    /// What is wrong, each a sentence that says what to do; empty when usable.
    package var problems: [String]
    /// What the scanner found in each library that loaded.
    package var inspections: [PluginInspection] = []
}
