import Builder
import Foundation
import Supervisor

/// The scripts units run (the Procfile launcher, the build driver), written by root under
/// the state root and bound read-only into each unit, so no script is ever an `ExecStart=`
/// argument (systemd 252 mangles those across a `daemon-reload`).
enum HelperScripts {
    /// The launcher of every Procfile process, bound at `ProcessSpec.launcherMount`.
    static func launcher(_ paths: Paths) throws -> BindPath {
        BindPath(source: try ensure(paths.root + "/lib/launch.sh", ProcessSpec.launcher), destination: ProcessSpec.launcherMount)
    }

    /// The build driver, bound at `BuildDriver.mount`.
    static func buildDriver(_ paths: Paths) throws -> BindPath {
        BindPath(source: try ensure(paths.root + "/lib/build-driver.sh", BuildDriver.script + "\n"), destination: BuildDriver.mount)
    }

    /// Writes `text` to `path` (0644, root's) unless it is there already.
    private static func ensure(_ path: String, _ text: String) throws -> String {
        let data = Data(text.utf8)
        if FileManager.default.contents(atPath: path) == data { return path }
        let directory = (path as NSString).deletingLastPathComponent
        if mkdir(directory, 0o755) != 0, errno != EEXIST {
            throw CommandError("cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        try SecretFile.write(Array(data), to: path, mode: 0o644)
        return path
    }
}
