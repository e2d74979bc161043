<?php
/*
 * usage: php wordpress.php install|upload|act|check
 *
 * The WordPress half of run-wordpress.sh: Debian's WordPress (ABSPATH
 * /usr/share/wordpress) loaded from the command line with its database on
 * the test's MariaDB socket and its uploads on the mediafs mount.  Every
 * file is made by WordPress's own functions: media_handle_sideload()
 * copies an upload in and wp_generate_attachment_metadata() writes every
 * size with GD, wp_delete_attachment() deletes, update_attached_file()
 * replaces, wp_save_image() edits.
 *
 *   install  create the tables (wp_install)
 *   upload   five images: small, medium, one past the big-image threshold
 *            (a -scaled copy and original_image), two more
 *   act      delete one attachment through WordPress, drop the rows of
 *            another behind its back (its files are orphans), replace the
 *            image of a third (its old files are orphans), rotate a fourth
 *            in the image editor (the original stays, as a backup size)
 *   check    after a scan: every file WordPress references is in BACKING
 *            and readable through the mount; every orphan is in the
 *            quarantine, reason unreferenced; the deleted one's files are
 *            in it too, reason unlinked
 *
 * Environment: E2E_WORK (the work directory), E2E_SOCKET (MariaDB),
 * E2E_UPLOADS (the mount), E2E_BACKING (BACKING as seen beneath the mount,
 * /proc/PID/fd/N), MEDIACTL_BIN, MEDIAFS_RUNTIME_DIR.  Exits 0 when every
 * check passed, 1 otherwise, printing one line per check.
 */

$command = $argv[1] ?? '';
$work = getenv('E2E_WORK');
$state_file = "$work/wordpress-state.json";

