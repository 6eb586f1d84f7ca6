#!/usr/bin/env bash
# The README's test command: installs what is missing, starts the local services
# (scripts/services.sh), runs the whole Rust suite once with cargo-nextest against them, then the
# browser SDK's tests (sdk/: Node's test runner, headless Chromium, the demo shop, the real gateway),
# and stops the services it started (only those), also on failure or Ctrl-C.
#
# Usage: scripts/test.sh [NEXTEST ARGS...]
#   scripts/test.sh                      # everything
#   scripts/test.sh -E 'test(foo)'       # extra arguments go to `cargo nextest run`
#
# Environment:
#   FRICTION_SERVICES_DIR   where the services keep their data (default <repo>/.services)
#   FRICTION_SKIP_FMT=1     skip the `cargo fmt --check` phase
#   FRICTION_KEEP_SERVICES=1  leave the services this run started running afterwards
#   FRICTION_SKIP_SDK=1     skip the browser SDK phase (and installing Chromium and its npm packages)
#   FRICTION_TOOLS_DIR      where scripts/secrets.sh keeps its pinned scanner (default ~/.cache/friction)
#   FRICTION_FUZZ_SECONDS   seconds of mutation per fuzz target in the fuzz phase (default 5, 10 targets;
#                           0 replays the corpus only); FRICTION_FUZZ_SEED picks the mutations (default a fixed seed)
#
# The tests read FRICTION_TEST_BROKERS, FRICTION_TEST_POSTGRES_URL and FRICTION_TEST_CLICKHOUSE_URL.
# A test that can do without one of them skips when it is unset, unless FRICTION_REQUIRE_SERVICES=1,
# which this script sets once the services are up: then a missing service fails the test, naming
# the variable (tests/support, friction-test-support), so a run cannot pass without its services.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

# shellcheck source=scripts/services.sh
source "$REPO_ROOT/scripts/services.sh"

# Debian packages the workspace's build needs beyond the machine's toolchain: rdkafka-sys builds
# librdkafka from source with its configure script and make (C/C++ compilers, perl, python3),
# and links zlib found through pkg-config; curl is used to probe ClickHouse.
BUILD_PACKAGES=(gcc g++ make perl pkg-config zlib1g-dev curl)

T_START=$SECONDS
PHASES=()

# phase_done NAME START: record and print how long a phase took.
phase_done() {
    local line
    line=$(printf '%-10s %5d s' "$1" $((SECONDS - $2)))
    PHASES+=("$line")
    log "$1 took $((SECONDS - $2)) s"
}

