#!/usr/bin/env bash
# Installs the runtimes of the conformance suite (tests/conformance), idempotently:
#   - the Python ones (openvino, tract, tinygrad) into the project's venv, from the
#     `conformance` extra of pyproject.toml;
#   - clang, which tinygrad's CPU backend compiles with, from apt, only if it is missing;
#   - node and npm from apt, only if missing; onnxruntime-node and onnxruntime-web from npm, at
#     the versions of the committed package-lock.json, into .cache/conformance/node (not the
#     CUDA binaries that onnxruntime-node's install script would download);
#   - chromium and chromium-driver from apt, only if missing, for the browser test of `nnc web`.
# A second run finds everything in place and installs nothing. Prints what it installed and how
# long each part took.
#
#   scripts/conformance/install.sh            # everything
#   scripts/conformance/install.sh python js  # only some parts: python, clang, js, browser
#
# Environment: PYTHON (default .venv/bin/python), NNC_CONFORMANCE_CACHE (default
# .cache/conformance).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
CACHE="${NNC_CONFORMANCE_CACHE:-$ROOT/.cache/conformance}"
LOCK_DIR="$ROOT/scripts/conformance/node"
PARTS=("$@")
[ ${#PARTS[@]} -eq 0 ] && PARTS=(python clang js browser)

say() { printf '[conformance install] %s\n' "$*"; }

seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

timed() {  # timed LABEL COMMAND...: runs the command, prints how long it took
    local label="$1" start end
    shift
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    say "$label: $(seconds "$start" "$end") s"
}

python_missing() {  # prints the requirements of the `conformance` extra that are not satisfied
    "$PYTHON" - "$ROOT/pyproject.toml" <<'EOF'
import importlib.metadata as md
import re
import sys

text = open(sys.argv[1]).read()
block = re.search(r"^conformance\s*=\s*\[(.*?)\]", text, re.S | re.M)
if block is None:
    sys.exit("pyproject.toml has no `conformance` extra")
for line in re.findall(r'"([^"]+)"', block.group(1)):
    name, _, version = line.partition("==")
    try:
        ok = md.version(name) == version
    except md.PackageNotFoundError:
        ok = False
    if not ok:
        print(line)
EOF
}

install_python() {
    if [ ! -x "$PYTHON" ]; then
        say "no Python at $PYTHON: create the venv first (see README.md)"
        return 1
    fi
    local missing
    missing="$(python_missing)"
    if [ -z "$missing" ]; then
        say "python: up to date ($("$PYTHON" -c 'import importlib.metadata as m; print(", ".join(f"{d} {m.version(d)}" for d in ("openvino", "tract", "tinygrad")))'))"
        return 0
    fi
    say "python: installing $(echo "$missing" | tr '\n' ' ')"
    # the requirements themselves, not `-e .[conformance]`: that would rebuild nnc's own install
    echo "$missing" | xargs "$PYTHON" -m pip install -q --disable-pip-version-check
}

APT_UPDATED=""
apt_install() {  # apt_install PACKAGE...: from Debian's archive, as root or through sudo
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    if [ -z "$APT_UPDATED" ]; then
        $sudo apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" \
        >/dev/null
}

install_clang() {
    if command -v clang >/dev/null; then
        say "clang: present ($(clang --version | head -1))"
        return 0
    fi
    if ! command -v apt-get >/dev/null; then
        say "clang: missing and no apt-get here; install clang to run tinygrad on the CPU"
        return 0
    fi
    say "clang: installing from apt"
    apt_install clang
    say "clang: $(clang --version | head -1)"
}

install_browser() {
    if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
        say "browser: present ($(chromium --version 2>/dev/null | head -1))"
        return 0
    fi
    if ! command -v apt-get >/dev/null; then
        say "browser: chromium or chromedriver missing and no apt-get here; the browser test skips"
        return 0
    fi
    say "browser: installing chromium and chromium-driver from apt"
    apt_install chromium chromium-driver
    say "browser: $(chromium --version 2>/dev/null | head -1)"
}

install_js() {
    if ! command -v npm >/dev/null && command -v apt-get >/dev/null; then
        say "js: installing node and npm from apt"
        apt_install nodejs npm
    fi
    if ! command -v npm >/dev/null; then
        say "js: npm is missing; install node >= 18 to run onnxruntime-node/web"
        return 0
    fi
    local dir="$CACHE/node"
    mkdir -p "$dir"
    # npm ci starts from scratch; skip it when the installed tree matches the committed lock
    if [ -f "$dir/node_modules/.package-lock.json" ] \
        && cmp -s "$LOCK_DIR/package-lock.json" "$dir/package-lock.json" \
        && [ -f "$dir/node_modules/onnxruntime-node/package.json" ] \
        && [ -f "$dir/node_modules/onnxruntime-web/package.json" ]; then
        say "js: up to date ($(cd "$dir" && node -p 'const v = (p) => require(`./node_modules/${p}/package.json`).version; `onnxruntime-node ${v("onnxruntime-node")}, onnxruntime-web ${v("onnxruntime-web")}`'))"
        return 0
    fi
    cp "$LOCK_DIR/package.json" "$LOCK_DIR/package-lock.json" "$dir/"
    say "js: npm ci in $dir"
    # onnxruntime-node's postinstall downloads CUDA provider binaries from outside npm; the
    # CPU binaries it needs ship inside the package, so its scripts are not run at all
    (cd "$dir" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --ignore-scripts --no-audit --no-fund \
        --loglevel=error)
    # onnxruntime-node ships its binaries for every OS and CPU (~290 MB); keep this machine's
    local keep bin
    keep="$(node -p 'process.platform + "/" + process.arch')"
    for bin in "$dir"/node_modules/onnxruntime-node/bin/napi-v6/*/*; do
        case "$bin" in */"$keep") ;; *) rm -rf "$bin" ;; esac
    done
    say "js: $(cd "$dir" && du -sh node_modules | cut -f1) in $dir/node_modules"
}

total_start=$(date +%s.%N)
for part in "${PARTS[@]}"; do
    case "$part" in
        python) timed "python" install_python ;;
        clang) timed "clang" install_clang ;;
        js) timed "js" install_js ;;
        browser) timed "browser" install_browser ;;
        *) say "unknown part $part (python, clang, js, browser)"; exit 2 ;;
    esac
done
say "done in $(seconds "$total_start" "$(date +%s.%N)") s"
