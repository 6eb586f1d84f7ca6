#!/usr/bin/env bash
# Install and run the local services the tests need, each on 127.0.0.1:
#
#   tansu       Kafka-compatible broker (SQLite storage)   127.0.0.1:19092
#   postgres    PostgreSQL (Debian's), trust auth          127.0.0.1:15432
#   clickhouse  ClickHouse (Debian's 18.16), HTTP / native 127.0.0.1:18123 / 127.0.0.1:19000
#
# Usage: scripts/services.sh start|stop|status|env [SERVICE...]
#
# Everything lives under ${FRICTION_SERVICES_DIR:-<repo>/.services}: data, logs, pid files, configs,
# and the file `env` with the FRICTION_TEST_* variables the tests read (`source .services/env`).
# Missing software is installed on first use: postgresql and clickhouse-server with apt-get, tansu
# with `cargo install` (about 16 minutes on 2 cores, cached in ~/.cargo/bin afterwards).
# `start` on a running service is a no-op that says so; `start` fails loudly, with the tail of the
# service's log, when a service does not come up.
#
# scripts/test.sh sources this file for its functions; sourcing runs nothing.

set -euo pipefail

SERVICES_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES_DIR="${FRICTION_SERVICES_DIR:-$SERVICES_REPO_ROOT/.services}"
case $SERVICES_DIR in
/*) ;;
*) SERVICES_DIR="$PWD/$SERVICES_DIR" ;;
esac
ALL_SERVICES=(tansu postgres clickhouse)

TANSU_VERSION="0.6.0"
TANSU_PORT=19092
PG_PORT=15432
CH_HTTP_PORT=18123
CH_TCP_PORT=19000

# How long to wait for a service to accept connections, in seconds.
START_TIMEOUT="${FRICTION_SERVICES_TIMEOUT:-90}"

log() { printf '==> %s\n' "$*"; }
warn() { printf '==> warning: %s\n' "$*" >&2; }
die() {
    printf '==> error: %s\n' "$*" >&2
    exit 1
}

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# ensure_packages PKG...: apt-get install the Debian packages that are not installed yet.
# Non-interactive; runs `apt-get update` only when the install fails without it.
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true) != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    log "installing Debian packages: ${missing[*]}"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    if ! as_root "${apt[@]}" "${missing[@]}"; then
        log "install failed; running apt-get update and trying again"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        as_root "${apt[@]}" "${missing[@]}"
    fi
}

# ---------------------------------------------------------------------------------------------
# helpers

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pid_alive PIDFILE NAME: true when PIDFILE names a live process whose command line mentions NAME
# (so a recycled pid is not taken for our service).
pid_alive() {
    local pidfile=$1 name=$2 pid
    [[ -f $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name"
}

# Services are started as `setsid nohup CMD` from a background subshell: their own session, so a
# Ctrl-C meant for the tests does not reach them, and no fork (the subshell is not a process group
# leader), so the subshell's pid, written to the pid file, is the service's pid.
#
# close_extra_fds: close every descriptor above 2 in the current (sub)shell, so a daemon started
# from it holds no pipe of its caller (a CI log reader waiting for EOF) and not our lock.
close_extra_fds() {
    local f fd
    for f in /proc/"$BASHPID"/fd/*; do
        fd=${f##*/}
        if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
            exec {fd}>&- 2>/dev/null || true
        fi
    done
}

