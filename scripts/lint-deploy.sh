#!/usr/bin/env bash
# Lints the deployment files with whatever is installed (docs/operations.md):
#   promtool (Debian: prometheus)       check the alert rules and the scrape config
#   yamllint (Debian: yamllint)         every YAML file of docker-compose.yml and deploy/
#   docker-compose (Debian: docker-compose, v1.29) `config -q`: the compose file against its schema
#   kubectl                             `kustomize` builds the base and the example overlay
# A missing tool is reported and skipped; a failing check fails the script.
# Usage: scripts/lint-deploy.sh [--install]   (--install: apt-get the Debian packages above)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--install" ]]; then
    sudo_cmd=""
    [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends prometheus yamllint docker-compose
fi

failed=0
run() {
    local what=$1
    shift
    if "$@"; then
        echo "lint-deploy: ok      $what"
    else
        echo "lint-deploy: FAILED  $what"
        failed=1
    fi
}
skip() { echo "lint-deploy: skipped $1 ($2 not installed)"; }

if command -v promtool >/dev/null; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    sed 's#/etc/prometheus/alerts.yml#alerts.yml#' deploy/prometheus/prometheus.yml >"$tmp/prometheus.yml"
    cp deploy/prometheus/alerts.yml "$tmp/"
    run "promtool check rules" promtool check rules deploy/prometheus/alerts.yml
    run "promtool check config" promtool check config "$tmp/prometheus.yml"
else
    skip promtool prometheus
fi

if command -v yamllint >/dev/null; then
    run yamllint yamllint -s -d '{extends: default, rules: {line-length: {max: 160}, document-start: disable, truthy: disable, comments: {min-spaces-from-content: 1}}}' \
        docker-compose.yml deploy/
else
    skip yamllint yamllint
fi

if command -v docker-compose >/dev/null; then
    # Placeholder secrets: the file requires them (${VAR:?...}).
    run "docker-compose config" env FRICTION_KEYS_SECRET=lint-placeholder-secret FRICTION_MASTER_KEY=lint-placeholder \
        docker-compose -f docker-compose.yml config -q
else
    skip "docker-compose config" docker-compose
fi

if command -v kubectl >/dev/null; then
    run "kubectl kustomize base" sh -c 'kubectl kustomize deploy/k8s/base >/dev/null'
    run "kubectl kustomize overlays/example" sh -c 'kubectl kustomize deploy/k8s/overlays/example >/dev/null'
else
    skip "kubectl kustomize" kubectl
fi

exit $failed