# run_child CMD...: run CMD in the background and wait for it. Bash runs a trap only once the
# foreground command has finished, so this is what lets a TERM or Ctrl-C stop a long build or test
# run at once and still stop the services.
CHILD=""
SDK_PGID="" # the SDK phase runs in its own process group (node, Chromium, friction up)
run_child() {
    local rc=0
    "$@" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

STARTED=()
cleanup() {
    local rc=$?
    set +e
    if [[ -n $SDK_PGID ]] && kill -0 "$SDK_PGID" 2>/dev/null; then
        log "interrupted: stopping the SDK tests (process group $SDK_PGID)"
        kill -TERM -- "-$SDK_PGID" 2>/dev/null
        local i
        for ((i = 0; i < 25; i++)); do
            kill -0 -- "-$SDK_PGID" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL -- "-$SDK_PGID" 2>/dev/null
    fi
    if [[ -n $CHILD ]] && kill -0 "$CHILD" 2>/dev/null; then
        log "interrupted: stopping cargo (pid $CHILD)"
        # Its children first: when CHILD is a subshell running a pipeline, it dies at once and
        # they would no longer be found by their parent.
        command -v pkill >/dev/null && pkill -TERM -P "$CHILD"
        kill -TERM "$CHILD" 2>/dev/null
        wait "$CHILD" 2>/dev/null
    fi
    if [[ ${#STARTED[@]} -gt 0 ]]; then
        if [[ ${FRICTION_KEEP_SERVICES:-0} == 1 ]]; then
            log "leaving running (FRICTION_KEEP_SERVICES=1): ${STARTED[*]}"
        else
            log "stopping the services this run started: ${STARTED[*]}"
            local i
            take_lock
            # Stop in reverse order of start.
            for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
                service_do stop "${STARTED[i]}"
            done
        fi
    fi
    if [[ ${#PHASES[@]} -gt 0 ]]; then
        log "elapsed time per phase:"
        printf '    %s\n' "${PHASES[@]}"
        printf '    %-10s %5d s\n' total $((SECONDS - T_START))
    fi
    if [[ -n ${SDK_SUMMARY:-} ]]; then
        printf 'sdk tests: %s\n' "$SDK_SUMMARY"
    fi
    # Repeat nextest's summary so that it is the last thing a log reader sees.
    if [[ -n ${TEST_LOG:-} && -f $TEST_LOG ]]; then
        grep -E '^ *Summary \[' "$TEST_LOG" | tail -n 1
        rm -f "$TEST_LOG"
    fi
    exit "$rc"
}
trap cleanup EXIT

# -- phase: install ----------------------------------------------------------------------------
t=$SECONDS
log "phase: install (Debian packages, cargo-nextest, tansu, PostgreSQL, ClickHouse, Chromium, SDK npm packages, detect-secrets)"
ensure_packages "${BUILD_PACKAGES[@]}"
"$REPO_ROOT/scripts/secrets.sh" --install
if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install cargo-nextest --locked
fi
tansu_install
pg_install
ch_install
if [[ ${FRICTION_SKIP_SDK:-0} != 1 ]]; then
    sdk_install
fi
phase_done install "$t"

# -- phase: services ---------------------------------------------------------------------------
# From here on, Ctrl-C or a TERM ends the run through the cleanup, which stops what we started.
trap 'exit 130' INT
trap 'exit 143' TERM
t=$SECONDS
log "phase: services ($SERVICES_DIR)"
take_lock # waits while another services.sh / test.sh is starting or stopping services
for s in "${ALL_SERVICES[@]}"; do
    if service_do running "$s"; then
        log "$s: already running; this run will leave it running"
        service_do start "$s" # prints where it listens
    else
        STARTED+=("$s")
        service_do start "$s"
    fi
done
write_env_file
exec 9>&- # release the lock; nothing started from here on inherits it
# shellcheck source=/dev/null
source "$ENV_FILE"
export FRICTION_TEST_BROKERS FRICTION_TEST_POSTGRES_URL FRICTION_TEST_CLICKHOUSE_URL
# The services are running: a test that finds one missing fails instead of skipping.
export FRICTION_REQUIRE_SERVICES=1
# tansu 0.6.0's SQLite engine panics in its idempotent-producer check under load
# (tansu-storage lite.rs "more or less than one row") and then refuses every request, so the tests
# talk to it without producer idempotence. Production defaults (and docker-compose's Kafka) keep it on.
export FRICTION_TEST_KAFKA_PROPERTIES="${FRICTION_TEST_KAFKA_PROPERTIES:-enable.idempotence=false,max.in.flight.requests.per.connection=1}"
log "test environment ($ENV_FILE):"
cat "$ENV_FILE"
phase_done services "$t"

# -- phase: fmt --------------------------------------------------------------------------------
fmt_failed=0
if [[ ${FRICTION_SKIP_FMT:-0} == 1 ]]; then
    log "phase: fmt skipped (FRICTION_SKIP_FMT=1)"
elif ! cargo fmt --version >/dev/null 2>&1; then
    warn "cargo fmt is not installed; skipping the format check"
else
    t=$SECONDS
    log "phase: fmt (cargo fmt --all -- --check)"
    if ! cargo fmt --all -- --check; then
        fmt_failed=1
        warn "cargo fmt --check found unformatted code (run 'cargo fmt --all'); running the tests anyway"
    fi
    phase_done fmt "$t"
fi

# -- phase: structure -------------------------------------------------------------------------
# No import circle between the modules of any crate (README "Layout"; scripts/modgraph.py).
structure_failed=0
t=$SECONDS
log "phase: structure (scripts/modgraph.py: no import circle inside a crate)"
if ! python3 "$REPO_ROOT/scripts/modgraph.py" "$REPO_ROOT"; then
    structure_failed=1
    warn "scripts/modgraph.py found an import circle (run it with -v for the edges); running the tests anyway"
fi
phase_done structure "$t"

# -- phase: secrets ---------------------------------------------------------------------------
# No committed credential: detect-secrets over the tracked files; test fixtures that look like one
# are allow-listed with a reason in scripts/secrets-allowlist.tsv (scripts/secrets.sh).
secrets_failed=0
t=$SECONDS
log "phase: secrets (scripts/secrets.sh: detect-secrets over git ls-files)"
if ! "$REPO_ROOT/scripts/secrets.sh"; then
    secrets_failed=1
    warn "scripts/secrets.sh found a credential in a tracked file; running the tests anyway"
fi
phase_done secrets "$t"

# -- phase: build ------------------------------------------------------------------------------
t=$SECONDS
log "phase: build (cargo nextest run --workspace --no-run)"
build_rc=0
run_child cargo nextest run --workspace --no-run || build_rc=$?
phase_done build "$t"
if [[ $build_rc -ne 0 ]]; then
    log "FAILED: the build (cargo exited with $build_rc); no test ran"
    exit "$build_rc"
fi

# -- phase: test -------------------------------------------------------------------------------
t=$SECONDS
log "phase: test (cargo nextest run --workspace --no-fail-fast${*:+ $*})"
# The hostile-input suite (cli/tests/hostile.rs) writes a report per store here; printed after the run.
HOSTILE_REPORTS="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/tmp"
rm -f "$HOSTILE_REPORTS"/hostile-report-*.txt
test_rc=0
# nextest_logged ARGS...: nextest with a copy of its output in $TEST_LOG; nextest's exit code.
nextest_logged() {
    cargo nextest run --workspace --no-fail-fast "$@" 2>&1 | tee "$TEST_LOG"
    return "${PIPESTATUS[0]}"
}
if [[ -t 2 ]]; then
    # A terminal keeps nextest's progress bar and colours.
    run_child cargo nextest run --workspace --no-fail-fast "$@" || test_rc=$?
else
    # In CI, keep a copy of the output to repeat the summary line at the very end.
    TEST_LOG=$(mktemp "${TMPDIR:-/tmp}/friction-test.XXXXXX")
    run_child nextest_logged "$@" || test_rc=$?
fi
phase_done test "$t"
for report in "$HOSTILE_REPORTS"/hostile-report-*.txt; do
    [[ -f $report ]] || continue
    log "hostile-input suite report: $report"
    cat "$report"
done

# -- phase: fuzz -------------------------------------------------------------------------------
# Every fuzz target (fuzz/, friction-fuzz, built above) replays its corpus, then mutates it for
# FRICTION_FUZZ_SECONDS; a panicking input is printed and saved under fuzz/corpus/<target>/.
# Runs whether or not the tests passed. Longer runs: benches/README.md "Fuzzing".
fuzz_rc=0
t=$SECONDS
FUZZ_SECONDS="${FRICTION_FUZZ_SECONDS:-5}"
log "phase: fuzz (friction-fuzz run, ${FUZZ_SECONDS} s per target)"
# The build phase made it (Cargo builds a package's binaries for its integration tests).
if [[ ! -x $REPO_ROOT/target/debug/friction-fuzz ]]; then
    run_child cargo build -p friction-fuzz || fuzz_rc=$?
fi
if [[ $fuzz_rc -eq 0 ]]; then
    # A fixed seed by default, so that a run's verdict does not depend on luck: the long, random
    # runs are in benches/README.md ("Fuzzing"); FRICTION_FUZZ_SEED picks another.
    run_child "$REPO_ROOT/target/debug/friction-fuzz" run --seconds "$FUZZ_SECONDS" \
        --seed "${FRICTION_FUZZ_SEED:-20261207}" || fuzz_rc=$?
fi
phase_done fuzz "$t"

# -- phase: sdk --------------------------------------------------------------------------------
# The browser SDK: unit tests, headless Chromium against a recording endpoint, the demo shop, and
# one test against the real gateway (`friction up`, built above). Runs whether or not the Rust tests
# passed, so one run shows both.
sdk_rc=0
if [[ ${FRICTION_SKIP_SDK:-0} == 1 ]]; then
    log "phase: sdk skipped (FRICTION_SKIP_SDK=1)"
else
    t=$SECONDS
    log "phase: sdk (cd sdk && npm test: Node's test runner, headless Chromium, demo shop, real gateway)"
    SDK_LOG=$(mktemp "${TMPDIR:-/tmp}/friction-sdk-test.XXXXXX")
    # Its own process group, so that an interrupt stops node, Chromium and friction up together.
    (
        cd "$REPO_ROOT/sdk"
        exec setsid bash -c 'npm run --silent test 2>&1 | tee "$1"; exit "${PIPESTATUS[0]}"' sdk-test "$SDK_LOG"
    ) &
    CHILD=$!
    SDK_PGID=$CHILD
    wait "$CHILD" || sdk_rc=$?
    CHILD=""
    SDK_PGID=""
    sdk_pass=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$SDK_LOG" | tail -n 1)
    sdk_fail=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$SDK_LOG" | tail -n 1)
    sdk_skipped=$(sed -n 's/^ℹ skipped \([0-9]*\)$/\1/p' "$SDK_LOG" | tail -n 1)
    SDK_SUMMARY="${sdk_pass:-0} passed, ${sdk_fail:-?} failed, ${sdk_skipped:-?} skipped (exit $sdk_rc)"
    rm -f "$SDK_LOG"
    phase_done sdk "$t"
fi

if [[ $test_rc -ne 0 ]]; then
    log "FAILED: cargo nextest exited with $test_rc (the SDK tests exited with $sdk_rc)"
    exit "$test_rc"
fi
if [[ $sdk_rc -ne 0 ]]; then
    log "FAILED: the SDK tests (cd sdk && npm test) exited with $sdk_rc"
    exit "$sdk_rc"
fi
if [[ $fuzz_rc -ne 0 ]]; then
    log "FAILED: the tests passed but a fuzz target failed (friction-fuzz exited with $fuzz_rc; its crashes are above)"
    exit "$fuzz_rc"
fi
if [[ $secrets_failed -ne 0 ]]; then
    log "FAILED: the tests passed but scripts/secrets.sh found a credential in a tracked file"
    exit 1
fi
if [[ $structure_failed -ne 0 ]]; then
    log "FAILED: the tests passed but scripts/modgraph.py found an import circle"
    exit 1
fi
if [[ $fmt_failed -ne 0 ]]; then
    log "FAILED: the tests passed but cargo fmt --check did not"
    exit 1
fi
log "all tests passed"
