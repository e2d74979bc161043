#!/usr/bin/env bash
# usage: run-django.sh sqlite|postgresql|mariadb
#
# End-to-end test with the real framework: the Django site in
# tests/e2e/site runs with MEDIA_ROOT on a mediafs mount, over SQLite,
# over a throwaway PostgreSQL cluster or over a throwaway MariaDB server
# (mariadb.sh), each on a unix socket.
#
#   1. prepare: create the tables and the site as it was before mediafs
#      (files and rows in a plain MEDIA_ROOT)
#   2. tools/django-columns writes the [source] section; its columns must
#      be the ones this test expects, and mediafs --check-config accepts it
#   3. mount MEDIA_ROOT over itself (BACKING = MOUNTPOINT, as a site adopts
#      mediafs), keeping a descriptor of BACKING opened before the mount;
#      as root, in a private mount namespace that no other process sees
#   4. scenarios.py run: every scenario, scans with mediactl, checks
#   5. unmount; the daemon must exit 0
#
# Skips (exit 77) with a reason when FUSE, Django, Pillow, psycopg2 or the
# PostgreSQL server binaries, MySQLdb or the MariaDB server are missing.
# The mount, the daemon and the database server are taken down on every exit path; a run killed outright leaves
# an owner.pid that the next run uses to clean up.  E2E_KEEP=1 keeps the
# work directory; E2E_PYTHON names the interpreter (default /usr/bin/python3,
# where Debian's python3-django lives).
set -uo pipefail

readonly MIN_AGE_S=2 GRACE_S=4 TEMP_MAX_AGE_S=1
readonly EXPECTED_COLUMNS="gallery_album.cover, gallery_avatar.image, gallery_photo.image, \
gallery_photo.thumbnail, gallery_pressphoto.credit, legacy_attachment.path"

db=${1:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${E2E_PYTHON:-/usr/bin/python3}
started=$(date +%s.%N)
# shellcheck source=tests/e2e/mount.sh
. "$here/mount.sh"
# shellcheck source=tests/e2e/mariadb.sh
. "$here/mariadb.sh"

case $db in
sqlite|postgresql|mariadb) ;;
*) echo "usage: run-django.sh sqlite|postgresql|mariadb" >&2; exit 2 ;;
esac

# In a private mount namespace (mount.sh says why): otherwise a process
# that walks /tmp can fail restore-in-removed-dir.
e2e_isolate "$@"

# ---------------------------------------------------------------- skips

e2e_require_mediafs
[ -x "$python" ] || skip "no Python at $python (set E2E_PYTHON)"
"$python" -c 'import django' 2>/dev/null ||
	skip "Django is not installed for $python (Debian: python3-django)"
"$python" -c 'import PIL' 2>/dev/null ||
	skip "Pillow, which ImageField needs, is not installed for $python (Debian: python3-pil)"

as_postgres=()
if [ "$db" = postgresql ]; then
	"$python" -c 'import psycopg2' 2>/dev/null ||
		skip "psycopg2 is not installed for $python (Debian: python3-psycopg2)"
	bindir=${PG_BINDIR:-$(pg_config --bindir 2>/dev/null)}
	if [ ! -x "$bindir/initdb" ]; then
		bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	fi
	[ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ] ||
		skip "no PostgreSQL server binaries (initdb, pg_ctl) in \$PG_BINDIR, " \
			"pg_config --bindir or /usr/lib/postgresql/*/bin (Debian: postgresql)"
	if [ "$(id -u)" = 0 ]; then
		getent passwd postgres >/dev/null && [ -x /usr/sbin/runuser ] ||
			skip "as root, the server needs the user postgres and runuser"
		as_postgres=(/usr/sbin/runuser -u postgres --)
	fi
fi
if [ "$db" = mariadb ]; then
	"$python" -c 'import MySQLdb' 2>/dev/null ||
		skip "MySQLdb is not installed for $python (Debian: python3-mysqldb)"
	mariadb_require
fi

# ------------------------------------------------------- leftovers, cleanup

# Runs killed outright (SIGKILL) leave their work directory: take down
# what they left.
for stale in /tmp/mediafs-e2e-*; do
	[ -f "$stale/owner.pid" ] || continue
	pid=$(cat "$stale/owner.pid")
	kill -0 "$pid" 2>/dev/null && continue
	is_mounted "$stale/media" && fusermount3 -u -z "$stale/media" 2>/dev/null
	if [ -f "$stale/pg/data/postmaster.pid" ] && [ -x "$stale/pg/bindir/pg_ctl" ]; then
		owner=()
		[ "$(id -u)" = 0 ] && owner=(/usr/sbin/runuser -u postgres --)
		"${owner[@]}" "$stale/pg/bindir/pg_ctl" -D "$stale/pg/data" -m immediate stop \
			>/dev/null 2>&1
	fi
	mariadb_stop_stale "$stale/db"
	rm -rf "$stale"
done

work=$(mktemp -d "/tmp/mediafs-e2e-$db-XXXXXX") || fail "cannot make a work directory"
chmod 755 "$work"
echo $$ >"$work/owner.pid"
media=$work/media
pg_started=

