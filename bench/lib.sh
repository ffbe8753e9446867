# Shared helpers for the benchmarks: a release build, a systemd manager, a throwaway root.
# Source it from a bench script; it sets $dokkulite and cleans up on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps >/dev/null
if [[ -z ${DOKKULITE_BIN:-} ]]; then
  DOKKULITE_BIN=$(scripts/build-release 2>/dev/null)
fi
dokkulite=$DOKKULITE_BIN
if [[ -z ${DOKKULITE_SYSTEMD_BUS:-} ]]; then
  while IFS= read -r line; do export "$line"; done <<<"$(scripts/systemd-manager start)"
fi
bench_root=$(mktemp -d /var/lib/dokkulite-bench.XXXXXX)
export DOKKULITE_ROOT=$bench_root DOKKULITE_SLICE=dlbench DOKKULITE_CONFIG=/dev/null DOKKULITE_PORT_RANGE=41000-41999
bench_cleanup() {
  for app in $("$dokkulite" --quiet apps:list 2>/dev/null); do "$dokkulite" --force apps:destroy "$app" >/dev/null 2>&1 || true; done
  for kind in postgres redis; do
    for s in $("$dokkulite" --quiet $kind:list 2>/dev/null); do "$dokkulite" --force $kind:destroy "$s" >/dev/null 2>&1 || true; done
  done
  rm -rf "$bench_root"
}
trap bench_cleanup EXIT

# install_release APP VERSION PROCESS_TYPES_JSON [FILE CONTENT]...: a release tree by hand.
install_release() {
  local app=$1 version=$2 types=$3; shift 3
  local slug=$bench_root/apps/$app/releases/v$version/app
  mkdir -p "$slug"
  while (($#)); do printf '%s' "$2" >"$slug/$1"; shift 2; done
  local user; user=$(sqlite3 "$bench_root/dokkulite.db" "SELECT value FROM property WHERE app='$app' AND key='user'")
  chown -R "root:$user" "$bench_root/apps/$app/releases/v$version"; chmod -R g+rX "$bench_root/apps/$app/releases/v$version"
  sqlite3 "$bench_root/dokkulite.db" "UPDATE release SET status='available' WHERE app='$app' AND status='current';
    INSERT INTO release (app, version, status, description, processTypes, createdAt) VALUES ('$app', $version, 'current', 'bench', '$types', datetime('now'))"
}

. bench/helpers.sh
now_ms() { date +%s%3N; }