define('ABSPATH', rtrim(getenv('E2E_WP_ABSPATH') ?: '/usr/share/wordpress', '/') . '/');
define('DB_NAME', 'wordpress');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', 'localhost:' . getenv('E2E_SOCKET'));
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('WP_CONTENT_DIR', "$work/wp-content");
define('WP_HOME', 'http://localhost');
define('WP_SITEURL', 'http://localhost');
define('DISABLE_WP_CRON', true);
$table_prefix = 'wp_';
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['SERVER_NAME'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
if ($command === 'install')
	define('WP_INSTALLING', true);
require ABSPATH . 'wp-settings.php';
require_once ABSPATH . 'wp-admin/includes/file.php';
require_once ABSPATH . 'wp-admin/includes/media.php';
require_once ABSPATH . 'wp-admin/includes/image.php';

$failed = 0;

function check($ok, $what)
{
	global $failed;

	echo ($ok ? "ok: " : "FAIL: ") . $what . "\n";
	if (!$ok)
		$failed++;
}

function die_with($what)
{
	fwrite(STDERR, "FAIL: $what\n");
	exit(1);
}

/* A JPEG of w x h pixels in a colour of its own, at path. */
function make_jpeg($path, $w, $h, $seed)
{
	$im = imagecreatetruecolor($w, $h);
	imagefill($im, 0, 0, imagecolorallocate($im, ($seed * 70) % 256, ($seed * 40) % 256, 90));
	imagefilledellipse($im, intdiv($w, 2), intdiv($h, 2), intdiv($w, 3), intdiv($h, 3),
			   imagecolorallocate($im, 250, 250, ($seed * 30) % 256));
	imagejpeg($im, $path, 80) || die_with("cannot write $path");
	imagedestroy($im);
}

function upload($name, $w, $h, $seed)
{
	global $work;
	$tmp = "$work/tmp-$name";

	make_jpeg($tmp, $w, $h, $seed);
	$id = media_handle_sideload(['name' => $name, 'tmp_name' => $tmp], 0);
	if (is_wp_error($id))
		die_with("media_handle_sideload($name): " . $id->get_error_message());
	return $id;
}

/* Every file of an attachment, relative to the uploads directory. */
function attachment_files($id)
{
	$base = wp_upload_dir()['basedir'] . '/';
	$file = get_attached_file($id, true);
	$meta = wp_get_attachment_metadata($id) ?: [];
	$dir = dirname($file);
	$files = [$file];

	foreach ($meta['sizes'] ?? [] as $size)
		$files[] = "$dir/" . $size['file'];
	if (!empty($meta['original_image']))
		$files[] = "$dir/" . $meta['original_image'];
	/* What the image editor keeps to restore the original. */
	foreach (get_post_meta($id, '_wp_attachment_backup_sizes', true) ?: [] as $backup)
		$files[] = "$dir/" . $backup['file'];
	$files = array_unique($files);
	foreach ($files as &$path) {
		if (strpos($path, $base) !== 0)
			die_with("'$path' is outside the uploads '$base'");
		$path = substr($path, strlen($base));
	}
	return array_values($files);
}

function mediactl(...$args)
{
	$cmd = escapeshellarg(getenv('MEDIACTL_BIN')) . ' --json --mount ' .
	       escapeshellarg(getenv('E2E_UPLOADS'));
	foreach ($args as $arg)
		$cmd .= ' ' . escapeshellarg($arg);
	exec($cmd, $out, $status);
	return [$status, json_decode(implode("\n", $out), true)];
}

function load_state()
{
	global $state_file;

	return json_decode(file_get_contents($state_file), true) ?: die_with("no state");
}

function save_state($state)
{
	global $state_file;

	file_put_contents($state_file, json_encode($state, JSON_PRETTY_PRINT));
}

switch ($command) {
case 'install':
	require_once ABSPATH . 'wp-admin/includes/upgrade.php';
	$result = wp_install('mediafs e2e', 'admin', 'admin@example.com', false, '',
			     wp_generate_password(16, false));
	if (empty($result['user_id']))
		die_with('wp_install failed');
	update_option('uploads_use_yearmonth_folders', 1);
	echo "WordPress " . get_bloginfo('version') . " installed\n";
	break;

case 'upload':
	$ids = [
		'kept' => upload('harbour.jpg', 1600, 1200, 1),
		'deleted' => upload('market.jpg', 1200, 800, 2),
		'big' => upload('panorama.jpg', 2700, 1500, 3),
		'dropped' => upload('bridge.jpg', 1000, 700, 4),
		'replaced' => upload('portrait.jpg', 900, 1200, 5),
	];
	$files = [];
	foreach ($ids as $role => $id)
		$files[$role] = attachment_files($id);
	$meta = wp_get_attachment_metadata($ids['big']);
	check(!empty($meta['original_image']) && str_contains($meta['file'], '-scaled.'),
	      "the big image has a -scaled copy and its original_image");
	foreach ($files as $role => $list)
		echo "   $role: " . implode(', ', $list) . "\n";
	save_state(['ids' => $ids, 'files' => $files]);
	break;

case 'act':
	$state = load_state();
	$ids = $state['ids'];
	global $wpdb;

	/* WordPress deletes the files itself: through the mount, into the
	 * quarantine as 'unlinked'. */
	wp_delete_attachment($ids['deleted'], true) || die_with('wp_delete_attachment');
	/* Rows gone behind WordPress's back (a bulk DELETE, a broken plugin):
	 * the files stay, orphans. */
	$wpdb->delete($wpdb->postmeta, ['post_id' => $ids['dropped']]);
	$wpdb->delete($wpdb->posts, ['ID' => $ids['dropped']]);
	/* A new image for an attachment: the old file and sizes are orphans. */
	make_jpeg("$work/tmp-new.jpg", 1400, 1000, 6);
	$new = wp_upload_bits('portrait-new.jpg', null, file_get_contents("$work/tmp-new.jpg"));
	if (!empty($new['error']))
		die_with('wp_upload_bits: ' . $new['error']);
	update_attached_file($ids['replaced'], $new['file']);
	wp_update_attachment_metadata($ids['replaced'],
				      wp_generate_attachment_metadata($ids['replaced'], $new['file']));
	$state['files']['replaced-new'] = attachment_files($ids['replaced']);
	echo "   replaced-new: " . implode(', ', $state['files']['replaced-new']) . "\n";
	/* The image editor: a rotated copy with every size, the original and
	 * its sizes kept in _wp_attachment_backup_sizes to restore them. */
	require_once ABSPATH . 'wp-admin/includes/image-edit.php';
	$_REQUEST = ['history' => '[{"r":90}]', 'target' => 'all', 'do' => 'save'];
	$saved = wp_save_image($ids['kept']);
	if (!empty($saved->error) || empty($saved->msg))
		die_with('wp_save_image: ' . ($saved->error ?? 'no answer'));
	$state['files']['kept-edited'] = attachment_files($ids['kept']);
	check(count(get_post_meta($ids['kept'], '_wp_attachment_backup_sizes', true) ?: []) >= 2,
	      "the image editor kept the original and its sizes as backup sizes");
	echo "   kept-edited: " . implode(', ', $state['files']['kept-edited']) . "\n";
	save_state($state);
	break;

case 'check':
	$state = load_state();
	$files = $state['files'];
	$backing = getenv('E2E_BACKING');
	$uploads = getenv('E2E_UPLOADS');
	[$status, $out] = mediactl('quarantine');
	check($status === 0, "mediactl quarantine exits 0");
	$quarantined = [];
	foreach ($out['files'] ?? [] as $f)
		$quarantined[$f['path']] = $f['reason'] ?? '';

	/* What WordPress references now, from WordPress itself. */
	$referenced = [];
	foreach (get_posts(['post_type' => 'attachment', 'numberposts' => -1,
			    'post_status' => 'any']) as $post)
		$referenced = array_merge($referenced, attachment_files($post->ID));
	$expected = array_merge($files['kept-edited'], $files['big'], $files['replaced-new']);
	sort($referenced);
	sort($expected);
	check($referenced === $expected, "WordPress references the " . count($expected) .
	      " files of its three attachments (originals and every size), " .
	      count($referenced) . " in all");
	$missing = [];
	foreach ($referenced as $rel)
		if (!is_file("$backing/$rel") || isset($quarantined[$rel]) ||
		    file_get_contents("$uploads/$rel") !== file_get_contents("$backing/$rel"))
			$missing[] = $rel;
	check(!$missing, "every referenced file stays, in BACKING and through the mount" .
	      ($missing ? ": not " . implode(', ', $missing) : ''));

	$orphans = array_merge($files['dropped'], array_diff($files['replaced'], $referenced));
	check(count($orphans) >= 2 * 3, count($orphans) . " orphans (rows dropped, an image replaced)");
	$left = [];
	foreach ($orphans as $rel)
		if (is_file("$backing/$rel") || ($quarantined[$rel] ?? '') !== 'unreferenced')
			$left[] = $rel . ' (' . ($quarantined[$rel] ?? 'not quarantined') . ')';
	check(!$left, "every orphan is quarantined as unreferenced" .
	      ($left ? ": not " . implode(', ', $left) : ''));

	$left = [];
	foreach ($files['deleted'] as $rel)
		if (is_file("$backing/$rel") || ($quarantined[$rel] ?? '') !== 'unlinked')
			$left[] = $rel;
	check(!$left, "the files WordPress deleted are quarantined as unlinked" .
	      ($left ? ": not " . implode(', ', $left) : ''));
	exit($failed ? 1 : 0);

default:
	fwrite(STDERR, "usage: php wordpress.php install|upload|act|check\n");
	exit(2);
}
exit($failed ? 1 : 0);
