#!/usr/bin/env bash
# usage: bench/nginx.sh [--quick] [--out file] [build-dir]
#
# Small files as a web server serves them: nginx from Debian sends FILES
# (2,000) images of 8-96 KiB (random bytes named .jpg) in DIRS (20)
# directories to wrk: CONNECTIONS (32) connections on WRK_THREADS (2)
# threads, each request one image picked at random (bench/nginx.lua),
# DURATION (8) seconds per measurement.  Three topologies over one tree,
# BACKING, on the same filesystem:
#   native   nginx's root is BACKING itself
#   mount    mediafs mounts BACKING on MOUNT with its defaults (tracking
#            on) and a configuration with one SQLite source that
#            references every image; nginx's root is MOUNT
#   direct   nginx's root is the read-only view of BACKING that mediafs
#            -o direct=DIR attaches before it mounts: the application
#            writes through the mount and the web server reads BACKING
#            with no FUSE in the way (and no restore on access for what
#            it reads)
# (In production mediafs mounts over BACKING itself, and the view made
# before is the only way left to it; here MOUNT is another directory
# so that native can read the same tree, the same inodes, by its path.)
# Each topology is measured warm (after a pass that reads every file once
# through nginx's root) and cold (after `echo 3 > /proc/sys/vm/drop_caches`;
# the tree is about 100 MiB, so a cold run warms up as it goes).  Around
# each run the mediafs daemon's CPU time (utime + stime of all its threads,
# /proc/PID/stat) is read: the report gives it per request served, in
# every column (native and direct show what the idle daemon costs).
#
# nginx is a throwaway instance: its own configuration in BENCH_DIR,
# `daemon off`, worker_processes 2, workers as NGINX_USER (www-data),
# access_log off, sendfile on, keepalive_requests high (wrk's connections
# stay open), on three random ports of 127.0.0.1, one server per
# topology.  open_file_cache is off, so every request opens and closes its
# file as a cold visitor's would; OPEN_FILE_CACHE=N sets `open_file_cache
# max=N` instead, which hides most opens from the filesystem.  mediafs
# mounts with `-o config=...,allow_other` (the workers are not root) and
# MEDIAFS_OPTIONS on top (e.g. MEDIAFS_OPTIONS=notrack).
#
# Every figure is the median of RUNS (3) measurements, taken in turn on
# each topology (native, mount, direct, then again).  Prints the load
# average at start and end and a table of figures with ratios to native.
# --quick is a smoke run (400 files in 4 directories, 2 s per
# measurement).  --out also writes the report to a file.
#
# A benchmark, not a test: it judges nothing.  Needs root (drop_caches,
# mounts), nginx and wrk (apt-get install nginx-light wrk), python3,
# fusermount3; it installs nothing.  Everything lives in BENCH_DIR (default
# /var/tmp/mediafs-nginx-bench) and is removed at exit, mounts and nginx
# included.
set -euo pipefail

usage() {
	sed -n 2p "$0" | sed 's/^# //' >&2
	exit 2
}

# Full sizes unless --quick.
files=${FILES:-2000} dirs=${DIRS:-20} duration=${DURATION:-8}
quick="" out="" build=build
while [ $# -gt 0 ]; do
	case $1 in
	--quick)
		quick="--quick "
		files=${FILES:-400} dirs=${DIRS:-4} duration=${DURATION:-2} ;;
	--out)
		[ $# -ge 2 ] || usage
		out=$2
		shift ;;
	-*) usage ;;
	*) build=$1 ;;
	esac
	shift
done
runs=${RUNS:-3}
connections=${CONNECTIONS:-32}
wrk_threads=${WRK_THREADS:-2}
open_file_cache=${OPEN_FILE_CACHE:-}
nginx_user=${NGINX_USER:-www-data}
bench=${BENCH_DIR:-/var/tmp/mediafs-nginx-bench}
here=$(cd "$(dirname "$0")" && pwd)

[ "$(id -u)" = 0 ] || { echo "nginx.sh: run as root (drop_caches, mounts)" >&2; exit 2; }
missing=()
for tool in nginx wrk python3 fusermount3 mountpoint curl; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "nginx.sh: missing: ${missing[*]} (Debian: apt-get install nginx-light wrk" \
		"python3 fuse3 curl)" >&2
	exit 2
