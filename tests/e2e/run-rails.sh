#!/usr/bin/env bash
# usage: run-rails.sh
#
# End-to-end test with Rails Active Storage: the application in
# tests/e2e/rails (Debian's railties, activestorage, activerecord and
# sqlite3 gems), its Disk service rooted at a mediafs mount, its database
# in SQLite.
#
#   1. rails/storage.rb prepare: the tables
#   2. mount the storage root over itself (BACKING = MOUNTPOINT) with the
#      source of docs/rails.md; as root, in a private mount namespace
#   3. rails/storage.rb act: attach, purge, destroy, replace, detach
#      through Active Storage; delete rows behind its back
#   4. mediactl scan, then rails/storage.rb check: every file a blob row
#      names stays, every other file is quarantined
#   5. unmount; the daemon must exit 0
#
# Skips (exit 77) with a reason when FUSE, Ruby or the Rails frameworks are
# missing.  The mount and the daemon are taken down on every exit path.
# E2E_KEEP=1 keeps the work directory; E2E_RUBY names the interpreter
# (default /usr/bin/ruby, where Debian's gems live).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ruby=${E2E_RUBY:-/usr/bin/ruby}
started=$(date +%s.%N)
# shellcheck source=tests/e2e/mount.sh
. "$here/mount.sh"

e2e_isolate "$@"
e2e_require_mediafs
[ -x "$ruby" ] || skip "no Ruby at $ruby (set E2E_RUBY)"
"$ruby" -e 'require "rails"; require "active_record/railtie"; require "active_storage/engine"' \
	2>/dev/null || skip "Rails with Active Storage is not installed for $ruby" \
	"(Debian: ruby-railties ruby-activestorage ruby-activerecord)"
"$ruby" -e 'require "sqlite3"' 2>/dev/null ||
	skip "the sqlite3 gem is not installed for $ruby (Debian: ruby-sqlite3)"

work=$(mktemp -d /tmp/mediafs-e2e-rails-XXXXXX) || fail "cannot make a work directory"
chmod 755 "$work"
storage=$work/storage

cleanup() {
	local status=$?
	set +e
	e2e_stop_daemon
	if [ "$status" != 0 ] && [ "$status" != "$EXIT_SKIP" ] && [ -f "$work/daemon.log" ]; then
		echo "---- daemon log (last 40 lines) ----" >&2
		tail -n 40 "$work/daemon.log" >&2
	fi
	if [ -n "${E2E_KEEP:-}" ]; then
		echo "kept $work"
	else
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ the database

mkdir "$storage" "$work/run"
export E2E_SQLITE_PATH=$work/app.sqlite3 E2E_STORAGE_ROOT=$storage E2E_STATE=$work/state.json
export MEDIAFS_RUNTIME_DIR=$work/run RAILS_ENV=development
t=$(date +%s.%N)
"$ruby" "$here/rails/storage.rb" prepare || fail "creating the tables"
echo "tables created in $(elapsed "$t") s"

# ---------------------------------------------------- configuration, mount

cat >"$work/mediafs.ini" <<EOF
[mediafs]
interval = 1h
min_age = 0s
grace = 1h
max_fraction = 1
; every file Active Storage deletes is kept in the quarantine, however young
temp_max_age = 0s

; docs/rails.md: the Disk service keeps each blob at key[0..1]/key[2..3]/key
[source rails]
url = sqlite:///$E2E_SQLITE_PATH
query = SELECT substr("key", 1, 2) || '/' || substr("key", 3, 2) || '/' || "key"
  FROM active_storage_blobs WHERE service_name = 'local'
EOF
"$MEDIAFS_BIN" --check-config "$work/mediafs.ini" || fail "mediafs --check-config refused it"

e2e_mount "$storage" "$work/mediafs.ini" "$work/daemon.log"
export E2E_BACKING=/proc/$$/fd/9

# ------------------------------------------------------------ scenarios

t=$(date +%s.%N)
"$ruby" "$here/rails/storage.rb" act || fail "attaching and purging through Active Storage"
echo "acted in $(elapsed "$t") s"
"$MEDIACTL_BIN" --mount "$storage" scan || fail "mediactl scan"
"$ruby" "$here/rails/storage.rb" check
check_status=$?

e2e_unmount
echo "rails: total $(elapsed "$started") s"
[ "$check_status" = 0 ] || fail "some checks failed (see above)"
echo "rails: all checks passed"
