extension BuiltinBuildpack {
    /// The buildpack's files: path → content. Every file is installed executable.
    var files: [String: String] {
        switch self {
        case .inline:
            [
                "bin/detect": #"""
                    #!/usr/bin/env bash
                    # The app ships its own buildpack in bin/: detect, compile, release.
                    [ -x "$1/bin/compile" ] || exit 1
                    if [ -x "$1/bin/detect" ]; then exec "$1/bin/detect" "$1"; fi
                    echo "inline"
                    """#,
                "bin/compile": #"""
                    #!/usr/bin/env bash
                    exec "$1/bin/compile" "$@"
                    """#,
                "bin/release": #"""
                    #!/usr/bin/env bash
                    if [ -x "$1/bin/release" ]; then exec "$1/bin/release" "$1"; fi
                    echo "--- {}"
                    """#,
            ]
        case .python:
            [
                "bin/detect": #"""
                    #!/usr/bin/env bash
                    [ -f "$1/requirements.txt" ] || [ -f "$1/setup.py" ] || [ -f "$1/pyproject.toml" ] || [ -f "$1/Pipfile" ] || [ -f "$1/uv.lock" ] || [ -f "$1/poetry.lock" ] || exit 1
                    echo "Python"
                    """#,
                "bin/compile": #"""
                    #!/usr/bin/env bash
                    # Python: a virtualenv from the server's python3 at $BUILD/.venv, requirements
                    # installed with pip. As Heroku's buildpack, the requirements come from
                    # requirements.txt, or from a uv.lock, poetry.lock or Pipfile(.lock), exported by
                    # that tool (installed from PyPI into the cache once). Wheels are cached, and the
                    # whole virtualenv is reused when the requirements and the Python version have not
                    # changed.
                    set -eo pipefail
                    build=$1 cache=$2 env=$3
                    indent() { sed -u 's/^/       /'; }
                    for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_FIND_LINKS; do
                      if [ -f "$env/$var" ]; then export "$var=$(cat "$env/$var")"; fi
                    done
                    python=${DOKKULITE_PYTHON:-/usr/bin/python3}
                    if [ ! -x "$python" ] || ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
                      echo " !     python3 with venv is not installed on this server; install it with: apt-get install python3 python3-venv" >&2
                      exit 1
                    fi
                    version=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
                    echo "-----> Using Python $version from the server"
                    # Heroku installs the version an app asks for; dokkulite has the server's.
                    wanted=
                    if [ -f "$build/runtime.txt" ]; then
                      wanted=$(tr -d '[:space:]' < "$build/runtime.txt"); wanted=${wanted#python-}
                    elif [ -f "$build/.python-version" ]; then
                      wanted=$(grep -v '^#' "$build/.python-version" | head -1 | tr -d '[:space:]')
                    fi
                    if [ -n "$wanted" ]; then
                      case $version in
                        "$wanted" | "$wanted".*) ;;
                        *) echo " !     The app asks for Python $wanted; it is built and run with the server's Python $version" ;;
                      esac
                    fi
                    # A package manager's tool, in its own virtualenv in the cache.
                    # (Per Python version: a tool's scripts name the interpreter they were made with.)
                    tool() { # TOOL [MORE PACKAGES...]: the directory of its commands
                      local dir="$cache/tools/$version/$1"
                      if [ ! -x "$dir/bin/$1" ]; then
                        # Progress on stderr: stdout is the answer.
                        echo "-----> Installing $* (once, cached)" >&2
                        rm -rf "$dir"
                        "$python" -m venv "$dir" >&2 || return 1
                        "$dir/bin/pip" install --disable-pip-version-check --no-input --cache-dir "$cache/pip" "$@" 2>&1 | indent >&2 || { rm -rf "$dir"; return 1; }
                      fi
                      echo "$dir/bin"
                    }
                    requirements=$build/requirements.txt
                    exported=$(mktemp)
                    trap 'rm -f "$exported"' EXIT
                    cd "$build"
                    if [ -f requirements.txt ]; then
                      :
                    elif [ -f uv.lock ]; then
                      echo "-----> Exporting requirements from uv.lock with uv"
                      bin=$(tool uv) || exit 1
                      requirements=$exported
                      "$bin/uv" export --frozen --no-dev --no-hashes --no-emit-project --no-header --quiet -o "$requirements"
                    elif [ -f poetry.lock ]; then
                      echo "-----> Exporting requirements from poetry.lock with Poetry"
                      bin=$(tool poetry poetry-plugin-export) || exit 1
                      requirements=$exported
                      "$bin/poetry" export --only main --without-hashes --format requirements.txt --output "$requirements" 2>&1 | indent
                    elif [ -f Pipfile ] && [ ! -f Pipfile.lock ]; then
                      echo " !     Pipfile.lock not found: run 'pipenv lock' and commit the lock file" >&2
                      exit 1
                    elif [ -f Pipfile.lock ]; then
                      echo "-----> Exporting requirements from Pipfile.lock with Pipenv"
                      bin=$(tool pipenv) || exit 1
                      requirements=$exported
                      PIPENV_VERBOSITY=-1 "$bin/pipenv" requirements > "$requirements"
                    else
                      echo " !     No Python dependencies file: add requirements.txt (or a uv.lock, poetry.lock or Pipfile.lock)" >&2
                      exit 1
                    fi
                    key=$( (echo "$version"; cat "$requirements") | sha256sum | cut -c1-16)
                    venv=$build/.venv
                    rm -rf "$venv"
                    if [ -d "$cache/venv-$key" ]; then
                      echo "-----> Requirements unchanged: reusing the cached virtualenv"
                      cp -a "$cache/venv-$key" "$venv"
                    else
                      echo "-----> Installing requirements with pip"
                      "$python" -m venv "$venv"
                      "$venv/bin/pip" install --disable-pip-version-check --no-input --cache-dir "$cache/pip" -r "$requirements" 2>&1 | indent
                      rm -rf "$cache"/venv-*
                      cp -a "$venv" "$cache/venv-$key"
                    fi
                    # Django's static files, as Heroku's buildpack collects them: when the app has
                    # a manage.py and Django imports, unless DISABLE_COLLECTSTATIC is set (not 0).
                    # The app's config vars are in the environment, as settings modules read them.
                    manage=$(find . -maxdepth 3 -type f -name manage.py -printf '%d\t%P\n' | sort -nk1 | cut -f2 | head -1)
                    disable=$(cat "$env/DISABLE_COLLECTSTATIC" 2>/dev/null || true)
                    [ -f .heroku/collectstatic_disabled ] && disable=1
                    if [ -n "$manage" ] && { [ -z "$disable" ] || [ "$disable" = 0 ]; } && "$venv/bin/python" -c 'import django' 2>/dev/null; then
                      echo "-----> \$ python $manage collectstatic --noinput"
                      if ! (
                        for file in "$env"/*; do
                          [ -f "$file" ] || continue
                          case ${file##*/} in PATH|GIT_DIR|CPATH|CPPATH|LD_PRELOAD|LIBRARY_PATH|LD_LIBRARY_PATH|PYTHONHOME) continue ;; esac
                          export "${file##*/}=$(cat "$file")"
                        done
                        export PYTHONPATH=${PYTHONPATH:-.}
                        "$venv/bin/python" "$manage" collectstatic --noinput --traceback 2>&1 | sed -u '/^Post-processed/d;/^Copying/d;/^$/d' | indent
                      ); then
                        echo " !     Error while running '\$ python $manage collectstatic --noinput'." >&2
                        echo "       See the traceback above. Or disable collectstatic for this app:" >&2
                        echo "       dokku config:set APP DISABLE_COLLECTSTATIC=1" >&2
                        exit 1
                      fi
                    fi
                    mkdir -p "$build/.profile.d"
                    cat > "$build/.profile.d/python.sh" <<'PROFILE'
                    export PATH="$HOME/.venv/bin:$PATH"
                    export PYTHONUNBUFFERED=1
                    PROFILE
                    cat > "$(dirname "$0")/../export" <<EXPORT
                    export PATH="$venv/bin:\$PATH"
                    EXPORT
                    """#,
                "bin/release": #"""
                    #!/usr/bin/env bash
                    echo "--- {}"
                    """#,
            ]
        case .nodejs:
            [
                "bin/detect": #"""
                    #!/usr/bin/env bash
                    [ -f "$1/package.json" ] || exit 1
                    echo "Node.js"
                    """#,
                "bin/compile": #"""
                    #!/usr/bin/env bash
                    # Node.js: the server's node and npm; `npm ci` with a lockfile, else `npm install`;
                    # npm's cache is kept between builds; `npm run build` when the app has one.
                    set -eo pipefail
                    build=$1 cache=$2 env=$3
                    indent() { sed -u 's/^/       /'; }
                    for var in NPM_CONFIG_REGISTRY NPM_CONFIG_PRODUCTION NODE_ENV; do
                      if [ -f "$env/$var" ]; then export "$var=$(cat "$env/$var")"; fi
                    done
                    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
                      echo " !     node and npm are not installed on this server; install them with: apt-get install nodejs npm" >&2
                      exit 1
                    fi
                    echo "-----> Using Node.js $(node --version) and npm $(npm --version) from the server"
                    export npm_config_cache="$cache/npm" npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
                    cd "$build"
                    # As Heroku's Node.js buildpack: `heroku-prebuild` before the install, and
                    # `heroku-postbuild` in place of `build` after it.
                    script() { node -e 'process.exit(require("./package.json").scripts?.[process.argv[1]] ? 0 : 1)' "$1" 2>/dev/null; }
                    if script heroku-prebuild; then
                      echo "-----> Running heroku-prebuild"
                      npm run heroku-prebuild 2>&1 | indent
                    fi
                    if [ -f package-lock.json ] || [ -f npm-shrinkwrap.json ]; then
                      echo "-----> Installing dependencies with npm ci"
                      npm ci --prefer-offline 2>&1 | indent
                    else
                      echo "-----> Installing dependencies with npm install"
                      npm install --prefer-offline 2>&1 | indent
                    fi
                    # npm can fail and still exit 0 ("Exit handler never called!" when the
                    # registry is out of reach): every declared dependency must resolve.
                    if ! node -e 'const p = require("./package.json"); for (const d of Object.keys(p.dependencies || {})) require.resolve(d + "/package.json", {paths: [process.cwd()]})' 2>/dev/null; then
                      echo " !     npm did not install the app's dependencies (is the registry reachable? NPM_CONFIG_REGISTRY sets another)" >&2
                      exit 1
                    fi
                    if script heroku-postbuild; then
                      echo "-----> Running heroku-postbuild"
                      npm run heroku-postbuild 2>&1 | indent
                    elif script build; then
                      echo "-----> Running build"
                      npm run build 2>&1 | indent
                    fi
                    mkdir -p "$build/.profile.d"
                    cat > "$build/.profile.d/nodejs.sh" <<'PROFILE'
                    export PATH="$HOME/node_modules/.bin:$PATH"
                    export NODE_ENV=${NODE_ENV:-production}
                    PROFILE
                    """#,
                "bin/release": #"""
                    #!/usr/bin/env bash
                    cd "$1"
                    if node -e 'process.exit(require("./package.json").scripts?.start ? 0 : 1)' 2>/dev/null; then
                      printf -- '---\ndefault_process_types:\n  web: npm start\n'
                    elif [ -f server.js ]; then
                      printf -- '---\ndefault_process_types:\n  web: node server.js\n'
                    else
                      echo "--- {}"
                    fi
                    """#,
            ]
        case .static:
            [
                "bin/detect": #"""
                    #!/usr/bin/env bash
                    # `.static` is Dokku's marker (its nginx buildpack); static.json Heroku's.
                    [ -f "$1/.static" ] || [ -f "$1/static.json" ] || [ -f "$1/index.html" ] || [ -f "$1/public/index.html" ] || exit 1
                    echo "Static HTML"
                    """#,
                "bin/compile": #"""
                    #!/usr/bin/env bash
                    # Static sites are served by dokkulite's own file server: nothing to build.
                    # The root: NGINX_ROOT (Dokku's nginx buildpack), else static.json's "root"
                    # (Heroku's), else the top, or public/ when only it has an index.html.
                    set -eo pipefail
                    root=.
                    [ -f "$1/index.html" ] || [ -f "$1/.static" ] || { [ -d "$1/public" ] && root=public; }
                    if [ -f "$1/static.json" ] && command -v python3 >/dev/null; then
                      configured=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("root", ""))' "$1/static.json" 2>/dev/null || true)
                      [ -n "$configured" ] && root=$configured
                    fi
                    if [ -s "$3/NGINX_ROOT" ]; then
                      root=$(cat "$3/NGINX_ROOT")
                      root=${root#/}
                    fi
                    if [ ! -d "$1/$root" ]; then
                      echo " !     The static root $root is not a directory of the app" >&2
                      exit 1
                    fi
                    echo "-----> Serving $root with dokkulite's static file server"
                    echo "$root" > "$1/.static-root"
                    """#,
                "bin/release": #"""
                    #!/usr/bin/env bash
                    root=$(cat "$1/.static-root" 2>/dev/null || echo .)
                    printf -- '---\ndefault_process_types:\n  web: exec /usr/local/lib/dokkulite/dokkulite static:serve --root %q --port "$PORT"\n' "/app/$root"
                    """#,
            ]
        case .procfile:
            [
                "bin/detect": #"""
                    #!/usr/bin/env bash
                    [ -f "$1/Procfile" ] || exit 1
                    echo "Procfile"
                    """#,
                "bin/compile": #"""
                    #!/usr/bin/env bash
                    echo "-----> Nothing to build: the app runs as pushed"
                    """#,
                "bin/release": #"""
                    #!/usr/bin/env bash
                    echo "--- {}"
                    """#,
            ]
        }
    }
}
