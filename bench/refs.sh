#!/bin/sh
# bench/refs.sh: how long and how much memory it takes to fetch 1,000,000
# references (500,000 rows x 2 columns, ~37-byte paths) from SQLite, from
# PostgreSQL and from MariaDB into a refset, next to Python's sqlite3,
# psycopg2 and MySQLdb reading the same values into a set; and 1,000,000
# WordPress _wp_attachment_metadata values (PHP serialize(), 5 paths each)
# from MariaDB.  A benchmark, not a test: it prints a table and judges
# nothing.  Targets: under 1 s and 150 MB for each 1,000,000 references;
# under 3 s for the WordPress values.
#
# usage: bench/refs.sh [build-dir]     (ROWS=n WP_ROWS=n RUNS=n to change the sizes)
# Needs: sqlite3, the PostgreSQL 15 server (initdb, pg_ctl, psql), the
# MariaDB server (mariadb-install-db, mariadbd, mariadb), and python3 with
# psycopg2 and MySQLdb for the comparison.  Runs as root or as a user.
set -eu

build=${1:-build}
rows=${ROWS:-500000}
wp_rows=${WP_ROWS:-1000000}
runs=${RUNS:-3}
here=$(cd "$(dirname "$0")" && pwd)
bindir=${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}

ninja -C "$build" bench/fetch_refs >/dev/null
# A python3 with psycopg2 (a pyenv shim may hide the system's).
python=""
for candidate in ${PYTHON:-} python3 /usr/bin/python3; do
	if "$candidate" -c 'import psycopg2' 2>/dev/null; then
		python=$candidate
		break
	fi
done
fetch_refs=$build/bench/fetch_refs
work=$(mktemp -d /tmp/mediafs-bench-XXXXXX)
pgdir=$work/pg
as_pg=""
if [ "$(id -u)" = 0 ]; then
	as_pg="runuser -u postgres --"
fi

mydir=$work/mariadb
mysock=$mydir/sock

