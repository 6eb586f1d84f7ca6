#!/usr/bin/env bash
# Secret scanning: fails when a tracked file (git ls-files; never target/ or node_modules) carries a
# credential that is not allow-listed in scripts/secrets-allowlist.tsv (each entry with a reason).
# The scanner is Yelp's detect-secrets, pinned, installed on first use into a virtualenv under
# $FRICTION_TOOLS_DIR (default ~/.cache/friction). scripts/test.sh runs it as its "secrets" phase.
#
# Usage: scripts/secrets.sh            # scan; exit 1 on a new finding
#        scripts/secrets.sh --install  # only install the scanner
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DETECT_SECRETS_VERSION=1.5.0
TOOLS_DIR="${FRICTION_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/friction}"
VENV="$TOOLS_DIR/detect-secrets-$DETECT_SECRETS_VERSION"

install_scanner() {
    if "$VENV/bin/python" -c 'import detect_secrets' 2>/dev/null; then
        return 0
    fi
    echo "==> installing detect-secrets $DETECT_SECRETS_VERSION into $VENV"
    mkdir -p "$TOOLS_DIR"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        # Debian ships venv separately.
        if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
        fi
        rm -rf "$VENV"
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "detect-secrets==$DETECT_SECRETS_VERSION"
}

install_scanner
if [[ ${1:-} == --install ]]; then
    exit 0
fi
cd "$REPO_ROOT"
git ls-files -z | "$VENV/bin/python" "$REPO_ROOT/scripts/secrets_scan.py" "$REPO_ROOT/scripts/secrets-allowlist.tsv"
