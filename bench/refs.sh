#!/bin/sh
# bench/refs.sh: how long and how much memory it takes to fetch 1,000,000
# references (500,000 rows x 2 columns, ~37-byte paths) from SQLite and
# from PostgreSQL into a refset, next to Python's sqlite3 and psycopg2
# reading the same values into a set.  A benchmark, not a test: it prints
# a table and judges nothing.  Targets: under 1 s and 150 MB each.
#
# usage: bench/refs.sh [build-dir]     (ROWS=n RUNS=n to change the sizes)
# Needs: sqlite3 and the PostgreSQL 15 server (initdb, pg_ctl, psql), and
# python3 with psycopg2 for the comparison.  Runs as root or as a user.
set -eu

build=${1:-build}
rows=${ROWS:-500000}
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

cleanup() {
	if [ -f "$pgdir/data/postmaster.pid" ]; then
		$as_pg "$bindir/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1 || :
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

cat >"$work/bench.ini" <<INI
[source sqlite]
url = sqlite://$work/app.sqlite3
columns = gallery_photo.image, gallery_photo.thumb

[source pg]
url = $conninfo
columns = gallery_photo.image, gallery_photo.thumb
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
echo "(best of $runs runs; wall time includes connecting; peak RSS of the whole process)"