fi
id -u "$nginx_user" >/dev/null 2>&1 ||
	{ echo "nginx.sh: no user '$nginx_user' for nginx's workers (set NGINX_USER)" >&2; exit 2; }
ninja -C "$build" fs/mediafs >/dev/null
mediafs=$(cd "$build/fs" && pwd)/mediafs

backing=$bench/back
mnt=$bench/mnt
direct=$bench/direct
ngx=$bench/nginx
results=$bench/results.tsv
# Our control socket stays out of the way of other mounts' mediactl.
export MEDIAFS_RUNTIME_DIR=$bench/run
umask 022
daemon_pid=""
nginx_pid=""
notes=()

unmount_all() {
	if mountpoint -q "$mnt" 2>/dev/null; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || :
	fi
	if [ -n "$daemon_pid" ]; then
		wait "$daemon_pid" 2>/dev/null || :
		daemon_pid=""
	fi
	if mountpoint -q "$direct" 2>/dev/null; then
		umount "$direct" 2>/dev/null || umount -l "$direct" 2>/dev/null || :
	fi
}

remove_bench() {	# never recursing into a mount that is still there
	if mountpoint -q "$mnt" 2>/dev/null || mountpoint -q "$direct" 2>/dev/null; then
		echo "nginx.sh: '$mnt' or '$direct' is still mounted; '$bench' is left" >&2
		return 1
	fi
	rm -rf "$bench"
}

cleanup() {
	if [ -n "$nginx_pid" ]; then
		kill -TERM "$nginx_pid" 2>/dev/null || :
		wait "$nginx_pid" 2>/dev/null || :
		nginx_pid=""
	fi
	unmount_all
	remove_bench || :
}

# A run that was killed may have left its nginx (the master's title keeps
# its command line) and its mounts.
if [ -f "$ngx/nginx.pid" ]; then
	old_pid=$(< "$ngx/nginx.pid")
	if tr '\0' ' ' < "/proc/$old_pid/cmdline" 2>/dev/null | grep -qF -- "-c $ngx/nginx.conf"; then
		kill -TERM "$old_pid"
	fi
fi
unmount_all
remove_bench || exit 1
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$backing" "$mnt" "$direct" "$ngx" "$bench/run"
chmod 755 "$bench" "$backing" "$mnt" "$direct"
chmod 700 "$bench/run"

# ------------------------------------------------------------------
# The tree and the application's database
# ------------------------------------------------------------------

echo "making $files images in $dirs directories..." >&2
tree_bytes=$(python3 - "$backing" "$files" "$dirs" "$bench/app.sqlite3" <<'PY'
import os, random, sqlite3, sys

root, files, dirs, db = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sizes = random.Random(15)
for d in range(dirs):
    os.mkdir("%s/d%02d" % (root, d), 0o755)
names, total = [], 0
for i in range(files):
    # The same names as bench/nginx.lua asks for.
    name = "d%02d/f%05d.jpg" % (i % dirs, i)
    size = sizes.randint(8 * 1024, 96 * 1024)
    with open("%s/%s" % (root, name), "wb") as f:
        f.write(os.urandom(size))
    names.append((name,))
    total += size
con = sqlite3.connect(db)
con.execute("CREATE TABLE gallery_photo (id INTEGER PRIMARY KEY, image TEXT)")
con.executemany("INSERT INTO gallery_photo (image) VALUES (?)", names)
con.commit()
con.close()
print(total)
PY
)
sync

# Every image is referenced; the hourly interval keeps scans out of the runs.
cat > "$bench/mediafs.ini" <<INI
[mediafs]
interval = 1h

[source app]
url = sqlite:///$bench/app.sqlite3
columns = gallery_photo.image
INI

# ------------------------------------------------------------------
# The mounts: mediafs, which attaches the direct view before it mounts
# ------------------------------------------------------------------

mediafs_options=config=$bench/mediafs.ini,allow_other,direct=$direct
mediafs_options+=${MEDIAFS_OPTIONS:+,$MEDIAFS_OPTIONS}
"$mediafs" -f -o "$mediafs_options" "$backing" "$mnt" 2>"$bench/mediafs.log" &
daemon_pid=$!
# Adoption of the tree, then the startup scan: both before any figure.
until grep -q "(startup)" "$bench/mediafs.log"; do
	kill -0 "$daemon_pid" 2>/dev/null || {
		echo "nginx.sh: mediafs exited:" >&2
		tail -n 20 "$bench/mediafs.log" >&2
		daemon_pid=""
		exit 1
	}
	sleep 0.2