cleanup() {
	local status=$?
	set +e
	e2e_stop_daemon
	if [ -n "$pg_started" ]; then
		"${as_postgres[@]}" "$bindir/pg_ctl" -D "$work/pg/data" -m immediate stop \
			>/dev/null 2>&1
	fi
	mariadb_stop
	if [ "$status" != 0 ] && [ "$status" != "$EXIT_SKIP" ]; then
		if [ -f "$work/daemon.log" ]; then
			echo "---- daemon log (last 40 lines) ----" >&2
			tail -n 40 "$work/daemon.log" >&2
		fi
		mariadb_log_tail >&2
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

export MEDIA_ROOT=$media
export PYTHONDONTWRITEBYTECODE=1
export E2E_DB=$db
export E2E_STATE=$work/state.json
export MEDIAFS_RUNTIME_DIR=$work/run
export E2E_MIN_AGE_S=$MIN_AGE_S E2E_GRACE_S=$GRACE_S E2E_TEMP_MAX_AGE_S=$TEMP_MAX_AGE_S
mkdir "$media" "$MEDIAFS_RUNTIME_DIR"

if [ "$db" = postgresql ]; then
	t=$(date +%s.%N)
	mkdir "$work/pg"
	ln -s "$bindir" "$work/pg/bindir"
	[ ${#as_postgres[@]} -gt 0 ] && chown postgres: "$work/pg"
	"${as_postgres[@]}" "$bindir/initdb" -D "$work/pg/data" -U django -E UTF8 --no-locale \
		--auth=trust --no-sync >"$work/pg.log" 2>&1 || { cat "$work/pg.log"; fail "initdb"; }
	pg_started=1
	"${as_postgres[@]}" "$bindir/pg_ctl" -w -t 60 -D "$work/pg/data" -l "$work/pg/server.log" \
		-o "-c listen_addresses='' -k $work/pg -c fsync=off -c full_page_writes=off" \
		start >>"$work/pg.log" 2>&1 || { cat "$work/pg.log"; fail "pg_ctl start"; }
	"$bindir/createdb" -h "$work/pg" -U django e2e || fail "createdb"
	export E2E_PG_HOST=$work/pg E2E_PG_NAME=e2e E2E_PG_USER=django
	expected_url="postgresql://django@/e2e?host=$work/pg"
	echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on $work/pg" \
		"in $(elapsed "$t") s"
elif [ "$db" = mariadb ]; then
	mariadb_start "$work/db"
	# The site's own account; mediafs reads with it too, as the section
	# that django-columns prints names it.
	mariadb_sql -e "CREATE DATABASE e2e CHARACTER SET utf8mb4;
		CREATE USER django@localhost; GRANT ALL ON e2e.* TO django@localhost" ||
		fail "cannot create the database"
	export E2E_MY_SOCKET=$mariadb_socket E2E_MY_NAME=e2e E2E_MY_USER=django
	expected_url="mysql://django@localhost/e2e?socket=$mariadb_socket"
else
	export E2E_SQLITE_PATH=$work/app.sqlite3
	expected_url="sqlite:///$E2E_SQLITE_PATH"
fi
echo "Django $("$python" -c 'import django; print(django.get_version())'), \
Python $("$python" -c 'import platform; print(platform.python_version())'), \
database $db"

t=$(date +%s.%N)
"$python" "$here/scenarios.py" prepare || fail "preparing the site"
prepare_s=$(elapsed "$t")

# ------------------------------------------------ configuration, mount

"$python" "$root/tools/django-columns" --pythonpath "$here/site" --settings e2esite.settings \
	>"$work/source.ini" || fail "tools/django-columns failed"
echo "---- tools/django-columns ----"
cat "$work/source.ini"
# The value of "columns", its indented continuation lines joined.
columns=$(awk '/^columns = / { sub(/^columns = /, ""); v = $0; c = 1; next }
	c && /^[ \t]/ { sub(/^[ \t]+/, ""); v = v " " $0; next }
	{ c = 0 } END { print v }' "$work/source.ini")
url=$(sed -n 's/^url = //p' "$work/source.ini")
[ "$columns" = "$EXPECTED_COLUMNS" ] ||
	fail "django-columns printed '$columns', expected '$EXPECTED_COLUMNS'"
[ "$url" = "$expected_url" ] || fail "django-columns printed url '$url', expected '$expected_url'"
echo "ok: django-columns found the $(echo "$columns" | tr ',' '\n' | wc -l) expected columns"
# The form the README gives: the project directory, settings from manage.py.
(cd "$work" && "$python" "$root/tools/django-columns" "$here/site") >"$work/source-dir.ini" ||
	fail "tools/django-columns PROJECT_DIR failed"
cmp -s "$work/source.ini" "$work/source-dir.ini" ||
	fail "django-columns PROJECT_DIR printed another section than --pythonpath/--settings"
echo "ok: django-columns PROJECT_DIR prints the same section"

cat >"$work/mediafs.ini" <<EOF
[mediafs]
interval = 1h
min_age = ${MIN_AGE_S}s
grace = ${GRACE_S}s
temp_max_age = ${TEMP_MAX_AGE_S}s
max_fraction = 1
restore_on_access = yes
exclude = defaults/*

$(cat "$work/source.ini")

; A CharField that holds MEDIA_URL-style values, not a FileField.
[source banners]
url = $url
columns = gallery_banner.url
strip_prefix = /media/, https://cdn.example.com/media/
EOF
"$MEDIAFS_BIN" --check-config "$work/mediafs.ini" || fail "mediafs --check-config refused it"

e2e_mount "$media" "$work/mediafs.ini" "$work/daemon.log"

# ------------------------------------------------------------ scenarios

t=$(date +%s.%N)
E2E_BACKING_FD=9 "$python" "$here/scenarios.py" run
scenarios_status=$?
scenarios_s=$(elapsed "$t")

e2e_unmount
if grep -E ' (error|warn): ' "$work/daemon.log"; then
	echo "(the daemon logged the warnings and errors above)"
fi

echo
echo "django-$db: prepare ${prepare_s} s, scenarios ${scenarios_s} s, total $(elapsed "$started") s"
[ "$scenarios_status" = 0 ] || fail "some scenarios failed (see above)"
echo "django-$db: all scenarios passed"
