/*
 * Unit tests for fs/core/quarantine.c on a temporary BACKING: a move in or
 * out is one rename, the layout <id>/<path> names the original path, the
 * directories below an id keep the owner and mode of the original ones,
 * nothing is ever replaced, and a rename that fails (injected through
 * store_ops) leaves the file where it was and no trace in the quarantine.
 * The owner checks give directories away, which needs root (as CI runs);
 * without root they check the modes only.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quarantine.h"

static char backing[] = "/tmp/mediafs-test-quarantine-XXXXXX";
static struct store st;
static struct quarantine q;

/* Run a shell command in BACKING. */
static void sh(const char *cmd)
{
	char full[2048];

	snprintf(full, sizeof(full), "cd '%s' && %s", backing, cmd);
	ck_assert_msg(system(full) == 0, "%s", cmd);
}

/* lstat a path relative to BACKING; 0 or -errno. */
static int stat_rel(const char *rel, struct stat *sb)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", backing, rel);
	return lstat(path, sb) == 0 ? 0 : -errno;
}

static bool exists_rel(const char *rel)
{
	struct stat sb;

	return stat_rel(rel, &sb) == 0;
}

static ino_t ino_of(const char *rel)
{
	struct stat sb;

	ck_assert_msg(stat_rel(rel, &sb) == 0, "'%s' exists", rel);
	return sb.st_ino;
}

