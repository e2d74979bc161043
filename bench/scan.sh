#!/usr/bin/env bash
# usage: bench/scan.sh [build-dir]        (FILES=n RUNS=n BENCH_DIR=dir to change)
#
# How long one scan takes, and how much memory, for FILES tracked files
# (default 1,000,000) against as many references in two columns, 10% of
# the files orphans: once with the references in SQLite, once in
# PostgreSQL.  A scan here is a dry run: fetch, compare, decide (moving is
# left out).  In the same run, the approach the Django documentation
# suggests (walk MEDIA_ROOT, query the column, take the set difference),
# in Python with Debian's sqlite3 and psycopg2, warm and cold.
#
# A benchmark, not a test: it prints a table and judges nothing.  Targets:
# a scan under 1 s over SQLite and under 1.5 s over PostgreSQL, under
# 150 MB, at least 3x faster than walk-and-diff warm.  Needs root (to mount,
# and to drop the page cache for the cold runs), sqlite3, PostgreSQL 15.
set -euo pipefail

build=${1:-build}
files=${FILES:-1000000}
runs=${RUNS:-3}
dirs=1000
bench=${BENCH_DIR:-/var/tmp/mediafs-scan-bench}
here=$(cd "$(dirname "$0")" && pwd)
bindir=${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
python=/usr/bin/python3
mediafs=$build/fs/mediafs
mediactl=$build/tools/mediactl
ninja -C "$build" fs/mediafs tools/mediactl bench/make_tree >/dev/null

mkdir -p "$bench"
chmod 755 "$bench"
tree=$bench/tree
mnt=$bench/mnt
pgdir=$bench/pg
export MEDIAFS_RUNTIME_DIR=$bench/run
as_pg=""
[ "$(id -u)" = 0 ] && as_pg="runuser -u postgres --"
pid=""

cleanup() {
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || :
	[ -n "$pid" ] && wait "$pid" 2>/dev/null
	if [ -f "$pgdir/data/postmaster.pid" ]; then
		$as_pg "$bindir/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1 || :
	fi
	rm -rf "$pgdir"
}
trap cleanup EXIT INT TERM

# The tree: FILES empty files, made once and kept for the next run.
if [ "$(cat "$bench/tree.count" 2>/dev/null)" != "$files" ]; then
	echo "making $files files in $dirs directories (once)..." >&2
	rm -rf "$tree" "$bench/tree.count"
	"$build/bench/make_tree" "$tree" "$files" "$dirs"
	echo "$files" > "$bench/tree.count"
fi
rm -rf "$tree/.mediafs"
mkdir -p "$mnt"

# References: 90% of the files in pairs (image, thumb), and 10% of the
# references to files that do not exist, so 10% of the files are orphans.
pairs=$((files * 9 / 20))
gone=$((files / 20))
echo "building the SQLite application ($((2 * (pairs + gone))) references)..." >&2
rm -f "$bench/app.sqlite3"
sqlite3 "$bench/app.sqlite3" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
CREATE TABLE gallery_photo (id INTEGER PRIMARY KEY, image TEXT, thumb TEXT);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $pairs - 1)
INSERT INTO gallery_photo (image, thumb)
SELECT printf('d%03d/f%07d.jpg', (2 * i) % $dirs, 2 * i),
       printf('d%03d/f%07d.jpg', (2 * i + 1) % $dirs, 2 * i + 1) FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $gone - 1)
INSERT INTO gallery_photo (image, thumb)
SELECT printf('gone/a%07d.jpg', i), printf('gone/b%07d.jpg', i) FROM n;
SQL

echo "starting a throwaway PostgreSQL cluster with the same rows..." >&2
rm -rf "$pgdir"
mkdir "$pgdir"
[ -n "$as_pg" ] && chown postgres "$pgdir"
$as_pg "$bindir/initdb" -D "$pgdir/data" -U postgres -E UTF8 --no-locale --auth=trust \
	--no-sync >/dev/null
$as_pg "$bindir/pg_ctl" -w -D "$pgdir/data" -l "$pgdir/server.log" \
	-o "-c listen_addresses='' -k $pgdir -c fsync=off" start >/dev/null
"$bindir/psql" -q -h "$pgdir" -U postgres -d postgres -c "CREATE DATABASE app"
"$bindir/psql" -q -h "$pgdir" -U postgres -d app <<SQL
CREATE TABLE gallery_photo (id serial PRIMARY KEY, image text, thumb text);
INSERT INTO gallery_photo (image, thumb)
SELECT format('d%s/f%s.jpg', lpad(((2 * i) % $dirs)::text, 3, '0'), lpad((2 * i)::text, 7, '0')),
       format('d%s/f%s.jpg', lpad(((2 * i + 1) % $dirs)::text, 3, '0'), lpad((2 * i + 1)::text, 7, '0'))
