/// The script that runs buildpacks inside the build unit, following the Heroku classic
/// buildpack API: `bin/detect BUILD`, `bin/compile BUILD CACHE ENV_DIR`, each buildpack's
/// `export` sourced before the next one compiles, and `bin/release BUILD` saved as YAML.
///
/// Arguments: BUILD CACHE ENV_DIR META BUILDPACK…. With `DOKKULITE_DETECT=1` the first
/// buildpack whose detect succeeds is used; otherwise all of them, in order. Results land
/// in META: `buildpacks` (one `path<TAB>name` line per buildpack used) and `release.N.yml`.
package enum BuildDriver {
    /// Exit status when no buildpack detected the app.
    package static let noBuildpackStatus: Int32 = 99
    /// Exit status when an explicitly chosen buildpack does not detect the app.
    package static let incompatibleStatus: Int32 = 98

    package static let script = #"""
        set -o pipefail
        build=$1 cache=$2 env=$3 meta=$4; shift 4
        # Buildpacks may write next to themselves (their `export` file): give each a
        # private writable copy, as herokuish does.
        work=$(mktemp -d)
        copies=() originals=()
        i=0
        for bp in "$@"; do
          i=$((i + 1))
          cp -R "$bp" "$work/$i"
          copies+=("$work/$i") originals+=("$bp")
        done
        chosen=() names=() sources=()
        if [ "${DOKKULITE_DETECT:-0}" = 1 ]; then
          for n in "${!copies[@]}"; do
            if name=$("${copies[$n]}/bin/detect" "$build" 2>/dev/null); then
              chosen=("${copies[$n]}") names=("${name%%$'\n'*}") sources=("${originals[$n]}")
              break
            fi
          done
          if [ ${#chosen[@]} -eq 0 ]; then exit 99; fi
        else
          for n in "${!copies[@]}"; do
            if ! name=$("${copies[$n]}/bin/detect" "$build" 2>/dev/null); then
              echo "${originals[$n]}" > "$meta/incompatible"
              exit 98
            fi
            chosen+=("${copies[$n]}") names+=("${name%%$'\n'*}") sources+=("${originals[$n]}")
          done
        fi
        for n in "${!chosen[@]}"; do
          bp=${chosen[$n]}
          echo "-----> ${names[$n]} app detected"
          "$bp/bin/compile" "$build" "$cache" "$env"
          status=$?
          if [ $status -ne 0 ]; then
            echo "${sources[$n]}	${names[$n]}	$status" > "$meta/failed"
            exit $status
          fi
          if [ -f "$bp/export" ]; then . "$bp/export"; fi
          if [ -x "$bp/bin/release" ]; then
            "$bp/bin/release" "$build" > "$meta/release.$n.yml" || { echo "${sources[$n]}	${names[$n]}	release" > "$meta/failed"; exit 1; }
          fi
          printf '%s\t%s\n' "${sources[$n]}" "${names[$n]}" >> "$meta/buildpacks"
        done
        rm -rf "$work"
        """#

    /// Where the build unit finds `script` (a file bound read-only: a script as an
    /// `ExecStart=` argument does not survive a systemd reload, see ProcessSpec.launcher).
    package static let mount = "/usr/local/lib/dokkulite/build-driver"

    /// The command line for the build unit.
    package static func argv(build: String, cache: String, env: String, meta: String, buildpacks: [String]) -> [String] {
        ["/bin/bash", mount, build, cache, env, meta] + buildpacks
    }
}
