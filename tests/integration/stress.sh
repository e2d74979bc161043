#!/usr/bin/env bash
# usage: stress.sh MEDIAFS_BIN [SECONDS_PER_STRESSOR]
#
# Runs Debian's stress-ng filesystem stressors (with --verify) against a
# real mediafs mount, each for a bounded time, and fails on any stressor
# failure or on a daemon that died.  Exits 77 (skip) without stress-ng or
# /dev/fuse.
set -uo pipefail

bin=${1:?usage: stress.sh MEDIAFS_BIN [SECONDS]}
seconds=${2:-${STRESS_SECONDS:-2}}
command -v stress-ng >/dev/null || { echo "skip: stress-ng is not installed"; exit 77; }
[ -w /dev/fuse ] || { echo "skip: /dev/fuse is not usable"; exit 77; }

# fiemap needs an ioctl that FUSE does not pass for regular files.
stressors=(access chdir chmod chown copy-file dentry dir dirdeep dirmany dup
	fallocate fcntl filename flock fpunch fsize fstat getdent hdd io iomix
	link locka lockf lockofd mknod open rename symlink sync-file touch utime
	xattr lease inotify dnotify)

work=$(mktemp -d /tmp/mediafs-stress-XXXXXX)
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
	[ "$(stat -f -c %T "$work/mnt" 2>/dev/null)" = fuseblk ] ||
	[ "$(stat -f -c %t "$work/mnt" 2>/dev/null)" = 65735546 ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/daemon.log"; exit 1; }
	sleep 0.01
done

failed=0
for s in "${stressors[@]}"; do
	out=$(timeout $((seconds * 10 + 30)) stress-ng --"$s" 2 --timeout "${seconds}s" \
		--temp-path "$work/mnt" --verify 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || grep -qE 'fail:' <<<"$out"; then
		echo "FAIL $s (exit $rc)"
		grep -E 'fail|error' <<<"$out" | head -5
		failed=$((failed + 1))
	else
		echo "ok   $s"
	fi
	kill -0 "$pid" 2>/dev/null || { echo "the daemon died"; cat "$work/daemon.log"; exit 1; }
done
echo "stress-ng: ${#stressors[@]} stressors, $failed failed, ${seconds}s each"
[ "$failed" -eq 0 ]