FROM generate_series(0, $pairs - 1) i;
INSERT INTO gallery_photo (image, thumb)
SELECT format('gone/a%s.jpg', lpad(i::text, 7, '0')), format('gone/b%s.jpg', lpad(i::text, 7, '0'))
FROM generate_series(0, $gone - 1) i;
VACUUM ANALYZE gallery_photo;
SQL
pg_conninfo="host=$pgdir port=5432 dbname=app user=postgres"

# scan_figures KIND URL: mount, let adoption finish, then RUNS dry-run
# scans; prints "best_ms peak_mb" (the peak of each scan alone: the
# kernel's high-water mark is reset before it).
scan_figures() {
	local kind=$1 url=$2 best=999999 peak=0
	cat > "$bench/$kind.ini" <<INI
[mediafs]
interval = 1h
min_age = 0s
max_fraction = 1
dry_run = yes

[source app]
url = $url
columns = gallery_photo.image, gallery_photo.thumb
INI
	: > "$bench/$kind.log"
	"$mediafs" -f -o "config=$bench/$kind.ini${MEDIAFS_OPTIONS:+,$MEDIAFS_OPTIONS}" \
		"$tree" "$mnt" 2>"$bench/$kind.log" &
	pid=$!
	until grep -q "(startup)" "$bench/$kind.log"; do
		kill -0 "$pid" || { cat "$bench/$kind.log" >&2; exit 1; }
		sleep 0.5
	done
	# Sizes are filled in after adoption: let that finish first.
	sleep 2
	for _ in $(seq "$runs"); do
		echo 5 > "/proc/$pid/clear_refs"
		"$mediactl" --mount "$mnt" scan --dry-run >/dev/null
		local ms mb
		ms=$(grep -o "in [0-9]* ms$" "$bench/$kind.log" | tail -1 | awk '{print $2}')
		mb=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status")
		[ "$ms" -lt "$best" ] && best=$ms
		[ "$mb" -gt "$peak" ] && peak=$mb
	done
	fusermount3 -u "$mnt"
	wait "$pid"
	pid=""
	echo "$best $peak"
}

walk_figures() {	# KIND ARGS...: best of RUNS warm, then one cold
	local kind=$1 best=999999 peak=0 cold
	shift
	for _ in $(seq "$runs"); do
		read -r ms mb < <("$python" "$here/walk_and_diff.py" "$tree" "$kind" "$@")
		[ "$ms" -lt "$best" ] && best=$ms
		[ "$mb" -gt "$peak" ] && peak=$mb
	done
	sync
	echo 3 > /proc/sys/vm/drop_caches
	read -r cold _ < <("$python" "$here/walk_and_diff.py" "$tree" "$kind" "$@")
	echo "$best $peak $cold"
}

echo "scanning..." >&2
read -r sqlite_ms sqlite_mb < <(scan_figures sqlite "sqlite:///$bench/app.sqlite3")
read -r pg_ms pg_mb < <(scan_figures postgresql "$pg_conninfo")
read -r walk_sqlite_ms walk_sqlite_mb walk_sqlite_cold < <(walk_figures sqlite "$bench/app.sqlite3")
read -r walk_pg_ms walk_pg_mb walk_pg_cold < <(walk_figures pg "$pg_conninfo")

printf "\n%s tracked files, %s references, 10%% orphans; best of %s runs\n\n" \
	"$files" "$((2 * (pairs + gone)))" "$runs"
printf "%-40s %10s %10s %10s\n" "" "warm ms" "cold ms" "peak MB"
printf "%-40s %10s %10s %10s\n" "mediafs scan, SQLite" "$sqlite_ms" "-" "$sqlite_mb"
printf "%-40s %10s %10s %10s\n" "mediafs scan, PostgreSQL" "$pg_ms" "-" "$pg_mb"
printf "%-40s %10s %10s %10s\n" "walk and diff (Python), SQLite" "$walk_sqlite_ms" \
	"$walk_sqlite_cold" "$walk_sqlite_mb"
printf "%-40s %10s %10s %10s\n" "walk and diff (Python), PostgreSQL" "$walk_pg_ms" \
	"$walk_pg_cold" "$walk_pg_mb"
printf "\nspeed-up against walk and diff, warm: SQLite %.1fx, PostgreSQL %.1fx\n" \
	"$(echo "$walk_sqlite_ms / $sqlite_ms" | bc -l)" "$(echo "$walk_pg_ms / $pg_ms" | bc -l)"