done
mountpoint -q "$mnt" || { echo "nginx.sh: '$mnt' is not mounted" >&2; exit 1; }
while read -r line; do
	notes+=("mediafs log: ${line#* info: }")
done < <(grep -i passthrough "$bench/mediafs.log" | head -n 3)

# A mount that vanished (someone unmounted every FUSE mount) must not be
# measured as the directory under it.
check_mounts() {
	if ! mountpoint -q "$mnt" || ! mountpoint -q "$direct" ||
		! kill -0 "$daemon_pid" 2>/dev/null; then
		echo "nginx.sh: a mount or the mediafs daemon is gone; stopping" >&2
		exit 1
	fi
}

# ------------------------------------------------------------------
# nginx
# ------------------------------------------------------------------

topologies=(native mount direct)
declare -A root=([native]=$backing [mount]=$mnt [direct]=$direct)
declare -A port
read -r 'port[native]' 'port[mount]' 'port[direct]' < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')

if [ -n "$open_file_cache" ]; then
	file_cache="open_file_cache max=$open_file_cache inactive=60s;"
	notes+=("open_file_cache max=$open_file_cache: most opens do not reach the filesystem")
else
	file_cache="open_file_cache off;"
fi
servers=""
for t in "${topologies[@]}"; do
	servers+="	server { listen 127.0.0.1:${port[$t]}; root ${root[$t]}; }"$'\n'
done
cat > "$ngx/nginx.conf" <<CONF
user $nginx_user;
worker_processes 2;
daemon off;
pid $ngx/nginx.pid;
error_log $ngx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	$file_cache
	types { image/jpeg jpg; }
	default_type application/octet-stream;
	client_body_temp_path $ngx/body;
	proxy_temp_path $ngx/proxy;
	fastcgi_temp_path $ngx/fastcgi;
	uwsgi_temp_path $ngx/uwsgi;
	scgi_temp_path $ngx/scgi;
$servers}
CONF
nginx -p "$ngx/" -e "$ngx/error.log" -c "$ngx/nginx.conf" &
nginx_pid=$!

# Ready when every server sends the first image as it is on disk.
sample=d00/f00000.jpg
for t in "${topologies[@]}"; do
	for _ in $(seq 100); do
		kill -0 "$nginx_pid" 2>/dev/null ||
			{ echo "nginx.sh: nginx exited:" >&2; cat "$ngx/error.log" >&2; nginx_pid=""; exit 1; }
		curl -sf -o "$ngx/sample" "http://127.0.0.1:${port[$t]}/$sample" && break
		sleep 0.1
	done
	cmp -s "$ngx/sample" "$backing/$sample" || {
		echo "nginx.sh: $t (port ${port[$t]}) does not serve $sample:" >&2
		tail -n 5 "$ngx/error.log" >&2
		exit 1
	}
done

# ------------------------------------------------------------------
# The measurements
# ------------------------------------------------------------------

clock_ticks=$(getconf CLK_TCK)

daemon_ticks() {	# utime + stime of every thread of the daemon
	# Fields after the command name, which is in parentheses.
	local stat
	stat=$(< "/proc/$daemon_pid/stat")
	stat=${stat##*) }
	awk '{print $12 + $13}' <<< "$stat"
}

drop_caches() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
}

