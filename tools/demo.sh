#!/usr/bin/env bash
# usage: tools/demo.sh [DIR]              a demo store in DIR (default /tmp/mediafs-demo)
#        tools/demo.sh --stop [DIR]       unmount it
#
# Sets up and runs mediafs on a demo: installs the build dependencies on
# Debian when run as root, builds mediafs and mediactl, creates a small
# application database (SQLite) whose table references some of the files
# of a media directory, and mounts mediafs over that directory with
# second-scale settings, so that a scan quarantines the orphans at once.
# Then it shows what mediactl sees.  The daemon keeps running; stop it with
# --stop.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

if [ "${1:-}" = --stop ]; then
	dir=${2:-/tmp/mediafs-demo}
	fusermount3 -u "$dir/media" && echo "demo: unmounted $dir/media"
	exit 0
fi
dir=${1:-/tmp/mediafs-demo}

packages=(meson ninja-build pkg-config gcc libfuse3-dev fuse3 libsqlite3-dev sqlite3
	libpq-dev libinih-dev libjansson-dev libutf8proc-dev check)
missing=()
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { echo "demo: install first: apt-get install ${missing[*]}" >&2; exit 1; }
	echo "demo: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
mediafs=$repo/build/fs/mediafs
mediactl=$repo/build/tools/mediactl

if [ "$(stat -f -c %t "$dir/media" 2>/dev/null)" = 65735546 ]; then
	echo "demo: $dir/media is already mounted (stop it with: $0 --stop $dir)"
	exit 0
fi

# The application: a photo table that references two of the four files.
mkdir -p "$dir/media/photos/2024" "$dir/media/avatars"
printf 'a sunset\n' > "$dir/media/photos/2024/sunset.jpg"
printf 'a harbour\n' > "$dir/media/photos/2024/harbour.jpg"
printf 'an old upload nobody references\n' > "$dir/media/photos/2024/orphan.jpg"
printf 'a replaced avatar\n' > "$dir/media/avatars/old-avatar.png"
rm -f "$dir/app.db"
sqlite3 "$dir/app.db" <<'SQL'
CREATE TABLE gallery_photo (id INTEGER PRIMARY KEY, title TEXT, image TEXT);
INSERT INTO gallery_photo (title, image) VALUES
  ('Sunset', 'photos/2024/sunset.jpg'),
  ('Harbour', '/media/photos/2024/harbour.jpg');
SQL
cat > "$dir/mediafs.ini" <<EOF
[mediafs]
interval = 1m        ; seconds-scale settings for the demo; production: 10m
min_age = 5s         ; production: 1h
grace = 10m          ; production: 7d
max_fraction = 0.6   ; production: 0.10

[source app]
url = sqlite:///$dir/app.db
columns = gallery_photo.image
strip_prefix = /media/
EOF

"$mediafs" --check-config "$dir/mediafs.ini"
# Mounted over itself: the site keeps its path, nothing moves.
"$mediafs" -o "config=$dir/mediafs.ini" "$dir/media" "$dir/media"
echo "demo: mounted $dir/media over itself; waiting for min_age (5 s) to pass"
sleep 6
"$mediactl" --mount "$dir/media" scan
echo
"$mediactl" --mount "$dir/media" quarantine
echo
cat <<EOF
demo: the two files the database references stayed; the two orphans are
quarantined (and would be purged after grace).  Try:
  $mediactl status
  $mediactl show photos/2024/orphan.jpg
  $mediactl restore photos/2024/orphan.jpg
  cat $dir/media/avatars/old-avatar.png     # a lookup restores it too
  $mediactl log
  $0 --stop $dir
EOF
