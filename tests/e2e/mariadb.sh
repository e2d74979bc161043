# shellcheck shell=bash
# Sourced by run-wordpress.sh and run-django.sh: a throwaway MariaDB
# server in a directory of the test's work directory, on a unix socket
# only (no TCP), taken down by the caller's cleanup.
#
#   mariadb_require         skips (calls the caller's skip) without a server;
#                           as root, the server runs as the user mysql
#   mariadb_start DIR       data in DIR/data, socket DIR/sock, log
#                           DIR/server.log; waits until it answers; sets
#                           mariadb_pid and mariadb_socket; fails (calls the
#                           caller's fail) when it does not start
#   mariadb_sql ARGS...     the mariadb client as root on that socket
#   mariadb_stop            stops the server started here, if any
#   mariadb_stop_stale DIR  stops a server that a killed run left in DIR
#   mariadb_log_tail        the end of the server's log, for a failure
#
# skip, fail and elapsed come from mount.sh, sourced first.

readonly MARIADB_WAIT_S=30

mariadb_as_user=()
mariadb_dir=
mariadb_pid=
mariadb_socket=

mariadb_require() {
	[ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null ||
		skip "no MariaDB server (Debian: mariadb-server)"
	if [ "$(id -u)" = 0 ]; then
		getent passwd mysql >/dev/null || skip "as root, the server needs the user mysql"
		mariadb_as_user=(--user=mysql)
	fi
}

mariadb_sql() { mariadb --no-defaults -S "$mariadb_socket" -u root "$@"; }

mariadb_start() {
	local t i
	t=$(date +%s.%N)
	mariadb_dir=$1
	mariadb_socket=$1/sock
	mkdir -p "$mariadb_dir" || fail "cannot make $mariadb_dir"
	[ ${#mariadb_as_user[@]} -gt 0 ] && chown mysql: "$mariadb_dir"
	mariadb-install-db --no-defaults --datadir="$mariadb_dir/data" \
		--auth-root-authentication-method=normal --skip-test-db "${mariadb_as_user[@]}" \
		>"$mariadb_dir/install.log" 2>&1 ||
		{ cat "$mariadb_dir/install.log"; fail "mariadb-install-db"; }
	/usr/sbin/mariadbd --no-defaults --datadir="$mariadb_dir/data" --socket="$mariadb_socket" \
		--skip-networking --pid-file="$mariadb_dir/mariadbd.pid" \
		--log-error="$mariadb_dir/server.log" --skip-log-bin \
		--innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=64M \
		--character-set-server=utf8mb4 "${mariadb_as_user[@]}" &
	mariadb_pid=$!
	for ((i = 0; i < MARIADB_WAIT_S * 20; i++)); do
		mariadb_sql -e 'SELECT 1' >/dev/null 2>&1 && break
		kill -0 "$mariadb_pid" 2>/dev/null || fail "mariadbd exited"
		sleep 0.05
	done
	mariadb_sql -e 'SELECT 1' >/dev/null || fail "MariaDB did not answer within $MARIADB_WAIT_S s"
	echo "MariaDB $(mariadb_sql -N -e 'SELECT version()') on $mariadb_socket in $(elapsed "$t") s"
}

mariadb_stop() {
	[ -n "$mariadb_pid" ] || return 0
	kill "$mariadb_pid" 2>/dev/null
	wait "$mariadb_pid" 2>/dev/null
	mariadb_pid=
}

mariadb_stop_stale() {
	local pid
	[ -f "$1/mariadbd.pid" ] || return 0
	pid=$(cat "$1/mariadbd.pid")
	# Only a mariadbd whose pid file is this one: the pid may be reused.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--pid-file=$1/mariadbd.pid" ||
		return 0
	kill "$pid" 2>/dev/null
}

mariadb_log_tail() {
	[ -n "$mariadb_dir" ] && [ -f "$mariadb_dir/server.log" ] || return 0
	echo "---- MariaDB log (last 10 lines) ----"
	tail -n 10 "$mariadb_dir/server.log"
}
