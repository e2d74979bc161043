#!/usr/bin/env bash
# usage: tests/package/test-package.sh SOURCE_DIR
#
# The Debian package, end to end: builds it from a copy of the tree with
# dpkg-buildpackage -b -us -uc, checks it with lintian (no error), installs
# it, mounts a store with the installed binaries and the installed manual
# pages and unit in place, then purges it and checks that nothing stays.
# Needs root and /dev/fuse (exit 77 otherwise), and refuses to touch a
# mediafs package that was installed before it ran.
set -euo pipefail
src=$(cd "$1" && pwd)

skip() { echo "skip: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

[ "$(id -u)" = 0 ] || skip "installing a package needs root"
for tool in dpkg-buildpackage dh lintian man fusermount3 sqlite3 mountpoint; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (tests/packages lists it)"
done
[ -w /dev/fuse ] || skip "/dev/fuse is not usable here"
if dpkg-query -W -f '${Status}' mediafs 2>/dev/null | grep -q installed; then
	skip "a mediafs package is installed already; this test would remove it"
fi

work=$(mktemp -d /tmp/mediafs-package-XXXXXX)
installed=0
cleanup() {
	if mountpoint -q "$work/mnt" 2>/dev/null; then
		fusermount3 -u -z "$work/mnt" || true
	fi
	if [ "$installed" = 1 ]; then
		dpkg --purge mediafs >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# ---- build ----
mkdir "$work/src"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$src" ls-files -z --cached --others --exclude-standard |
		tar -C "$src" --null --ignore-failed-read -T - -cf - 2>/dev/null |
		tar -C "$work/src" -xf -
else
	tar -C "$src" --exclude='./build*' -cf - . | tar -C "$work/src" -xf -
fi
start=$(date +%s)
if ! (cd "$work/src" && dpkg-buildpackage -b -us -uc -j2) >"$work/build.log" 2>&1; then
	tail -n 40 "$work/build.log" >&2
	fail "dpkg-buildpackage -b -us -uc failed (log above)"
fi
deb=$(ls "$work"/mediafs_*.deb)
ok "built $(basename "$deb") in $(($(date +%s) - start)) s"

# ---- lintian ----
if ! lintian --fail-on error "$deb" >"$work/lintian.log" 2>&1; then
	cat "$work/lintian.log" >&2
	fail "lintian reports errors"
fi
ok "lintian: no error ($(grep -c '^W:' "$work/lintian.log" || true) warnings)"
sed 's/^/    /' "$work/lintian.log"

# ---- contents ----
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/mediafs ./usr/bin/mediactl ./usr/bin/django-columns \
	./lib/systemd/system/mediafs@.service \
	./usr/share/man/man8/mediafs.8.gz ./usr/share/man/man8/mediactl.8.gz \
	./usr/share/man/man1/django-columns.1.gz \
	./usr/share/doc/mediafs/examples/site.ini ./usr/share/doc/mediafs/examples/site.env; do
	grep -qxF "$f" <<<"$contents" || fail "the package lacks $f"
done
ok "the package holds the binaries, the unit, the manual pages and the examples"

# ---- install ----
dpkg -i "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "dpkg -i failed"; }
installed=1
grep -q '^ExecStart=/usr/bin/mediafs ' /lib/systemd/system/mediafs@.service ||
	fail "the installed unit does not start /usr/bin/mediafs"
man -w mediactl >/dev/null || fail "man mediactl finds no page"
man -w mediafs >/dev/null || fail "man mediafs finds no page"
man mediactl 2>/dev/null | grep -q 'restore what it quarantined' || fail "man mediactl does not render"
/usr/bin/mediafs --version >/dev/null || fail "mediafs --version failed"
/usr/bin/django-columns --help >/dev/null || fail "django-columns --help failed"
ok "installed: unit, manual pages and programs work"

# ---- a store mounted with the installed binaries ----
mkdir -p "$work/store" "$work/mnt" "$work/run"
sqlite3 "$work/app.db" "CREATE TABLE photo (image TEXT); INSERT INTO photo VALUES ('kept.jpg');"
cat >"$work/site.ini" <<INI
[mediafs]
min_age = 1s
interval = 1h

[source app]
url = sqlite://$work/app.db
columns = photo.image
INI
/usr/bin/mediafs --check-config "$work/site.ini" >"$work/check.log" 2>&1 ||
	{ cat "$work/check.log" >&2; fail "the installed mediafs refuses the configuration"; }
export MEDIAFS_RUNTIME_DIR=$work/run
/usr/bin/mediafs -o "config=$work/site.ini,log_level=info" "$work/store" "$work/mnt" \
	2>"$work/daemon.log" || { cat "$work/daemon.log" >&2; fail "the installed mediafs did not mount"; }
for _ in $(seq 200); do
	mountpoint -q "$work/mnt" && break
	sleep 0.05
done
mountpoint -q "$work/mnt" || fail "no mount appeared"
echo photo >"$work/mnt/kept.jpg"
[ "$(cat "$work/store/kept.jpg")" = photo ] || fail "a write through the mount did not reach the store"
status=0
/usr/bin/mediactl --mount "$work/mnt" --json status >"$work/status.json" || status=$?
[ "$status" = 0 ] || fail "the installed mediactl status exited $status"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$work/status.json" ||
	fail "mediactl --json status is not JSON"
for _ in $(seq 200); do
	/usr/bin/mediactl --mount "$work/mnt" show kept.jpg >/dev/null 2>&1 && break
	sleep 0.05
done
/usr/bin/mediactl --mount "$work/mnt" show kept.jpg >/dev/null || fail "the catalog does not know kept.jpg"
fusermount3 -u "$work/mnt" || fail "unmount failed"
ok "mounted a store with /usr/bin/mediafs, tracked a file, unmounted"
# Detached, the daemon says where its log goes; without a syslog daemon it
# keeps writing to the standard error it was started with.
grep -q "is mounted; .*the log goes to" "$work/daemon.log" ||
	fail "the mount did not say where the log goes: $(cat "$work/daemon.log")"
if [ ! -S /dev/log ]; then
	for _ in $(seq 200); do
		grep -q "unmounted '$work/mnt'" "$work/daemon.log" && break
		sleep 0.05
	done
	grep -q "unmounted '$work/mnt'" "$work/daemon.log" ||
		fail "without syslog the detached daemon's log lines vanished: $(cat "$work/daemon.log")"
	ok "no syslog here: the detached daemon logged to its standard error"
fi

# ---- remove ----
dpkg --purge mediafs >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge failed"; }
installed=0
for f in /usr/bin/mediafs /usr/bin/mediactl /usr/bin/django-columns \
	/lib/systemd/system/mediafs@.service /usr/share/man/man8/mediactl.8.gz; do
	[ ! -e "$f" ] || fail "$f is still there after dpkg --purge"
done
ok "purged: nothing left"