# show_log_tail FILE...: print the last lines of each existing file, to stderr.
show_log_tail() {
    local f
    for f in "$@"; do
        if [[ -s $f ]]; then
            printf -- '---- last lines of %s ----\n' "$f" >&2
            tail -n 40 "$f" >&2
            printf -- '----\n' >&2
        fi
    done
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2 s until it succeeds.
# Fails after SECONDS, or at once when the process whose pid is in $WAIT_PIDFILE (if set) dies.
wait_until() {
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        if [[ -n ${WAIT_PIDFILE:-} ]] && ! kill -0 "$(<"$WAIT_PIDFILE")" 2>/dev/null; then
            printf '==> %s: the process exited while starting\n' "$what" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            printf '==> %s: not up after %s s\n' "$what" "$timeout" >&2
            return 1
        fi
        sleep 0.2
    done
}

# stop_pid PIDFILE NAME: SIGTERM the process, wait up to 30 s, then SIGKILL. Removes the pid file.
stop_pid() {
    local pidfile=$1 name=$2 pid i
    pid=$(<"$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "$name (pid $pid) did not stop after 30 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$pidfile"
}

# A port we are about to listen on must be free; say who else holds it otherwise.
require_free_port() {
    local name=$1 port=$2
    if port_open "$port"; then
        die "$name: port 127.0.0.1:$port is already in use by another process (not ours: no live pid file under $SERVICES_DIR)"
    fi
}

# ---------------------------------------------------------------------------------------------
# tansu (Kafka API broker)

TANSU_DIR="$SERVICES_DIR/tansu"
TANSU_PIDFILE="$TANSU_DIR/tansu.pid"
TANSU_LOG="$TANSU_DIR/tansu.log"

tansu_bin() {
    if command -v tansu >/dev/null 2>&1; then
        command -v tansu
    elif [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/tansu ]]; then
        echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu"
    else
        return 1
    fi
}

tansu_install() {
    tansu_bin >/dev/null && return 0
    command -v cargo >/dev/null 2>&1 || die "cargo is needed to install tansu"
    log "installing tansu $TANSU_VERSION with cargo install (about 16 minutes on 2 cores; cached in ~/.cargo/bin afterwards)"
    local t0=$SECONDS
    cargo install tansu --version "$TANSU_VERSION" --locked --features libsql
    log "tansu installed in $((SECONDS - t0)) s"
    tansu_bin >/dev/null || die "cargo install tansu finished but no tansu binary was found"
}

tansu_running() { pid_alive "$TANSU_PIDFILE" tansu; }

tansu_start() {
    if tansu_running; then
        log "tansu: already running (pid $(<"$TANSU_PIDFILE")), Kafka API at 127.0.0.1:$TANSU_PORT"
        return 0
    fi
    rm -f "$TANSU_PIDFILE"
    tansu_install
    require_free_port tansu "$TANSU_PORT"
    local bin
    bin=$(tansu_bin)
    mkdir -p "$TANSU_DIR"
    log "tansu: starting ($bin)"
    # The sqlite URL is a path relative to the working directory (an absolute one came out doubled),
    # so the broker runs inside $TANSU_DIR and keeps its data in $TANSU_DIR/tansu.db.
    # RUST_LOG is pinned so a test run's RUST_LOG does not flood the broker's log.
    (
        cd "$TANSU_DIR"
        close_extra_fds
        export RUST_LOG="${FRICTION_TANSU_LOG:-warn}"
        exec setsid nohup "$bin" broker \
            --storage-engine sqlite://tansu.db \
            --listener-url "tcp://127.0.0.1:$TANSU_PORT" \
            --advertised-listener-url "tcp://127.0.0.1:$TANSU_PORT" \
            </dev/null >>"$TANSU_LOG" 2>&1
    ) &
    echo $! >"$TANSU_PIDFILE"
    if ! WAIT_PIDFILE=$TANSU_PIDFILE wait_until "$START_TIMEOUT" tansu port_open "$TANSU_PORT"; then
        show_log_tail "$TANSU_LOG"
        tansu_running && stop_pid "$TANSU_PIDFILE" tansu
        rm -f "$TANSU_PIDFILE"
        die "tansu failed to start"
    fi
    log "tansu: up (pid $(<"$TANSU_PIDFILE")), Kafka API at 127.0.0.1:$TANSU_PORT, data $TANSU_DIR/tansu.db, log $TANSU_LOG"
}

tansu_stop() {
    if tansu_running; then
        stop_pid "$TANSU_PIDFILE" tansu
        log "tansu: stopped"
    else
        rm -f "$TANSU_PIDFILE"
        log "tansu: not running"
    fi
}

tansu_status() {
    if tansu_running && port_open "$TANSU_PORT"; then
        echo "tansu       up    127.0.0.1:$TANSU_PORT (pid $(<"$TANSU_PIDFILE"))"
    elif tansu_running; then
        echo "tansu       up?   pid $(<"$TANSU_PIDFILE") runs but 127.0.0.1:$TANSU_PORT does not answer"
        return 1
    else
        echo "tansu       down  127.0.0.1:$TANSU_PORT"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL (Debian's binaries, our own data directory; not the system cluster)

# The postgres server refuses to run as root, so as root the data directory belongs to the
# `postgres` user (created by Debian's package) and every pg_* command runs as that user.
# That user must be able to reach the directory; when it cannot reach $SERVICES_DIR (a home
# directory with mode 700, say), the data goes to /tmp/friction-services-pg-<uid> instead.
pg_base() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "$SERVICES_DIR/postgres"
    elif runuser -u postgres -- test -x "$SERVICES_DIR" 2>/dev/null; then
        echo "$SERVICES_DIR/postgres"
    else
        echo "/tmp/friction-services-pg-$(id -u)"
    fi
}

pg_bindir() {
    local d
    d=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/pg_ctl' 2>/dev/null | sort -V | tail -n 1)
    [[ -n $d ]] || return 1
    dirname "$d"
}

# pg_run CMD ARGS...: run a PostgreSQL binary as the user that owns the data directory,
# from a directory that user can read (initdb complains about an unreadable cwd).
pg_run() {
    local bin
    bin="$(pg_bindir)/$1"
    shift
    (
        cd "$PG_BASE"
        close_extra_fds
        if [[ $(id -u) -eq 0 ]]; then
            exec runuser -u postgres -- "$bin" "$@"
        else
            exec "$bin" "$@"
        fi
    )
}

pg_setup_paths() {
    mkdir -p "$SERVICES_DIR"
    PG_BASE=$(pg_base)
    PG_DATA="$PG_BASE/data"
    PG_LOG="$PG_BASE/postgres.log"
    PG_SOCKET_DIR="$PG_BASE/socket"
    # A unix socket path is limited to 107 bytes.
    if (( ${#PG_SOCKET_DIR} + 20 > 107 )); then
        PG_SOCKET_DIR="/tmp/friction-services-pg-$(id -u)-socket"
    fi
}

pg_install() {
    pg_bindir >/dev/null && return 0
    ensure_packages postgresql
    pg_bindir >/dev/null || die "postgresql is installed but no /usr/lib/postgresql/*/bin/pg_ctl was found"
}

pg_running() {
    pg_setup_paths
    [[ -f $PG_DATA/PG_VERSION ]] || return 1
    pg_bindir >/dev/null || return 1
    pg_run pg_ctl -D "$PG_DATA" status >/dev/null 2>&1
}

pg_start() {
    pg_setup_paths
    if pg_running; then
        log "postgres: already running, at 127.0.0.1:$PG_PORT (data $PG_DATA)"
        return 0
    fi
    pg_install
    require_free_port postgres "$PG_PORT"
    if [[ $PG_BASE != "$SERVICES_DIR/postgres" ]]; then
        log "postgres: the postgres user cannot reach $SERVICES_DIR, so its data goes to $PG_BASE"
    fi
    mkdir -p "$PG_BASE" "$PG_SOCKET_DIR"
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$PG_BASE" "$PG_SOCKET_DIR"
        chmod 700 "$PG_BASE"
    fi
    if [[ ! -f $PG_DATA/PG_VERSION ]]; then
        log "postgres: initdb in $PG_DATA ($(pg_bindir))"
        rm -rf "$PG_DATA"
        pg_run initdb -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C >"$PG_BASE/initdb.log" 2>&1 ||
            {
                show_log_tail "$PG_BASE/initdb.log"
                die "postgres: initdb failed"
            }
    fi
    # Our settings go to an included file that is rewritten at every start, so a changed port or
    # socket directory takes effect. Durability is off: this is a throwaway test database.
    local conf="$PG_DATA/friction.conf"
    cat >"$conf" <<EOF
# Written by scripts/services.sh at every start.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    [[ $(id -u) -eq 0 ]] && chown postgres: "$conf"
    grep -q "^include_if_exists = 'friction.conf'" "$PG_DATA/postgresql.conf" ||
        echo "include_if_exists = 'friction.conf'" >>"$PG_DATA/postgresql.conf"
    log "postgres: starting"
    # pg_ctl -w waits until the server accepts connections (-t seconds at most).
    if ! pg_run pg_ctl -D "$PG_DATA" -l "$PG_LOG" -w -t "$START_TIMEOUT" start >/dev/null; then
        show_log_tail "$PG_LOG"
        die "postgres failed to start"
    fi
    wait_until 10 postgres port_open "$PG_PORT" || {
        show_log_tail "$PG_LOG"
        die "postgres started but 127.0.0.1:$PG_PORT does not accept connections"
    }
    log "postgres: up, at 127.0.0.1:$PG_PORT (user postgres, trust auth; data $PG_DATA, socket dir $PG_SOCKET_DIR, log $PG_LOG)"
}

pg_stop() {
    if pg_running; then
        pg_run pg_ctl -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
        log "postgres: stopped"
    else
        log "postgres: not running"
    fi
}

pg_status() {
    if pg_running && port_open "$PG_PORT"; then
        echo "postgres    up    127.0.0.1:$PG_PORT (data $PG_DATA)"
    elif pg_running; then
        echo "postgres    up?   the server runs but 127.0.0.1:$PG_PORT does not answer"
        return 1
    else
        echo "postgres    down  127.0.0.1:$PG_PORT"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# ClickHouse (Debian bookworm's clickhouse-server 18.16, our own config)

CH_DIR="$SERVICES_DIR/clickhouse"
CH_PIDFILE="$CH_DIR/clickhouse.pid"
CH_LOG="$CH_DIR/log/clickhouse-server.log"
CH_ERRLOG="$CH_DIR/log/clickhouse-server.err.log"
CH_STDOUT="$CH_DIR/stdout.log"

ch_bin() {
    [[ -x /usr/sbin/clickhouse-server ]] && echo /usr/sbin/clickhouse-server && return 0
    command -v clickhouse-server
}

ch_install() {
    ch_bin >/dev/null 2>&1 && return 0
    ensure_packages clickhouse-server
    ch_bin >/dev/null 2>&1 || die "clickhouse-server is installed but not found"
}

ch_ping() {
    [[ $(curl -s --max-time 2 "http://127.0.0.1:$CH_HTTP_PORT/ping" 2>/dev/null) == "Ok." ]]
}

ch_running() { pid_alive "$CH_PIDFILE" clickhouse; }

# 18.16 reads <yandex> configs; it needs users.xml with a profile and a quota for the default user.
# It runs fine as root, so it runs as whoever calls this script.
ch_write_config() {
    mkdir -p "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/user_files" "$CH_DIR/log"
    cat >"$CH_DIR/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Written by scripts/services.sh at every start. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$CH_LOG</log>
        <errorlog>$CH_ERRLOG</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$CH_HTTP_PORT</http_port>
    <tcp_port>$CH_TCP_PORT</tcp_port>
    <path>$CH_DIR/data/</path>
    <tmp_path>$CH_DIR/tmp/</tmp_path>
    <user_files_path>$CH_DIR/user_files/</user_files_path>
    <format_schema_path>$CH_DIR/data/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <max_concurrent_queries>100</max_concurrent_queries>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mlock_executable>false</mlock_executable>
</yandex>
EOF
    cat >"$CH_DIR/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- Written by scripts/services.sh at every start. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

ch_start() {
    if ch_running; then
        log "clickhouse: already running (pid $(<"$CH_PIDFILE")), HTTP at http://127.0.0.1:$CH_HTTP_PORT, native at 127.0.0.1:$CH_TCP_PORT"
        return 0
    fi
    rm -f "$CH_PIDFILE"
    ch_install
    require_free_port clickhouse "$CH_HTTP_PORT"
    require_free_port clickhouse "$CH_TCP_PORT"
    command -v curl >/dev/null 2>&1 || ensure_packages curl
    ch_write_config
    local bin
    bin=$(ch_bin)
    log "clickhouse: starting ($bin)"
    (
        cd "$CH_DIR"
        close_extra_fds
        exec setsid nohup "$bin" --config-file="$CH_DIR/config.xml" </dev/null >>"$CH_STDOUT" 2>&1
    ) &
    echo $! >"$CH_PIDFILE"
    if ! WAIT_PIDFILE=$CH_PIDFILE wait_until "$START_TIMEOUT" clickhouse ch_ping; then
        show_log_tail "$CH_STDOUT" "$CH_ERRLOG"
        ch_running && stop_pid "$CH_PIDFILE" clickhouse
        rm -f "$CH_PIDFILE"
        die "clickhouse failed to start"
    fi
    log "clickhouse: up (pid $(<"$CH_PIDFILE")), HTTP at http://127.0.0.1:$CH_HTTP_PORT, native at 127.0.0.1:$CH_TCP_PORT, data $CH_DIR/data, log $CH_LOG"
}

ch_stop() {
    if ch_running; then
        stop_pid "$CH_PIDFILE" clickhouse
        log "clickhouse: stopped"
    else
        rm -f "$CH_PIDFILE"
        log "clickhouse: not running"
    fi
}

ch_status() {
    if ch_running && ch_ping; then
        echo "clickhouse  up    http://127.0.0.1:$CH_HTTP_PORT, native 127.0.0.1:$CH_TCP_PORT (pid $(<"$CH_PIDFILE"))"
    elif ch_running; then
        echo "clickhouse  up?   pid $(<"$CH_PIDFILE") runs but http://127.0.0.1:$CH_HTTP_PORT/ping does not answer Ok."
        return 1
    else
        echo "clickhouse  down  http://127.0.0.1:$CH_HTTP_PORT"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# The browser SDK's tests (not a service): Debian's headless Chromium, Node.js 20 or later, and the
# npm packages of sdk/package-lock.json (playwright-core drives /usr/bin/chromium; no browser download).

sdk_install() {
    ensure_packages chromium
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        ensure_packages nodejs npm
    fi
    local major
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    ((major >= 20)) || die "the SDK tests need Node.js 20 or later (found $(node --version 2>/dev/null || echo none))"
    log "sdk: npm ci (sdk/package-lock.json)"
    (cd "$SERVICES_REPO_ROOT/sdk" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
}

# ---------------------------------------------------------------------------------------------
# dispatch

ENV_FILE="$SERVICES_DIR/env"

write_env_file() {
    mkdir -p "$SERVICES_DIR"
    cat >"$ENV_FILE" <<EOF
export FRICTION_TEST_BROKERS=127.0.0.1:$TANSU_PORT
export FRICTION_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres
export FRICTION_TEST_CLICKHOUSE_URL=http://127.0.0.1:$CH_HTTP_PORT
EOF
}

# service_do ACTION SERVICE: start|stop|status|running for one service.
service_do() {
    local action=$1 service=$2 prefix
    case $service in
    tansu) prefix=tansu ;;
    postgres | postgresql | pg) prefix=pg ;;
    clickhouse | ch) prefix=ch ;;
    *) die "unknown service '$service' (known: ${ALL_SERVICES[*]})" ;;
    esac
    "${prefix}_${action}"
}

# Serialize concurrent invocations (a second `start` waits for the first, e.g. while tansu
# builds). The lock's descriptor (9) is closed in every service we launch (close_extra_fds).
take_lock() {
    mkdir -p "$SERVICES_DIR"
    exec 9>"$SERVICES_DIR/.lock"
    if ! flock -n 9; then
        log "another scripts/services.sh is working on $SERVICES_DIR; waiting for it"
        flock -w 3600 9 || die "timed out waiting for the lock on $SERVICES_DIR/.lock"
    fi
}

services_main() {
    local action=${1:-}
    [[ $# -gt 0 ]] && shift
    local services=("$@")
    [[ ${#services[@]} -eq 0 ]] && services=("${ALL_SERVICES[@]}")
    local s rc=0
    case $action in
    start)
        take_lock
        log "services directory: $SERVICES_DIR"
        for s in "${services[@]}"; do service_do start "$s"; done
        write_env_file
        log "test environment ($ENV_FILE):"
        cat "$ENV_FILE"
        ;;
    stop)
        take_lock
        for s in "${services[@]}"; do service_do stop "$s"; done
        ;;
    status)
        for s in "${services[@]}"; do service_do status "$s" || rc=1; done
        return "$rc"
        ;;
    env)
        write_env_file
        cat "$ENV_FILE"
        ;;
    *)
        cat >&2 <<EOF
usage: $0 start|stop|status|env [SERVICE...]
services: ${ALL_SERVICES[*]} (default: all)
directory: \${FRICTION_SERVICES_DIR:-<repo>/.services} = $SERVICES_DIR
EOF
        return 2
        ;;
    esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    services_main "$@"
fi
