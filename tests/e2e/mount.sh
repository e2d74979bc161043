# shellcheck shell=bash
# Sourced by the run-*.sh end-to-end tests: the helpers every one of them
# needs, and the mediafs mount of a directory over itself (BACKING =
# MOUNTPOINT, as a site adopts mediafs).
#
#   skip WHY / fail WHY      exit 77 / exit 1 with the reason
#   elapsed START            seconds since START (date +%s.%N), one decimal
#   is_mounted DIR           DIR is a FUSE mount
#   e2e_isolate "$@"         re-runs the script in a private mount namespace
#   e2e_require_mediafs      skips without FUSE or the binaries
#   e2e_mount DIR CONFIG LOG opens descriptor 9 on DIR (BACKING as it is
#                            beneath the mount), mounts mediafs on DIR with
#                            CONFIG, its log in LOG, and waits for the mount
#                            and the startup scan; sets e2e_daemon_pid
#   e2e_unmount              closes descriptor 9, unmounts; fails unless
#                            the daemon exits 0
#   e2e_stop_daemon          for the cleanup on any exit path: unmounts,
#                            and kills a daemon that does not exit

readonly EXIT_SKIP=77
readonly E2E_MOUNT_WAIT_S=30

e2e_daemon_pid=
e2e_mountpoint=

skip() { echo "skip: $*"; exit "$EXIT_SKIP"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
is_mounted() { [ "$(stat -f -c %t "$1" 2>/dev/null)" = 65735546 ]; }

# The mount is made in a private mount namespace: only the script and its
# children see it.  Any other process that walks /tmp (stress-ng --getdent
# reads /tmp recursively whatever its --temp-path says; updatedb, backups)
# would list the mount's directories through FUSE, and a directory the
# kernel has looked up is one the checker rightly keeps: the check that
# scan 2 removed the directory it emptied (restore-in-removed-dir) would
# fail although mediafs did right, and a walker holding a directory open
# makes the unmount fail.  Making the namespace needs root.
e2e_isolate() {
	[ -z "${E2E_ISOLATED:-}" ] || return 0
	if unshare --mount --propagation private true 2>/dev/null; then
		E2E_ISOLATED=1 exec unshare --mount --propagation private -- "$BASH" "$0" "$@"
	fi
	echo "note: no private mount namespace (not root?): a process that walks" \
		"/tmp can look the mount's directories up"
}

e2e_require_mediafs() {
	[ -r /dev/fuse ] && [ -w /dev/fuse ] || skip "/dev/fuse is not usable here"
	[ -x "${MEDIAFS_BIN:-}" ] || skip "\$MEDIAFS_BIN does not name the mediafs binary"
	[ -x "${MEDIACTL_BIN:-}" ] || skip "\$MEDIACTL_BIN does not name the mediactl binary"
	command -v fusermount3 >/dev/null || skip "fusermount3 is not installed"
}

e2e_mount() {
	local i pdeathsig=()
	e2e_mountpoint=$1
	# BACKING as it is under the mount: presence is checked there, never
	# through the mount (a lookup of a quarantined path restores it).
	exec 9<"$1" || fail "cannot open $1"
	setpriv --help 2>/dev/null | grep -q pdeathsig && pdeathsig=(setpriv --pdeathsig TERM --)
	# MEDIAFS_TEST_OPTIONS: a whole run with other options (tests/run-all).
	"${pdeathsig[@]}" "$MEDIAFS_BIN" -f -o "config=$2${MEDIAFS_TEST_OPTIONS:+,$MEDIAFS_TEST_OPTIONS}" \
		"$1" "$1" >"$3" 2>&1 9<&- &
	e2e_daemon_pid=$!
	for ((i = 0; i < E2E_MOUNT_WAIT_S * 20; i++)); do
		is_mounted "$1" && grep -q '(startup)' "$3" && break
		kill -0 "$e2e_daemon_pid" 2>/dev/null || fail "mediafs exited before mounting"
		sleep 0.05
	done
	is_mounted "$1" || fail "the mount did not appear within $E2E_MOUNT_WAIT_S s"
	grep '(startup)' "$3" || fail "no startup scan within $E2E_MOUNT_WAIT_S s"
}

e2e_unmount() {
	local status
	exec 9<&-
	fusermount3 -u "$e2e_mountpoint" || fail "cannot unmount $e2e_mountpoint"
	wait "$e2e_daemon_pid"
	status=$?
	e2e_daemon_pid=
	[ "$status" = 0 ] || fail "mediafs exited with status $status"
}

e2e_stop_daemon() {
	local i
	exec 9<&-
	[ -n "$e2e_daemon_pid" ] || return 0
	is_mounted "$e2e_mountpoint" && fusermount3 -u "$e2e_mountpoint" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$e2e_daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$e2e_daemon_pid" 2>/dev/null; then
		echo "mediafs did not exit after the unmount; killing it" >&2
		kill -KILL "$e2e_daemon_pid"
	fi
	is_mounted "$e2e_mountpoint" && fusermount3 -u -z "$e2e_mountpoint"
	e2e_daemon_pid=
}
