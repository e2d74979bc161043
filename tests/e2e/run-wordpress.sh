#!/usr/bin/env bash
# usage: run-wordpress.sh
#
# End-to-end test with WordPress: Debian's wordpress package, run by the
# PHP command line, its database on a throwaway MariaDB server (unix
# socket only), its uploads directory on a mediafs mount.
#
#   1. start MariaDB; create the database, and an account for mediafs that
#      may only read wp_postmeta, its password in an option file
#   2. wordpress.php install: the tables
#   3. mount uploads over itself (BACKING = MOUNTPOINT), with the two
#      sources of docs/wordpress.md; as root, in a private mount namespace
#   4. wordpress.php upload: five images through WordPress (every size)
#   5. wordpress.php act: delete one, drop the rows of one, replace one,
#      edit one in the image editor
#   6. mediactl scan, then wordpress.php check: every referenced file
#      stays, every orphan is quarantined
#   7. unmount; the daemon must exit 0
#
# Skips (exit 77) with a reason when FUSE, PHP (with GD and mysqli),
# WordPress or the MariaDB server is missing.  The mount, the daemon and
# the server are taken down on every exit path.  E2E_KEEP=1 keeps the work
# directory.
set -uo pipefail

readonly PASSWORD="wp-e2e-$$-$RANDOM"

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/mount.sh
. "$here/mount.sh"
# shellcheck source=tests/e2e/mariadb.sh
. "$here/mariadb.sh"
wp=${E2E_WP_ABSPATH:-/usr/share/wordpress}
started=$(date +%s.%N)

e2e_isolate "$@"
e2e_require_mediafs
command -v php >/dev/null || skip "PHP is not installed (Debian: php-cli)"
php -r 'exit(function_exists("imagecreatetruecolor") && function_exists("mysqli_connect") ? 0 : 1);' ||
	skip "PHP lacks GD or mysqli (Debian: php-gd, php-mysql)"
[ -f "$wp/wp-settings.php" ] || skip "no WordPress in $wp (Debian: wordpress)"
mariadb_require

work=$(mktemp -d /tmp/mediafs-e2e-wordpress-XXXXXX) || fail "cannot make a work directory"
chmod 755 "$work"
uploads=$work/wp-content/uploads

cleanup() {
	local status=$?
	set +e
	e2e_stop_daemon
	mariadb_stop
	if [ "$status" != 0 ] && [ "$status" != "$EXIT_SKIP" ]; then
		[ -f "$work/daemon.log" ] && { echo "---- daemon log (last 40 lines) ----"; tail -n 40 "$work/daemon.log"; } >&2
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

mkdir -p "$uploads" "$work/run"
mariadb_start "$work/db"
socket=$mariadb_socket
mariadb_sql -e "CREATE DATABASE wordpress; CREATE USER mediafs@localhost IDENTIFIED BY '$PASSWORD'" ||
	fail "cannot create the database"

export E2E_WORK=$work E2E_SOCKET=$socket E2E_UPLOADS=$uploads E2E_WP_ABSPATH=$wp
export MEDIAFS_RUNTIME_DIR=$work/run
t=$(date +%s.%N)
php "$here/wordpress.php" install || fail "installing WordPress"
echo "installed in $(elapsed "$t") s"
mariadb_sql -e "GRANT SELECT ON wordpress.wp_postmeta TO mediafs@localhost" || fail "GRANT"

# ---------------------------------------------------- configuration, mount

# The password in an option file, never in the configuration.
printf '[mediafs]\npassword = %s\n' "$PASSWORD" >"$work/mediafs.cnf"
chmod 600 "$work/mediafs.cnf"
url="mysql://mediafs@localhost/wordpress?socket=$socket&option_file=$work/mediafs.cnf"
cat >"$work/mediafs.ini" <<EOF
[mediafs]
interval = 1h
min_age = 0s
grace = 1h
max_fraction = 1
; every file WordPress deletes is kept in the quarantine, however young
temp_max_age = 0s

; docs/wordpress.md: the file of every attachment (images, PDFs, ...)
[source wp-files]
url = $url
query = SELECT meta_value FROM wp_postmeta WHERE meta_key = '_wp_attached_file'

; and every size WordPress generated, beside it, and the originals the
; image editor keeps (the query wraps each attachment's backup sizes and
; its attached file, another row, into one PHP array)
[source wp-sizes]
url = $url
query = SELECT meta_value FROM wp_postmeta WHERE meta_key = '_wp_attachment_metadata'
  UNION ALL
    SELECT CONCAT('a:2:{s:4:"file";s:', LENGTH(f.meta_value), ':"', f.meta_value,
      '";s:6:"backup";', b.meta_value, '}')
    FROM wp_postmeta b JOIN wp_postmeta f
      ON f.post_id = b.post_id AND f.meta_key = '_wp_attached_file'
    WHERE b.meta_key = '_wp_attachment_backup_sizes'
format = php
paths = file, sizes.*.file, original_image, backup.*.file
base = dirname(file)
EOF
"$MEDIAFS_BIN" --check-config "$work/mediafs.ini" || fail "mediafs --check-config refused it"
grep -q "$PASSWORD" "$work/mediafs.ini" && fail "the password is in the configuration"

e2e_mount "$uploads" "$work/mediafs.ini" "$work/daemon.log"
export E2E_BACKING=/proc/$$/fd/9

# ------------------------------------------------------------ scenarios

t=$(date +%s.%N)
php "$here/wordpress.php" upload || fail "uploading through WordPress"
echo "uploaded in $(elapsed "$t") s"
php "$here/wordpress.php" act || fail "deleting and replacing through WordPress"
"$MEDIACTL_BIN" --mount "$uploads" scan || fail "mediactl scan"
php "$here/wordpress.php" check
check_status=$?
grep -F "$PASSWORD" "$work/daemon.log" && fail "the daemon logged the password"

e2e_unmount
echo "wordpress: total $(elapsed "$started") s"
[ "$check_status" = 0 ] || fail "some checks failed (see above)"
echo "wordpress: all checks passed"