static void setup(void)
{
	char why[1024];

	strcpy(backing, "/tmp/mediafs-test-quarantine-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(backing));
	ck_assert_msg(store_open(&st, backing, why, sizeof(why)) == 0, "%s", why);
	ck_assert_int_eq(quarantine_open(&q, &st), 0);
	sh("mkdir -p a/b && echo photo > a/b/f.jpg && echo other > top.jpg");
}

static void teardown(void)
{
	char cmd[512];

	quarantine_close(&q);
	store_close(&st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", backing);
	ck_assert_int_eq(system(cmd), 0);
}

/* ------------------------------------------------------------------ */
/* System calls seen and failed through store_ops                       */
/* ------------------------------------------------------------------ */

static int renames;		/* renameat2 calls seen */
static int fail_rename_at;	/* fail the nth call (1-based); 0: none */
static int fail_errno;

static int counting_renameat2(int olddirfd, const char *oldpath, int newdirfd,
			      const char *newpath, unsigned int flags)
{
	if (++renames == fail_rename_at) {
		errno = fail_errno;
		return -1;
	}
	return renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

static int failing_linkat(int olddirfd, const char *oldpath, int newdirfd,
			  const char *newpath, int flags)
{
	(void)olddirfd, (void)oldpath, (void)newdirfd, (void)newpath, (void)flags;
	errno = fail_errno;
	return -1;
}

static int failing_mkdirat(int dirfd, const char *path, mode_t mode)
{
	(void)dirfd, (void)path, (void)mode;
	errno = fail_errno;
	return -1;
}

static struct store_ops test_ops;

/* The kernel's ops, with renames counted and failed as set above. */
static void use_test_ops(void)
{
	test_ops = store_kernel_ops;
	test_ops.renameat2 = counting_renameat2;
	renames = 0;
	fail_rename_at = 0;
	st.ops = &test_ops;
}

/* ------------------------------------------------------------------ */
/* Moving in                                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_move_is_one_rename_into_a_layout_naming_the_original_path)
{
	char qname[QUARANTINE_NAME_BYTES];
	ino_t ino = ino_of("a/b/f.jpg");

	use_test_ops();
	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s7", ino, qname, sizeof(qname)), 0);
	ck_assert_int_eq(renames, 1);
	ck_assert_str_eq(qname, "s7/a/b/f.jpg");
	ck_assert_msg(!exists_rel("a/b/f.jpg"), "the file left its place");
	ck_assert_msg(ino_of(".mediafs/quarantine/s7/a/b/f.jpg") == ino,
		      "the same inode is in the quarantine");
	ck_assert_str_eq(quarantine_original_path(qname), "a/b/f.jpg");
	ck_assert_msg(quarantine_is_from_scan(qname), "an id s<scan> is a scan's");
	ck_assert_msg(!quarantine_is_from_scan("u1700000000000-0/a/b/f.jpg"),
		      "an id u<ms>-<n> is an unlink's");
}
END_TEST

START_TEST(test_quarantine_and_id_directories_are_private)
{
	char qname[QUARANTINE_NAME_BYTES];
	struct stat sb;

	ck_assert_int_eq(quarantine_move(&q, "top.jpg", "s1", 0, qname, sizeof(qname)), 0);
	ck_assert_int_eq(stat_rel(".mediafs/quarantine", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0700);
	ck_assert_int_eq(stat_rel(".mediafs/quarantine/s1", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0700);
	ck_assert_int_eq(sb.st_uid, geteuid());
}
END_TEST

START_TEST(test_open_takes_back_a_quarantine_others_could_read)
{
	struct stat sb;

	quarantine_close(&q);
	sh("chmod 0755 .mediafs/quarantine");
	ck_assert_int_eq(quarantine_open(&q, &st), 0);
	ck_assert_int_eq(stat_rel(".mediafs/quarantine", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0700);
}
END_TEST

START_TEST(test_mirror_directories_keep_the_original_owner_and_mode)
{
	char qname[QUARANTINE_NAME_BYTES];
	bool root = geteuid() == 0;
	struct stat sb;

	sh("chmod 0751 a && chmod 2705 a/b");
	if (root)
		sh("chown 65534:65534 a");
	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s3", 0, qname, sizeof(qname)), 0);
	ck_assert_int_eq(stat_rel(".mediafs/quarantine/s3/a", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0751);
	if (root) {
		ck_assert_int_eq(sb.st_uid, 65534);
		ck_assert_int_eq(sb.st_gid, 65534);
	}
	ck_assert_int_eq(stat_rel(".mediafs/quarantine/s3/a/b", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 02705);
	ck_assert_int_eq(sb.st_uid, geteuid());
}
END_TEST

START_TEST(test_move_of_another_inode_is_stale_and_moves_nothing)
{
	char qname[QUARANTINE_NAME_BYTES];
	ino_t other = ino_of("top.jpg");

	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s2", other, qname, sizeof(qname)),
			 -ESTALE);
	ck_assert_msg(exists_rel("a/b/f.jpg"), "the file stays");
	ck_assert_msg(!exists_rel(".mediafs/quarantine/s2"), "no id directory is left");
}
END_TEST

/* Between the check of the inode and the rename, another file takes the
 * name: what a client of the mount can do at any instant. */
static int renameat2_after_swap(int olddirfd, const char *oldpath, int newdirfd,
				const char *newpath, unsigned int flags)
{
	if (++renames == 1 && (renameat2(olddirfd, oldpath, olddirfd, "kept.jpg", 0) != 0 ||
			       renameat(olddirfd, "../../top.jpg", olddirfd, oldpath) != 0))
		return -1;
	return renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

START_TEST(test_file_swapped_in_before_the_rename_is_moved_back)
{
	char qname[QUARANTINE_NAME_BYTES];
	ino_t ino = ino_of("a/b/f.jpg"), intruder = ino_of("top.jpg");

	use_test_ops();
	test_ops.renameat2 = renameat2_after_swap;
	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s4", ino, qname, sizeof(qname)),
			 -ESTALE);
	ck_assert_int_eq(renames, 2);
	ck_assert_msg(ino_of("a/b/f.jpg") == intruder, "the file that took the name is back");
	ck_assert_msg(ino_of("a/b/kept.jpg") == ino, "the file checked was never moved");
	ck_assert_msg(!exists_rel(".mediafs/quarantine/s4"), "no id directory is left");
}
END_TEST

START_TEST(test_move_onto_a_quarantined_name_is_refused)
{
	char qname[QUARANTINE_NAME_BYTES];
	ino_t first = ino_of("a/b/f.jpg");

	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s5", 0, qname, sizeof(qname)), 0);
	sh("echo second > a/b/f.jpg");
	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s5", 0, qname, sizeof(qname)),
			 -EEXIST);
	ck_assert_msg(exists_rel("a/b/f.jpg"), "the second file stays");
	ck_assert_msg(ino_of(".mediafs/quarantine/s5/a/b/f.jpg") == first,
		      "the first one is not replaced");
}
END_TEST

static const int rename_errors[] = { EIO, ENOSPC, EXDEV };

START_TEST(test_failing_move_leaves_both_sides_intact)
{
	char qname[QUARANTINE_NAME_BYTES];
	ino_t ino = ino_of("a/b/f.jpg");

	use_test_ops();
	fail_rename_at = 1;
	fail_errno = rename_errors[_i];
	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s6", ino, qname, sizeof(qname)),
			 -rename_errors[_i]);
	ck_assert_msg(ino_of("a/b/f.jpg") == ino, "the file stays");
	ck_assert_msg(!exists_rel(".mediafs/quarantine/s6"),
		      "the directories made for it are gone again");
}
END_TEST

START_TEST(test_failing_mkdir_moves_nothing)
{
	char qname[QUARANTINE_NAME_BYTES];

	test_ops = store_kernel_ops;
	test_ops.mkdirat = failing_mkdirat;
	fail_errno = ENOSPC;
	st.ops = &test_ops;
	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s8", 0, qname, sizeof(qname)),
			 -ENOSPC);
	ck_assert_msg(exists_rel("a/b/f.jpg"), "the file stays");
	ck_assert_msg(!exists_rel(".mediafs/quarantine/s8"), "no id directory is made");
}
END_TEST

