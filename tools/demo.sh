#!/usr/bin/env bash
# usage: tools/demo.sh [DIR]
#
# Sets up and mounts a demo media store in DIR (default /tmp/mediafs-demo):
# installs the build dependencies on Debian when run as root, builds
# mediafs, fills DIR/media with a few files and mounts it over itself.
# Unmount with: fusermount3 -u DIR/media
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/mediafs-demo}

packages=(meson ninja-build pkg-config libfuse3-dev fuse3 libsqlite3-dev sqlite3
	libpq-dev libinih-dev libjansson-dev check)
missing=()
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { echo "demo: install first: apt-get install ${missing[*]}" >&2; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

if [ "$(stat -f -c %t "$dir/media" 2>/dev/null)" = 65735546 ]; then
	echo "demo: $dir/media is already mounted (fusermount3 -u $dir/media)"
	exit 0
fi
mkdir -p "$dir/media/photos"
echo "hello" > "$dir/media/photos/hello.txt"
build/fs/mediafs "$dir/media" "$dir/media"
echo "demo: mounted $dir/media over itself"
echo "  ls -la $dir/media            # the files, through mediafs"
echo "  fusermount3 -u $dir/media    # unmount"
