#!/usr/bin/env bash
# usage: pjdfstest.sh MEDIAFS_BIN
#
# POSIX conformance: runs the shared pjdfstest runner
# (../shared/conformance/run-pjdfstest beside the repository) on a real
# mount with allow_other, as the suite's uid/gid switching needs.  Native
# ext4 fails no test file; neither may mediafs.  Exits 77 (skip) when the
# runner, root or /dev/fuse is missing.
set -uo pipefail

bin=${1:?usage: pjdfstest.sh MEDIAFS_BIN}
here=$(cd "$(dirname "$0")" && pwd)
runner=${PJDFSTEST_RUNNER:-$here/../../../shared/conformance/run-pjdfstest}
[ -x "$runner" ] || { echo "skip: no pjdfstest runner at $runner"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "skip: pjdfstest needs root"; exit 77; }
[ -w /dev/fuse ] || { echo "skip: /dev/fuse is not usable"; exit 77; }

work=$(mktemp -d /tmp/mediafs-pjdfstest-XXXXXX)
chmod 755 "$work"
mkdir "$work/backing" "$work/mnt"
cleanup() {
	fusermount3 -u "$work/mnt" 2>/dev/null || fusermount3 -u -z "$work/mnt" 2>/dev/null
	[ -n "${pid:-}" ] && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

"$bin" -f -o "allow_other${MEDIAFS_TEST_OPTIONS:+,$MEDIAFS_TEST_OPTIONS}" "$work/backing" "$work/mnt" \
	2>"$work/daemon.log" &
pid=$!
for _ in $(seq 1000); do
	[ "$(stat -f -c %t "$work/mnt" 2>/dev/null)" = 65735546 ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/daemon.log"; exit 1; }
	sleep 0.01
done
"$runner" -j 2 "$work/mnt"
