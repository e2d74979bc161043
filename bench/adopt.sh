#!/usr/bin/env bash
# usage: bench/adopt.sh [build-dir]        (FILES=n RUNS=n BENCH_DIR=dir to change)
#
# Adoption of an existing media root: mount mediafs over a tree of FILES
# empty files (default 1,000,000 in 1,000 directories) that the catalog
# has never seen, and measure how long the adoption walk takes until every
# file is in the catalog, and the daemon's peak memory; then unmount and
# mount again (the catalog knows every file: the walk only reconciles).
# In the same run, for scale: a plain walk of the same tree (find) and a
# Python os.walk, warm cache.  (Adoption also stats every file, and
# writes a catalog row for each.)
#
# A benchmark, not a test: it prints a table and judges nothing.  Target:
# first adoption under 15 s and under 100 MB.  Needs root (to mount).
set -euo pipefail

build=${1:-build}
files=${FILES:-1000000}
runs=${RUNS:-1}
dirs=1000
bench=${BENCH_DIR:-/var/tmp/mediafs-scan-bench}
tree=$bench/tree
mnt=$bench/mnt
mediafs=$build/fs/mediafs
pid=""
export MEDIAFS_RUNTIME_DIR=$bench/run

ninja -C "$build" fs/mediafs bench/make_tree >/dev/null

cleanup() {
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || :
	[ -n "$pid" ] && wait "$pid" 2>/dev/null
	:
}
trap cleanup EXIT INT TERM

mkdir -p "$bench" "$mnt"
if [ "$(cat "$bench/tree.count" 2>/dev/null)" != "$files" ]; then
	echo "making $files files in $dirs directories (once)..." >&2
	rm -rf "$tree" "$bench/tree.count"
	"$build/bench/make_tree" "$tree" "$files" "$dirs"
	echo "$files" > "$bench/tree.count"
fi

now_ms() { date +%s%3N; }

# adopt: mount, wait for the adoption line; prints "ms peak_mb".
adopt() {
	local log=$bench/adopt.log start end mb
	: > "$log"
	start=$(now_ms)
	"$mediafs" -f -o "interval=1h" "$tree" "$mnt" 2>"$log" &
	pid=$!
	until grep -q "adoption: [0-9]* files, " "$log"; do
		kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
		sleep 0.05
	done
	end=$(now_ms)
	mb=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status")
	fusermount3 -u "$mnt"
	wait "$pid"
	pid=""
	grep -q "adoption: $files files" "$log" ||
		{ echo "adoption did not see $files files:" >&2; grep adoption "$log" >&2; exit 1; }
	echo "$((end - start)) $mb"
}

best() { sort -n | head -1; }

first=() first_mb=() again=() again_mb=()
for _ in $(seq "$runs"); do
	rm -rf "$tree/.mediafs"
	read -r ms mb < <(adopt); first+=("$ms"); first_mb+=("$mb")
	read -r ms mb < <(adopt); again+=("$ms"); again_mb+=("$mb")
done
rm -rf "$tree/.mediafs"

start=$(now_ms); find "$tree" -type f | wc -l >/dev/null; find_ms=$(($(now_ms) - start))
start=$(now_ms)
/usr/bin/python3 - "$tree" <<'PY'
import os, sys
n = 0
for root, dirs, names in os.walk(sys.argv[1]):
    n += len(names)
PY
python_ms=$(($(now_ms) - start))

printf "\n%s files in %s directories; best of %s runs; load %s\n\n" "$files" "$dirs" "$runs" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-44s %10s %10s\n" "" "ms" "peak MB"
printf "%-44s %10s %10s\n" "mediafs first mount: adoption" \
	"$(printf '%s\n' "${first[@]}" | best)" "$(printf '%s\n' "${first_mb[@]}" | sort -n | tail -1)"
printf "%-44s %10s %10s\n" "mediafs mount again: reconcile" \
	"$(printf '%s\n' "${again[@]}" | best)" "$(printf '%s\n' "${again_mb[@]}" | sort -n | tail -1)"
printf "%-44s %10s %10s\n" "find -type f (warm)" "$find_ms" "-"
printf "%-44s %10s %10s\n" "Python os.walk (warm)" "$python_ms" "-"