START_TEST(test_new_ids_never_collide)
{
	char a[QUARANTINE_ID_BYTES], b[QUARANTINE_ID_BYTES];

	quarantine_new_id(&q, 1700000000000, a, sizeof(a));
	quarantine_new_id(&q, 1700000000000, b, sizeof(b));
	ck_assert_str_eq(a, "u1700000000000-0");
	ck_assert_str_ne(a, b);
	ck_assert_msg(!quarantine_is_from_scan(a), "an unlink id is no scan's");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Linking (a file about to be replaced)                                */
/* ------------------------------------------------------------------ */

START_TEST(test_link_keeps_the_file_and_unlink_name_undoes_it)
{
	char qname[QUARANTINE_NAME_BYTES];
	ino_t ino = ino_of("a/b/f.jpg");
	const char *name;
	int dir_fd;

	ck_assert_int_eq(store_open_parent(&st, "a/b/f.jpg", &dir_fd, &name), 0);
	ck_assert_int_eq(quarantine_link_at(&q, dir_fd, name, "a/b/f.jpg", "u1-0", qname,
					    sizeof(qname)), 0);
	close(dir_fd);
	ck_assert_str_eq(qname, "u1-0/a/b/f.jpg");
	ck_assert_msg(ino_of("a/b/f.jpg") == ino, "the file keeps its name");
	ck_assert_msg(ino_of(".mediafs/quarantine/u1-0/a/b/f.jpg") == ino,
		      "and has one in the quarantine");
	ck_assert_int_eq(quarantine_unlink_name(&q, qname), 0);
	ck_assert_msg(!exists_rel(".mediafs/quarantine/u1-0"), "the id directory goes too");
	ck_assert_msg(exists_rel("a/b/f.jpg"), "the file is left alone");
}
END_TEST

START_TEST(test_failing_link_leaves_no_trace)
{
	char qname[QUARANTINE_NAME_BYTES];
	const char *name;
	int dir_fd;

	test_ops = store_kernel_ops;
	test_ops.linkat = failing_linkat;
	fail_errno = EIO;
	st.ops = &test_ops;
	ck_assert_int_eq(store_open_parent(&st, "a/b/f.jpg", &dir_fd, &name), 0);
	ck_assert_int_eq(quarantine_link_at(&q, dir_fd, name, "a/b/f.jpg", "u2-0", qname,
					    sizeof(qname)), -EIO);
	close(dir_fd);
	ck_assert_msg(exists_rel("a/b/f.jpg"), "the file stays");
	ck_assert_msg(!exists_rel(".mediafs/quarantine/u2-0"), "no id directory is left");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Moving out                                                            */
/* ------------------------------------------------------------------ */

START_TEST(test_restore_is_one_rename_and_makes_directories_as_they_were)
{
	char qname[QUARANTINE_NAME_BYTES];
	ino_t ino = ino_of("a/b/f.jpg");
	bool root = geteuid() == 0;
	struct stat sb;

	sh("chmod 0751 a && chmod 0705 a/b");
	if (root)
		sh("chown 65534:65534 a");
	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s9", 0, qname, sizeof(qname)), 0);
	sh("rm -r a");
	use_test_ops();
	ck_assert_int_eq(quarantine_restore(&q, qname, "a/b/f.jpg"), 0);
	ck_assert_int_eq(renames, 1);
	ck_assert_msg(ino_of("a/b/f.jpg") == ino, "the file is back");
	ck_assert_int_eq(stat_rel("a", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0751);
	if (root)
		ck_assert_int_eq(sb.st_uid, 65534);
	ck_assert_int_eq(stat_rel("a/b", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0705);
	ck_assert_msg(!exists_rel(".mediafs/quarantine/s9"), "the emptied id directory goes");
}
END_TEST

START_TEST(test_restore_elsewhere_takes_the_directory_above)
{
	char qname[QUARANTINE_NAME_BYTES];
	struct stat sb;

	sh("mkdir -m 0750 dest");
	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s10", 0, qname, sizeof(qname)), 0);
	ck_assert_int_eq(quarantine_restore(&q, qname, "dest/new/f.jpg"), 0);
	ck_assert_msg(exists_rel("dest/new/f.jpg"), "the file is at the new path");
	ck_assert_int_eq(stat_rel("dest/new", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0750);
}
END_TEST

START_TEST(test_restore_never_replaces)
{
	char qname[QUARANTINE_NAME_BYTES];
	ino_t ino = ino_of("a/b/f.jpg");

	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s11", 0, qname, sizeof(qname)), 0);
	sh("echo newer > a/b/f.jpg");
	ck_assert_int_eq(quarantine_restore(&q, qname, "a/b/f.jpg"), -EEXIST);
	ck_assert_msg(ino_of(".mediafs/quarantine/s11/a/b/f.jpg") == ino,
		      "the quarantined file stays");
	ck_assert_msg(ino_of("a/b/f.jpg") != ino, "the newer file stays");
}
END_TEST

START_TEST(test_restore_of_a_name_not_in_the_quarantine_is_enoent)
{
	ck_assert_int_eq(quarantine_restore(&q, "s12/a/b/f.jpg", "a/b/f.jpg"), -ENOENT);
	ck_assert_int_eq(quarantine_restore(&q, "no-id", "a/b/f.jpg"), -EINVAL);
	ck_assert_msg(exists_rel("a/b/f.jpg"), "nothing moved");
}
END_TEST

START_TEST(test_failing_restore_leaves_the_file_in_the_quarantine)
{
	char qname[QUARANTINE_NAME_BYTES];
	ino_t ino = ino_of("a/b/f.jpg");

	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s13", 0, qname, sizeof(qname)), 0);
	use_test_ops();
	fail_rename_at = 1;
	fail_errno = EIO;
	ck_assert_int_eq(quarantine_restore(&q, qname, "a/b/f.jpg"), -EIO);
	ck_assert_msg(ino_of(".mediafs/quarantine/s13/a/b/f.jpg") == ino,
		      "the file stays in the quarantine");
	ck_assert_msg(!exists_rel("a/b/f.jpg"), "and is not at its path");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Purge, walk and directories                                           */
/* ------------------------------------------------------------------ */

START_TEST(test_purge_deletes_the_file_and_its_empty_directories)
{
	char q1[QUARANTINE_NAME_BYTES], q2[QUARANTINE_NAME_BYTES];

	sh("echo g > a/b/g.jpg");
	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s14", 0, q1, sizeof(q1)), 0);
	ck_assert_int_eq(quarantine_move(&q, "a/b/g.jpg", "s14", 0, q2, sizeof(q2)), 0);
	ck_assert_int_eq(quarantine_purge(&q, q1), 0);
	ck_assert_msg(!exists_rel(".mediafs/quarantine/s14/a/b/f.jpg"), "the file is gone");
	ck_assert_msg(exists_rel(".mediafs/quarantine/s14/a/b/g.jpg"), "its neighbour stays");
	ck_assert_int_eq(quarantine_purge(&q, q2), 0);
	ck_assert_msg(!exists_rel(".mediafs/quarantine/s14"), "the emptied id goes");
	ck_assert_int_eq(quarantine_purge(&q, q2), -ENOENT);
}
END_TEST

struct listing {
	int files;
	char names[4][128];
	off_t sizes[4];
};

static int note_file(void *ctx, const char *qname, const struct stat *sb)
{
	struct listing *l = ctx;

	if (l->files < 4) {
		snprintf(l->names[l->files], sizeof(l->names[0]), "%s", qname);
		l->sizes[l->files] = sb->st_size;
	}
	l->files++;
	return 0;
}

static int stop_at_first(void *ctx, const char *qname, const struct stat *sb)
{
	(void)ctx, (void)qname, (void)sb;
	return 42;
}

START_TEST(test_each_names_every_quarantined_file)
{
	char qname[QUARANTINE_NAME_BYTES];
	struct listing l = { 0 };

	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s15", 0, qname, sizeof(qname)), 0);
	ck_assert_int_eq(quarantine_move(&q, "top.jpg", "u9-0", 0, qname, sizeof(qname)), 0);
	ck_assert_int_eq(quarantine_each(&q, note_file, &l), 0);
	ck_assert_int_eq(l.files, 2);
	ck_assert_msg((!strcmp(l.names[0], "s15/a/b/f.jpg") && !strcmp(l.names[1], "u9-0/top.jpg")) ||
		      (!strcmp(l.names[1], "s15/a/b/f.jpg") && !strcmp(l.names[0], "u9-0/top.jpg")),
		      "names '%s' and '%s'", l.names[0], l.names[1]);
	ck_assert_int_eq(quarantine_each(&q, stop_at_first, NULL), 42);
}
END_TEST

START_TEST(test_stat_sees_the_quarantined_file)
{
	char qname[QUARANTINE_NAME_BYTES];
	ino_t ino = ino_of("a/b/f.jpg");
	struct stat sb;

	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s16", 0, qname, sizeof(qname)), 0);
	ck_assert_int_eq(quarantine_stat(&q, qname, &sb), 0);
	ck_assert_uint_eq(sb.st_ino, ino);
	ck_assert_int_eq(quarantine_stat(&q, "s16/a/b/none.jpg", &sb), -ENOENT);
}
END_TEST

START_TEST(test_make_dir_brings_back_a_directory_as_it_was)
{
	char qname[QUARANTINE_NAME_BYTES];
	struct stat sb;

	sh("chmod 0751 a && chmod 0705 a/b");
	ck_assert_int_eq(quarantine_move(&q, "a/b/f.jpg", "s17", 0, qname, sizeof(qname)), 0);
	sh("rm -r a");
	ck_assert_int_eq(quarantine_make_dir(&q, "a/b"), 0);
	ck_assert_int_eq(stat_rel("a", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0751);
	ck_assert_int_eq(stat_rel("a/b", &sb), 0);
	ck_assert_msg(S_ISDIR(sb.st_mode), "a/b is a directory");
	ck_assert_int_eq(sb.st_mode & 07777, 0705);
	ck_assert_msg(exists_rel(".mediafs/quarantine/s17/a/b/f.jpg"), "the file stays there");
}
END_TEST

static Suite *quarantine_suite(void)
{
	Suite *s = suite_create("quarantine");
	TCase *in = tcase_create("move in");
	TCase *link = tcase_create("link");
	TCase *out = tcase_create("move out");
	TCase *rest = tcase_create("purge, walk, directories");

	tcase_add_checked_fixture(in, setup, teardown);
	tcase_add_test(in, test_move_is_one_rename_into_a_layout_naming_the_original_path);
	tcase_add_test(in, test_quarantine_and_id_directories_are_private);
	tcase_add_test(in, test_open_takes_back_a_quarantine_others_could_read);
	tcase_add_test(in, test_mirror_directories_keep_the_original_owner_and_mode);
	tcase_add_test(in, test_move_of_another_inode_is_stale_and_moves_nothing);
	tcase_add_test(in, test_file_swapped_in_before_the_rename_is_moved_back);
	tcase_add_test(in, test_move_onto_a_quarantined_name_is_refused);
	tcase_add_loop_test(in, test_failing_move_leaves_both_sides_intact, 0,
			    sizeof(rename_errors) / sizeof(rename_errors[0]));
	tcase_add_test(in, test_failing_mkdir_moves_nothing);
	tcase_add_test(in, test_new_ids_never_collide);
	suite_add_tcase(s, in);

	tcase_add_checked_fixture(link, setup, teardown);
	tcase_add_test(link, test_link_keeps_the_file_and_unlink_name_undoes_it);
	tcase_add_test(link, test_failing_link_leaves_no_trace);
	suite_add_tcase(s, link);

	tcase_add_checked_fixture(out, setup, teardown);
	tcase_add_test(out, test_restore_is_one_rename_and_makes_directories_as_they_were);
	tcase_add_test(out, test_restore_elsewhere_takes_the_directory_above);
	tcase_add_test(out, test_restore_never_replaces);
	tcase_add_test(out, test_restore_of_a_name_not_in_the_quarantine_is_enoent);
	tcase_add_test(out, test_failing_restore_leaves_the_file_in_the_quarantine);
	suite_add_tcase(s, out);

	tcase_add_checked_fixture(rest, setup, teardown);
	tcase_add_test(rest, test_purge_deletes_the_file_and_its_empty_directories);
	tcase_add_test(rest, test_each_names_every_quarantined_file);
	tcase_add_test(rest, test_stat_sees_the_quarantined_file);
	tcase_add_test(rest, test_make_dir_brings_back_a_directory_as_it_was);
	suite_add_tcase(s, rest);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(quarantine_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