measure() {	# TOPOLOGY warm|cold RUN: appends one line to $results
	local t=$1 state=$2 run=$3 before after line
	check_mounts
	if [ "$state" = warm ]; then
		cat "${root[$t]}"/d*/*.jpg > /dev/null
	else
		drop_caches
	fi
	before=$(daemon_ticks)
	line=$(wrk -t "$wrk_threads" -c "$connections" -d "${duration}s" -s "$here/nginx.lua" \
		"http://127.0.0.1:${port[$t]}/" -- "$files" "$dirs" | grep '^wrk-summary ') || {
		echo "nginx.sh: wrk failed on $t" >&2
		exit 1
	}
	after=$(daemon_ticks)
	# An error page is no image: figures made of them mean nothing.
	if [[ ! $line =~ " status=0 " ]]; then
		echo "nginx.sh: $t answered errors: $line" >&2
		tail -n 5 "$ngx/error.log" >&2
		exit 1
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$state" "$run" "$((after - before))" \
		"${line#wrk-summary }" >> "$results"
	awk -v head="$(printf 'run %s/%s %-4s %-6s' "$run" "$runs" "$state" "$t")" '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		printf "%s %.0f requests/s\n", head, f["requests"] * 1e6 / f["duration_us"]
	}' <<< "$line" >&2
}

: > "$results"
load_start=$(uptime)
for run in $(seq "$runs"); do
	for state in warm cold; do
		for t in "${topologies[@]}"; do
			measure "$t" "$state" "$run"
		done
	done
done
load_end=$(uptime)

# ------------------------------------------------------------------
# The report
# ------------------------------------------------------------------

report() {
	local buildtype
	buildtype=$(meson introspect --buildoptions "$build" 2>/dev/null | python3 -c '
import json, sys
print([o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"][0])' \
		2>/dev/null || echo "?")
	echo "nginx serving small files, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) cores, kernel $(uname -r)," \
		"$(df -T "$bench" | awk 'NR == 2 {print $2 " on " $1}'); build '$build' ($buildtype)"
	echo "$(nginx -v 2>&1 | sed 's/^nginx version: //'), worker_processes 2;" \
		"$(wrk -v 2>&1 | awk 'NR == 1 {print "wrk " $2}')," \
		"$connections connections, $wrk_threads threads, ${duration} s per run"
	echo "tree: $files files in $dirs directories, $((tree_bytes / 1024)) KiB in all" \
		"(8-96 KiB each)"
	echo "mediafs -o $mediafs_options" | sed "s|$bench/|BENCH_DIR/|"
	echo "command: bench/nginx.sh $quick(RUNS=$runs)"
	echo "load at start: ${load_start#*load average: }"
	echo "load at end:   ${load_end#*load average: }"
	for n in "${notes[@]}"; do echo "note: $n"; done
	echo
	python3 - "$results" "$clock_ticks" "${topologies[@]}" <<'PY'
import statistics, sys
from collections import defaultdict

results, ticks, tops = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rate, cpu_us, cores, p99, errors = (defaultdict(list) for _ in range(5))
for line in open(results):
    top, state, _, dticks, summary = line.rstrip("\n").split("\t")
    f = dict(kv.split("=") for kv in summary.split())
    n, secs = int(f["requests"]), int(f["duration_us"]) / 1e6
    cpu = int(dticks) / ticks
    rate[top, state].append(n / secs)
    cpu_us[top, state].append(cpu * 1e6 / n if n else 0.0)
    cores[top, state].append(cpu / secs)
    p99[top, state].append(int(f["p99_us"]) / 1000)
    errors[top] = [a + int(f[k]) for a, k in
                   zip(errors[top] or [0] * 4, ("connect", "read", "write", "timeout"))]

print("Median of %d runs; in parentheses, the ratio to native." % len(rate[tops[0], "warm"]))
print()
print("| measurement | unit | " + " | ".join(tops) + " |")
print("|---|---|" + "---:|" * len(tops))
for title, unit, series, fmt, ratio in (
        ("requests, warm", "req/s", (rate, "warm"), "%.0f", True),
        ("requests, cold", "req/s", (rate, "cold"), "%.0f", True),
        ("mediafs CPU per request, warm", "us", (cpu_us, "warm"), "%.1f", False),
        ("mediafs CPU per request, cold", "us", (cpu_us, "cold"), "%.1f", False),
        ("mediafs CPU, warm", "cores", (cores, "warm"), "%.2f", False),
        ("mediafs CPU, cold", "cores", (cores, "cold"), "%.2f", False),
        ("latency p99, warm", "ms", (p99, "warm"), "%.1f", False),
        ("latency p99, cold", "ms", (p99, "cold"), "%.1f", False)):
    table, state = series
    med = {t: statistics.median(table[t, state]) for t in tops}
    cells = []
    for t in tops:
        cell = fmt % med[t]
        if ratio and t != "native" and med["native"]:
            cell += " (%.2f)" % (med[t] / med["native"])
        cells.append(cell)
    print("| %s | %s | %s |" % (title, unit, " | ".join(cells)))
for t in tops:
    if any(errors[t]):
        print()
        print("%s: socket errors over all runs: connect %d, read %d, write %d, timeout %d"
              % ((t,) + tuple(errors[t])))
PY
}

report > "$bench/report"
cat "$bench/report"
if [ -n "$out" ]; then
	cp "$bench/report" "$out"
fi
