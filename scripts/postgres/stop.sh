#!/usr/bin/env bash
# Stop the server started by start.sh (fast shutdown: sessions are
# disconnected, data is kept). Idempotent: succeeds if nothing is running.
set -euo pipefail
export LC_ALL=C

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pg_init_paths nocreate
if [[ ! -d $PG_DATA ]]; then
	pg_log "no data directory at $PG_DATA; nothing to stop"
	exit 0
fi
pg_pick_os_user
pg_lock

if ! pid=$(pg_running_pid); then
	if [[ -e $PG_DATA/postmaster.pid ]]; then
		pg_log "removing stale $PG_DATA/postmaster.pid"
		rm -f "$PG_DATA/postmaster.pid"
	fi
	pg_log "not running"
	exit 0
fi

pg_log "stopping PostgreSQL (PID $pid)"
if [[ -x $PG_BIN/pg_ctl ]]; then
	(cd "$PG_HOME" && pg_as "$PG_BIN/pg_ctl" stop --pgdata="$PG_DATA" --mode=fast \
		--wait --timeout=60 --silent >&2) ||
		{
			pg_log "fast shutdown did not finish in 60 s; immediate shutdown"
			(cd "$PG_HOME" && pg_as "$PG_BIN/pg_ctl" stop --pgdata="$PG_DATA" --mode=immediate \
				--wait --timeout=30 --silent >&2)
		}
else
	# Binaries gone (pkg/ removed) but the server still runs: signal it directly.
	# SIGINT is PostgreSQL's fast shutdown.
	kill -INT "$pid"
	for _ in $(seq 120); do
		pg_running_pid >/dev/null || break
		sleep 0.5
	done
fi
if pg_running_pid >/dev/null; then
	pg_die "PostgreSQL (PID $pid) is still running"
fi
pg_log "stopped"