cleanup() {
	if [ -f "$pgdir/data/postmaster.pid" ]; then
		$as_pg "$bindir/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1 || :
	fi
	if [ -f "$mydir/mariadbd.pid" ]; then
		kill "$(cat "$mydir/mariadbd.pid")" 2>/dev/null || :
		while [ -f "$mydir/mariadbd.pid" ] && kill -0 "$(cat "$mydir/mariadbd.pid")" 2>/dev/null; do
			sleep 0.1
		done
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "building a SQLite database with $rows rows x 2 columns..." >&2
sqlite3 "$work/app.sqlite3" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
CREATE TABLE gallery_photo (id INTEGER PRIMARY KEY, image TEXT, thumb TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO gallery_photo (image, thumb)
SELECT printf('photos/2024/%02d/%08d-original.jpg', i % 12 + 1, i),
       printf('thumbs/2024/%02d/%08d-thumbnail.jpg', i % 12 + 1, i) FROM n;
SQL

echo "starting a throwaway PostgreSQL cluster and loading the same rows..." >&2
mkdir "$pgdir"
if [ -n "$as_pg" ]; then
	chmod 755 "$work"
	chown postgres "$pgdir"
fi
$as_pg "$bindir/initdb" -D "$pgdir/data" -U postgres -E UTF8 --no-locale --auth=trust \
	--no-sync >/dev/null
$as_pg "$bindir/pg_ctl" -w -D "$pgdir/data" -l "$pgdir/server.log" \
	-o "-c listen_addresses='' -k $pgdir -c fsync=off" start >/dev/null
conninfo="host=$pgdir port=5432 dbname=app user=postgres"
"$bindir/psql" -q -h "$pgdir" -U postgres -d postgres -c "CREATE DATABASE app"
"$bindir/psql" -q -h "$pgdir" -U postgres -d app <<SQL
CREATE TABLE gallery_photo (id serial PRIMARY KEY, image text, thumb text);
INSERT INTO gallery_photo (image, thumb)
SELECT format('photos/2024/%s/%s-original.jpg', lpad((i % 12 + 1)::text, 2, '0'), lpad(i::text, 8, '0')),
       format('thumbs/2024/%s/%s-thumbnail.jpg', lpad((i % 12 + 1)::text, 2, '0'), lpad(i::text, 8, '0'))
FROM generate_series(1, $rows) i;
VACUUM ANALYZE gallery_photo;
SQL

echo "starting a throwaway MariaDB server and loading the same rows, and $wp_rows" \
	"WordPress metadata values..." >&2
mkdir "$mydir"
as_mysql=""
if [ "$(id -u)" = 0 ]; then
	chmod 755 "$work"
	chown mysql "$mydir"
	as_mysql="--user=mysql"
fi
mariadb-install-db --no-defaults --datadir="$mydir/data" --auth-root-authentication-method=normal \
	--skip-test-db $as_mysql >/dev/null
mariadbd --no-defaults --datadir="$mydir/data" --socket="$mysock" --skip-networking \
	--pid-file="$mydir/mariadbd.pid" --log-error="$mydir/server.log" --skip-log-bin \
	--innodb-buffer-pool-size=1G --innodb-flush-log-at-trx-commit=0 $as_mysql &
i=0
until mariadb --no-defaults -S "$mysock" -u root -e 'SELECT 1' >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || { echo "mariadbd did not start" >&2; cat "$mydir/server.log" >&2; exit 1; }
	sleep 0.1
done
mariadb --no-defaults -S "$mysock" -u root >/dev/null <<SQL
CREATE DATABASE app;
USE app;
CREATE TABLE gallery_photo (id serial PRIMARY KEY, image varchar(100), thumb varchar(100));
INSERT INTO gallery_photo (image, thumb)
SELECT concat('photos/2024/', lpad(seq % 12 + 1, 2, '0'), '/', lpad(seq, 8, '0'), '-original.jpg'),
       concat('thumbs/2024/', lpad(seq % 12 + 1, 2, '0'), '/', lpad(seq, 8, '0'), '-thumbnail.jpg')
FROM seq_1_to_$rows;
CREATE TABLE wp_postmeta (meta_id serial PRIMARY KEY, post_id bigint, meta_key varchar(255),
	meta_value longtext, KEY meta_key (meta_key(191)));
-- What WordPress 6 writes for a large upload: the scaled original, three
-- sizes and the original image, with the usual image_meta.
INSERT INTO wp_postmeta (post_id, meta_key, meta_value)
SELECT seq, '_wp_attachment_metadata', concat(
  'a:7:{s:5:"width";i:2560;s:6:"height";i:1707;s:4:"file";s:', length(f), ':"', f, '";',
  's:8:"filesize";i:402311;s:5:"sizes";a:3:{',
  's:6:"medium";a:5:{s:4:"file";s:', length(b) + 12, ':"', b, '-300x200.jpg";s:5:"width";i:300;s:6:"height";i:200;s:9:"mime-type";s:10:"image/jpeg";s:8:"filesize";i:15326;}',
  's:5:"large";a:5:{s:4:"file";s:', length(b) + 13, ':"', b, '-1024x683.jpg";s:5:"width";i:1024;s:6:"height";i:683;s:9:"mime-type";s:10:"image/jpeg";s:8:"filesize";i:96542;}',
  's:9:"thumbnail";a:5:{s:4:"file";s:', length(b) + 12, ':"', b, '-150x150.jpg";s:5:"width";i:150;s:6:"height";i:150;s:9:"mime-type";s:10:"image/jpeg";s:8:"filesize";i:6138;}}',
  's:10:"image_meta";a:4:{s:8:"aperture";s:3:"2.8";s:6:"camera";s:0:"";s:11:"orientation";s:1:"1";s:8:"keywords";a:0:{}}',
  's:14:"original_image";s:', length(b) + 4, ':"', b, '.jpg";}')
FROM (SELECT seq, concat('img-', lpad(seq, 8, '0')) AS b,
             concat('2024/', lpad(seq % 12 + 1, 2, '0'), '/img-', lpad(seq, 8, '0'), '-scaled.jpg') AS f
      FROM seq_1_to_$wp_rows) s;
INSERT INTO wp_postmeta (post_id, meta_key, meta_value)
SELECT seq, '_wp_attached_file', concat('2024/01/x', seq, '.jpg') FROM seq_1_to_1000;
ANALYZE TABLE gallery_photo, wp_postmeta;
SQL

cat >"$work/bench.ini" <<INI
[source sqlite]
url = sqlite://$work/app.sqlite3
columns = gallery_photo.image, gallery_photo.thumb

[source pg]
url = $conninfo
columns = gallery_photo.image, gallery_photo.thumb

[source mysql]
url = mysql://root@localhost/app?socket=$mysock
columns = gallery_photo.image, gallery_photo.thumb

[source wordpress]
url = mysql://root@localhost/app?socket=$mysock
query = SELECT meta_value FROM wp_postmeta WHERE meta_key = '_wp_attachment_metadata'
format = php
paths = file, sizes.*.file, original_image
base = dirname(file)
INI

# best_of N command...: the run with the shortest wall time, as
# "rows distinct hostile wall_ms maxrss_kb".
best_of() {
	n=$1
	shift
	i=0
	while [ "$i" -lt "$n" ]; do
		"$@"
		i=$((i + 1))
	done | sort -n -k4 | head -n 1
}

row() {
	# what, then "rows distinct hostile wall_ms maxrss_kb"
	echo "$2" | awk -v what="$1" '{ printf "%-34s %9d %9d %9d %9.1f\n", what, $1, $2, $4, $5 / 1024 }'
}

printf "%-34s %9s %9s %9s %9s\n" "fetch of $((rows * 2)) references" rows distinct "ms" "peak MB"
row "mediafs refset, SQLite" "$(best_of "$runs" "$fetch_refs" "$work/bench.ini" sqlite)"
row "Python sqlite3 into a set" "$(best_of "$runs" "${python:-python3}" "$here/fetch_refs.py" sqlite \
	"$work/app.sqlite3" gallery_photo image thumb)"
row "mediafs refset, PostgreSQL COPY" "$(best_of "$runs" "$fetch_refs" "$work/bench.ini" pg)"
if [ -n "$python" ]; then
	row "Python psycopg2 into a set" "$(best_of "$runs" "$python" "$here/fetch_refs.py" pg \
		"$conninfo" gallery_photo image thumb)"
else
	echo "Python psycopg2 into a set: skipped (no psycopg2)"
fi
row "mediafs refset, MariaDB" "$(best_of "$runs" "$fetch_refs" "$work/bench.ini" mysql)"
if "${python:-python3}" -c 'import MySQLdb' 2>/dev/null; then
	row "Python MySQLdb into a set" "$(best_of "$runs" "${python:-python3}" "$here/fetch_refs.py" \
		mysql "$mysock" gallery_photo image thumb)"
else
	echo "Python MySQLdb into a set: skipped (no MySQLdb)"
fi
printf "%-34s %9s %9s %9s %9s\n" "fetch of $wp_rows WordPress values" values paths "ms" "peak MB"
row "mediafs, MariaDB, format = php" "$(best_of "$runs" "$fetch_refs" "$work/bench.ini" wordpress)"
echo "(best of $runs runs; wall time includes connecting; peak RSS of the whole process)"
