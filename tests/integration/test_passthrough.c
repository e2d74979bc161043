/*
 * Integration tests: each operation of a complete passthrough, checked
 * through a real mediafs mount and, where it matters, in BACKING itself.
 * One daemon serves the whole suite; each test works in its own directory.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "app_harness.h"

static struct mount_harness h;

static void mount_once(void)
{
	static const char *const args[] = { "-o", "allow_other", NULL };

	ck_assert_int_eq(harness_init(&h, "passthrough"), 0);
	ck_assert_int_eq(harness_mount(&h, args), 0);
}

static void unmount_once(void)
{
	ck_assert_int_eq(harness_unmount(&h), 0);
	harness_destroy(&h);
}

/* A fresh directory for one test, through the mount. */
static const char *test_dir(const char *name)
{
	static char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/%s", h.mountpoint, name);
	ck_assert_msg(mkdir(dir, 0755) == 0, "mkdir '%s': %s", dir, strerror(errno));
	return dir;
}

static char *path_in(const char *dir, const char *name)
{
	static char buf[4][PATH_MAX];
	static int turn;
	char *out = buf[turn++ % 4];

	snprintf(out, PATH_MAX, "%s/%s", dir, name);
	return out;
}

START_TEST(test_regular_file_round_trip)
{
	const char *dir = test_dir("regular");
	char buf[64];
	size_t len;

	ck_assert_int_eq(harness_write_file(path_in(dir, "a"), "hello", 5), 0);
	ck_assert_int_eq(harness_read_file(path_in(dir, "a"), buf, sizeof(buf), &len), 0);
	ck_assert_uint_eq(len, 5);
	ck_assert_msg(memcmp(buf, "hello", 5) == 0, "the mount returns what was written");
	ck_assert_int_eq(harness_read_file(harness_backing_path(&h, "regular/a"), buf,
					   sizeof(buf), &len), 0);
	ck_assert_msg(len == 5 && memcmp(buf, "hello", 5) == 0,
		      "BACKING holds what was written through the mount");
}
END_TEST

START_TEST(test_directories_and_listing)
{
	const char *dir = test_dir("dirs");
	char cmd[PATH_MAX * 2];

	ck_assert_int_eq(mkdir(path_in(dir, "sub"), 0750), 0);
	ck_assert_int_eq(mkdir(path_in(dir, "sub"), 0750), -1);
	ck_assert_int_eq(errno, EEXIST);
	for (int i = 0; i < 300; i++) {
		char name[32];
		snprintf(name, sizeof(name), "sub/f%03d", i);
		ck_assert_int_eq(harness_write_file(path_in(dir, name), "x", 1), 0);
	}
	snprintf(cmd, sizeof(cmd), "test $(ls '%s/sub' | wc -l) -eq 300", dir);
	ck_assert_msg(harness_sh("%s", cmd) == 0, "a listing shows all 300 entries");
	ck_assert_int_eq(rmdir(path_in(dir, "sub")), -1);
	ck_assert_int_eq(errno, ENOTEMPTY);
	ck_assert_int_eq(harness_sh("rm -r '%s/sub'", dir), 0);
	ck_assert_int_eq(access(path_in(dir, "sub"), F_OK), -1);
}
END_TEST

START_TEST(test_symlink_is_not_followed_by_the_daemon)
{
	const char *dir = test_dir("symlinks");
	char target[PATH_MAX];
	char outside[PATH_MAX];
	struct stat st, before, after;
	ssize_t len;

	snprintf(outside, sizeof(outside), "%s/outside", h.dir);
	ck_assert_int_eq(mkdir(outside, 0700), 0);
	ck_assert_int_eq(stat(outside, &before), 0);
	/* A link made in BACKING that points out of it. */
	ck_assert_int_eq(symlink(outside, harness_backing_path(&h, "symlinks/out")), 0);
	ck_assert_int_eq(lstat(path_in(dir, "out"), &st), 0);
	ck_assert_msg(S_ISLNK(st.st_mode), "the mount shows the link itself, not its target");
	len = readlink(path_in(dir, "out"), target, sizeof(target));
	ck_assert_int_eq(len, (ssize_t)strlen(outside));
	/* Changing the link through the mount must not touch the target. */
	ck_assert_int_eq(lchown(path_in(dir, "out"), 1234, 1234), 0);
	struct timespec old[2] = { { .tv_sec = 1000 }, { .tv_sec = 1000 } };
	ck_assert_int_eq(utimensat(AT_FDCWD, path_in(dir, "out"), old, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert_int_eq(stat(outside, &after), 0);
	ck_assert_msg(after.st_uid == before.st_uid && after.st_mtime == before.st_mtime,
		      "the target outside BACKING is unchanged");
	ck_assert_int_eq(lstat(harness_backing_path(&h, "symlinks/out"), &st), 0);
	ck_assert_int_eq(st.st_uid, 1234);
	ck_assert_int_eq(st.st_mtime, 1000);
	ck_assert_int_eq(symlink("rel/target", path_in(dir, "rel")), 0);
	len = readlink(harness_backing_path(&h, "symlinks/rel"), target, sizeof(target));
	ck_assert_msg(len == 10 && memcmp(target, "rel/target", 10) == 0,
		      "a link made through the mount keeps its target verbatim");
}
END_TEST

START_TEST(test_hard_link_counts_stay_fresh)
{
	const char *dir = test_dir("links");
	struct stat st;

	ck_assert_int_eq(harness_write_file(path_in(dir, "a"), "data", 4), 0);
	ck_assert_int_eq(stat(path_in(dir, "a"), &st), 0);
	ck_assert_int_eq(st.st_nlink, 1);
	ck_assert_int_eq(link(path_in(dir, "a"), path_in(dir, "b")), 0);
	ck_assert_int_eq(stat(path_in(dir, "a"), &st), 0);
	ck_assert_msg(st.st_nlink == 2, "nlink is 2 right after link(), not a cached 1");
	ck_assert_int_eq(unlink(path_in(dir, "b")), 0);
	ck_assert_int_eq(stat(path_in(dir, "a"), &st), 0);
	ck_assert_msg(st.st_nlink == 1, "nlink is 1 right after unlink()");
}
END_TEST

START_TEST(test_rename_noreplace_and_exchange)
{
	const char *dir = test_dir("rename");
	char buf[8];
	size_t len;

	ck_assert_int_eq(harness_write_file(path_in(dir, "a"), "A", 1), 0);
	ck_assert_int_eq(harness_write_file(path_in(dir, "b"), "B", 1), 0);
	ck_assert_int_eq(renameat2(AT_FDCWD, path_in(dir, "a"), AT_FDCWD,
				   path_in(dir, "b"), RENAME_NOREPLACE), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(renameat2(AT_FDCWD, path_in(dir, "a"), AT_FDCWD,
				   path_in(dir, "b"), RENAME_EXCHANGE), 0);
	ck_assert_int_eq(harness_read_file(path_in(dir, "a"), buf, sizeof(buf), &len), 0);
	ck_assert_msg(len == 1 && buf[0] == 'B', "exchange swapped the contents");
	ck_assert_int_eq(rename(path_in(dir, "a"), path_in(dir, "b")), 0);
	ck_assert_int_eq(harness_read_file(path_in(dir, "b"), buf, sizeof(buf), &len), 0);
	ck_assert_msg(len == 1 && buf[0] == 'B', "plain rename replaced the target");
	ck_assert_int_eq(access(path_in(dir, "a"), F_OK), -1);
	ck_assert_int_eq(mkdir(path_in(dir, "d1"), 0755), 0);
	ck_assert_int_eq(rename(path_in(dir, "d1"), path_in(dir, "d2")), 0);
	ck_assert_int_eq(access(harness_backing_path(&h, "rename/d2"), F_OK), 0);
}
END_TEST

START_TEST(test_attributes_change_as_asked)
{
	const char *dir = test_dir("attrs");
	const char *f = path_in(dir, "f");
	struct timespec times[2] = { { .tv_sec = 123456789 }, { .tv_nsec = UTIME_OMIT } };
	struct stat st;

	ck_assert_int_eq(harness_write_file(f, "0123456789", 10), 0);
	ck_assert_int_eq(chmod(f, 0604), 0);
	ck_assert_int_eq(chown(f, 4321, 4322), 0);
	ck_assert_int_eq(truncate(f, 3), 0);
	ck_assert_int_eq(stat(f, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0604);
	ck_assert_int_eq(st.st_uid, 4321);
	ck_assert_int_eq(st.st_gid, 4322);
	ck_assert_int_eq(st.st_size, 3);
	time_t mtime_before = st.st_mtime;
	ck_assert_int_eq(utimensat(AT_FDCWD, f, times, 0), 0);
	ck_assert_int_eq(stat(harness_backing_path(&h, "attrs/f"), &st), 0);
	ck_assert_int_eq(st.st_atime, 123456789);
	ck_assert_msg(st.st_mtime == mtime_before, "UTIME_OMIT leaves mtime alone");
	ck_assert_int_eq(st.st_size, 3);
}
END_TEST

START_TEST(test_fallocate_sync_and_seek_data_hole)
{
	const char *dir = test_dir("alloc");
	int fd = open(path_in(dir, "f"), O_RDWR | O_CREAT, 0644);
	const off_t mib = 1 << 20;
	struct stat st;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, mib), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_int_eq(fallocate(fd, 0, 0, mib), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, mib);
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq(pwrite(fd, "x", 1, 4 * mib), 1);
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_eq(fdatasync(fd), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_DATA), 4 * mib);
	ck_assert_int_eq(lseek(fd, 0, SEEK_HOLE), 0);
	ck_assert_int_eq(lseek(fd, 4 * mib, SEEK_HOLE), 4 * mib + 1);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_statfs_reports_backing_filesystem)
{
	struct statvfs mnt, back;

	ck_assert_int_eq(statvfs(h.mountpoint, &mnt), 0);
	ck_assert_int_eq(statvfs(h.backing, &back), 0);
	ck_assert_uint_eq(mnt.f_blocks, back.f_blocks);
	ck_assert_uint_eq(mnt.f_bsize, back.f_bsize);
}
END_TEST

START_TEST(test_user_xattrs)
{
	const char *dir = test_dir("xattr");
	const char *f = path_in(dir, "f");
	char value[32];
	char list[256];
	ssize_t len;

	ck_assert_int_eq(harness_write_file(f, "", 0), 0);
	ck_assert_int_eq(setxattr(f, "user.colour", "blue", 4, XATTR_CREATE), 0);
	ck_assert_int_eq(setxattr(f, "user.colour", "red", 3, XATTR_CREATE), -1);
	ck_assert_int_eq(errno, EEXIST);
	len = getxattr(f, "user.colour", NULL, 0);
	ck_assert_int_eq(len, 4);
	len = getxattr(f, "user.colour", value, sizeof(value));
	ck_assert_msg(len == 4 && memcmp(value, "blue", 4) == 0, "the value comes back");
	len = getxattr(harness_backing_path(&h, "xattr/f"), "user.colour", value, sizeof(value));
	ck_assert_msg(len == 4, "the xattr is on the backing file");
	len = listxattr(f, list, sizeof(list));
	ck_assert_msg(len > 0 && memmem(list, (size_t)len, "user.colour", 12) != NULL,
		      "listxattr names it");
	ck_assert_int_eq(getxattr(f, "user.colour", value, 1), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(removexattr(f, "user.colour"), 0);
	ck_assert_int_eq(getxattr(f, "user.colour", value, sizeof(value)), -1);
	ck_assert_int_eq(errno, ENODATA);
}
END_TEST

START_TEST(test_copy_file_range)
{
	const char *dir = test_dir("copy");
	char buf[64];
	size_t len;
	int in, out;
	loff_t off_in = 2, off_out = 0;

	ck_assert_int_eq(harness_write_file(path_in(dir, "src"), "0123456789", 10), 0);
	in = open(path_in(dir, "src"), O_RDONLY);
	out = open(path_in(dir, "dst"), O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(out, 0);
	ck_assert_int_eq(copy_file_range(in, &off_in, out, &off_out, 5, 0), 5);
	close(in);
	close(out);
	ck_assert_int_eq(harness_read_file(path_in(dir, "dst"), buf, sizeof(buf), &len), 0);
	ck_assert_msg(len == 5 && memcmp(buf, "23456", 5) == 0, "the range was copied");
}
END_TEST

START_TEST(test_shared_mmap_writes_reach_backing)
{
	const char *dir = test_dir("mmap");
	int fd = open(path_in(dir, "f"), O_RDWR | O_CREAT, 0644);
	char buf[16];
	size_t len;
	char *map;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	memcpy(map + 100, "mapped", 6);
	ck_assert_int_eq(msync(map, 4096, MS_SYNC), 0);
	munmap(map, 4096);
	close(fd);
	fd = open(harness_backing_path(&h, "mmap/f"), O_RDONLY);
	ck_assert_int_eq(pread(fd, buf, 6, 100), 6);
	close(fd);
	ck_assert_msg(memcmp(buf, "mapped", 6) == 0, "the backing file has the mapped write");
	(void)len;
}
END_TEST

START_TEST(test_file_locks_exclude_another_process)
{
	const char *dir = test_dir("locks");
	const char *f = path_in(dir, "f");
	int fd = open(f, O_RDWR | O_CREAT, 0644);
	struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 10 };
	int status;
	pid_t child;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	ck_assert_int_eq(fcntl(fd, F_SETLK, &lock), 0);
	child = fork();
	if (child == 0) {
		int cfd = open(f, O_RDWR);
		struct flock probe = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 10 };
		int flock_busy = flock(cfd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK;
		int posix_busy = fcntl(cfd, F_SETLK, &probe) == -1 &&
				 (errno == EAGAIN || errno == EACCES);
		_exit(flock_busy && posix_busy ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "another process sees both locks held");
	close(fd);
}
END_TEST

START_TEST(test_o_append_appends)
{
	const char *dir = test_dir("append");
	char buf[16];
	size_t len;
	int fd;

	ck_assert_int_eq(harness_write_file(path_in(dir, "f"), "abc", 3), 0);
	fd = open(path_in(dir, "f"), O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "def", 3), 3);
	ck_assert_int_eq(pwrite(fd, "ghi", 3, 0), 3);
	close(fd);
	ck_assert_int_eq(harness_read_file(harness_backing_path(&h, "append/f"), buf,
					   sizeof(buf), &len), 0);
	ck_assert_msg(len == 9 && memcmp(buf, "abcdefghi", 9) == 0,
		      "both writes went to the end");
}
END_TEST

START_TEST(test_large_file_beyond_4gib)
{
	const char *dir = test_dir("large");
	const off_t offset = 5LL << 30;
	char buf[8];
	struct stat st;
	int fd = open(path_in(dir, "big"), O_RDWR | O_CREAT, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "tail", 4, offset), 4);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, offset + 4);
	ck_assert_int_eq(pread(fd, buf, 4, offset), 4);
	ck_assert_msg(memcmp(buf, "tail", 4) == 0, "data past 4 GiB reads back");
	close(fd);
	ck_assert_int_eq(stat(harness_backing_path(&h, "large/big"), &st), 0);
	ck_assert_int_eq(st.st_size, offset + 4);
	ck_assert_int_eq(unlink(path_in(dir, "big")), 0);
}
END_TEST

START_TEST(test_file_open_while_unlinked)
{
	const char *dir = test_dir("unlinked");
	char buf[8];
	struct stat st;
	int fd = open(path_in(dir, "f"), O_RDWR | O_CREAT, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "keep", 4), 4);
	ck_assert_int_eq(unlink(path_in(dir, "f")), 0);
	ck_assert_int_eq(access(path_in(dir, "f"), F_OK), -1);
	ck_assert_int_eq(pwrite(fd, "more", 4, 4), 4);
	ck_assert_int_eq(pread(fd, buf, 8, 0), 8);
	ck_assert_msg(memcmp(buf, "keepmore", 8) == 0, "the open file stays usable");
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 8);
	close(fd);
}
END_TEST

START_TEST(test_special_files)
{
	const char *dir = test_dir("special");
	struct stat st;

	ck_assert_int_eq(mkfifo(path_in(dir, "fifo"), 0600), 0);
	ck_assert_int_eq(stat(harness_backing_path(&h, "special/fifo"), &st), 0);
	ck_assert_msg(S_ISFIFO(st.st_mode), "mkfifo made a FIFO in BACKING");
	ck_assert_int_eq(mknod(path_in(dir, "reg"), S_IFREG | 0640, 0), 0);
	ck_assert_int_eq(stat(path_in(dir, "reg"), &st), 0);
	ck_assert_int_eq(st.st_mode, S_IFREG | 0640);
}
END_TEST

START_TEST(test_created_as_the_caller)
{
	const char *dir = test_dir("owner");
	struct stat st;
	pid_t child;
	int status;

	ck_assert_int_eq(chmod(dir, 0777), 0);
	child = fork();
	if (child == 0) {
		if (setgid(4444) != 0 || setuid(5555) != 0)
			_exit(2);
		int fd = open(path_in(dir, "mine"), O_CREAT | O_WRONLY, 0600);
		_exit(fd >= 0 && mkdir(path_in(dir, "d"), 0700) == 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_int_eq(stat(harness_backing_path(&h, "owner/mine"), &st), 0);
	ck_assert_msg(st.st_uid == 5555 && st.st_gid == 4444,
		      "the backing file belongs to the caller, not the daemon");
	ck_assert_int_eq(stat(harness_backing_path(&h, "owner/d"), &st), 0);
	ck_assert_int_eq(st.st_uid, 5555);
}
END_TEST

START_TEST(test_permissions_are_enforced)
{
	const char *dir = test_dir("perms");
	pid_t child;
	int status;

	ck_assert_int_eq(harness_write_file(path_in(dir, "secret"), "s", 1), 0);
	ck_assert_int_eq(chmod(path_in(dir, "secret"), 0600), 0);
	child = fork();
	if (child == 0) {
		if (setuid(5555) != 0)
			_exit(2);
		int fd = open(path_in(dir, "secret"), O_RDONLY);
		_exit(fd < 0 && errno == EACCES ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WEXITSTATUS(status) == 0, "another user cannot read a 0600 file");
}
END_TEST

START_TEST(test_state_directory_is_invisible_and_unreachable)
{
	const char *dir = test_dir("hidden");
	const char *f = path_in(dir, "f");
	char cmd[PATH_MAX + 64];
	struct stat st;

	ck_assert_int_eq(stat(harness_backing_path(&h, ".mediafs"), &st), 0);
	ck_assert_int_eq(stat(harness_mount_path(&h, ".mediafs"), &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -qx .mediafs", h.mountpoint);
	ck_assert_msg(harness_sh("%s", cmd) == 1, "a listing of the root does not show it");
	ck_assert_int_eq(open(harness_mount_path(&h, ".mediafs/lock"), O_RDONLY), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(stat(harness_mount_path(&h, "hidden/../.mediafs"), &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(mkdir(harness_mount_path(&h, ".mediafs"), 0755), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(open(harness_mount_path(&h, ".mediafs"), O_CREAT | O_WRONLY, 0644), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(harness_write_file(f, "x", 1), 0);
	ck_assert_int_eq(rename(f, harness_mount_path(&h, ".mediafs")), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(rename(f, harness_mount_path(&h, ".mediafs/x")), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(link(f, harness_mount_path(&h, ".mediafs")), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(link(f, harness_mount_path(&h, ".mediafs/x")), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(symlink(".mediafs", harness_mount_path(&h, "via-link")), 0);
	ck_assert_int_eq(stat(harness_mount_path(&h, "via-link/lock"), &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(symlink("x", harness_mount_path(&h, ".mediafs")), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(rmdir(harness_mount_path(&h, ".mediafs")), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(stat(harness_backing_path(&h, ".mediafs/lock"), &st), 0);
}
END_TEST

static struct mount_harness bounded;

static void mount_bounded(void)
{
	static const char *const args[] = { "-o", "inode_fds=16", NULL };

	ck_assert_int_eq(harness_init(&bounded, "bounded"), 0);
	ck_assert_int_eq(harness_mount(&bounded, args), 0);
}

static void unmount_bounded(void)
{
	ck_assert_int_eq(harness_unmount(&bounded), 0);
	harness_destroy(&bounded);
}

/*
 * Descriptors the daemon holds on files inside BACKING, its state directory
 * excepted: those of the inode table and of open files.  Its other
 * descriptors (the catalog, a splice pipe per worker thread) vary with
 * how many workers the load started.
 */
static int count_backing_fds(pid_t pid, const char *backing)
{
	char dir_path[64], fd_path[PATH_MAX], target[PATH_MAX], state[PATH_MAX];
	size_t backing_len = strlen(backing);
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(dir_path, sizeof(dir_path), "/proc/%d/fd", (int)pid);
	snprintf(state, sizeof(state), "%s/.mediafs", backing);
	dir = opendir(dir_path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		snprintf(fd_path, sizeof(fd_path), "%s/%s", dir_path, d->d_name);
		ssize_t len = readlink(fd_path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (strncmp(target, backing, backing_len) == 0 && target[backing_len] == '/' &&
		    strncmp(target, state, strlen(state)) != 0)
			n++;
	}
	closedir(dir);
	return n;
}

/* The daemon closes a written file's descriptor at the release that
 * follows close() asynchronously: wait for those to come in. */
static bool daemon_fds_within_bound(void *ctx)
{
	(void)ctx;
	return count_backing_fds(bounded.pid, bounded.backing) <= 16 + 8;
}

START_TEST(test_descriptors_stay_bounded_and_files_stay_reachable)
{
	char path[PATH_MAX], buf[64];
	size_t len;
	struct stat st;

	if (geteuid() != 0)
		return;	/* reopening by handle needs CAP_DAC_READ_SEARCH */
	for (int d = 0; d < 20; d++) {
		snprintf(path, sizeof(path), "%s/d%02d", bounded.mountpoint, d);
		ck_assert_int_eq(mkdir(path, 0755), 0);
		for (int f = 0; f < 10; f++) {
			snprintf(path, sizeof(path), "%s/d%02d/f%d", bounded.mountpoint, d, f);
			ck_assert_int_eq(harness_write_file(path, path, strlen(path)), 0);
		}
	}
	ck_assert_msg(harness_wait_until(daemon_fds_within_bound, NULL, 5000),
		      "the daemon holds about inode_fds descriptors (%d)",
		      count_backing_fds(bounded.pid, bounded.backing));
	/* Every inode is still usable: the kernel still caches all of them,
	 * and the daemon reopens each one by handle. */
	for (int d = 0; d < 20; d++) {
		for (int f = 0; f < 10; f++) {
			snprintf(path, sizeof(path), "%s/d%02d/f%d", bounded.mountpoint, d, f);
			ck_assert_int_eq(stat(path, &st), 0);
			ck_assert_int_eq(chmod(path, 0640), 0);
			ck_assert_int_eq(harness_read_file(path, buf, sizeof(buf), &len), 0);
			ck_assert_msg(len == strlen(path) && memcmp(buf, path, len) == 0,
				      "'%s' reads back", path);
		}
	}
	ck_assert_msg(harness_wait_until(daemon_fds_within_bound, NULL, 5000),
		      "the daemon still holds about inode_fds descriptors (%d)",
		      count_backing_fds(bounded.pid, bounded.backing));
}
END_TEST

/*
 * A file deleted while the kernel still holds its node, after the daemon
 * closed its descriptor: the backing filesystem gives its inode number to
 * the next file, which must not inherit the old node (the kernel would
 * serve the old symbolic link's cached target, the daemon would answer
 * ESTALE).  stress-ng's symlink stressor hit this about once in ten runs.
 */
START_TEST(test_reused_inode_number_is_a_new_file)
{
	enum { TRIES = 1000 };
	char path[PATH_MAX], target[64], got[64];
	struct stat old_st, st;
	ssize_t len;
	int held, i;

	if (geteuid() != 0)
		return;	/* reopening by handle needs CAP_DAC_READ_SEARCH */
	ck_assert_int_eq(mkdir(harness_mount_path(&bounded, "reuse"), 0755), 0);
	ck_assert_int_eq(symlink("target-old", harness_mount_path(&bounded, "reuse/old")), 0);
	len = readlink(harness_mount_path(&bounded, "reuse/old"), got, sizeof(got));
	ck_assert_int_eq(len, (ssize_t)strlen("target-old"));
	ck_assert_int_eq(lstat(harness_backing_path(&bounded, "reuse/old"), &old_st), 0);
	/* The kernel keeps the node while this descriptor is open. */
	held = open(harness_mount_path(&bounded, "reuse/old"), O_PATH | O_NOFOLLOW);
	ck_assert_int_ge(held, 0);
	/* More inodes than inode_fds=16: the daemon closes the old one's. */
	for (i = 0; i < 48; i++) {
		snprintf(path, sizeof(path), "%s/reuse/f%d", bounded.mountpoint, i);
		ck_assert_int_eq(harness_write_file(path, "x", 1), 0);
		ck_assert_int_eq(lstat(path, &st), 0);
	}
	ck_assert_int_eq(unlink(harness_mount_path(&bounded, "reuse/old")), 0);
	for (i = 0; i < TRIES; i++) {
		snprintf(path, sizeof(path), "reuse/new%d", i);
		snprintf(target, sizeof(target), "target-new%d", i);
		ck_assert_int_eq(symlink(target, harness_mount_path(&bounded, path)), 0);
		ck_assert_int_eq(lstat(harness_backing_path(&bounded, path), &st), 0);
		if (st.st_ino == old_st.st_ino && st.st_dev == old_st.st_dev)
			break;
	}
	if (i == TRIES) {
		fprintf(stderr, "skip: BACKING's filesystem gave no inode number "
			"again in %d files\n", TRIES);
		close(held);
		return;
	}
	len = readlink(harness_mount_path(&bounded, path), got, sizeof(got) - 1);
	ck_assert_msg(len >= 0, "readlink of the file with the reused number: %s",
		      strerror(errno));
	got[len] = '\0';
	ck_assert_msg(strcmp(got, target) == 0,
		      "the file with the reused number reads its own target "
		      "'%s', not '%s'", target, got);
	ck_assert_int_eq(lstat(harness_mount_path(&bounded, path), &st), 0);
	ck_assert_msg(S_ISLNK(st.st_mode), "the new file is a symbolic link");
	ck_assert_int_eq(close(held), 0);
}
END_TEST

static Suite *passthrough_suite(void)
{
	Suite *s = suite_create("passthrough");
	TCase *tc = tcase_create("operations");

	tcase_add_unchecked_fixture(tc, mount_once, unmount_once);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_regular_file_round_trip);
	tcase_add_test(tc, test_directories_and_listing);
	tcase_add_test(tc, test_symlink_is_not_followed_by_the_daemon);
	tcase_add_test(tc, test_hard_link_counts_stay_fresh);
	tcase_add_test(tc, test_rename_noreplace_and_exchange);
	tcase_add_test(tc, test_attributes_change_as_asked);
	tcase_add_test(tc, test_fallocate_sync_and_seek_data_hole);
	tcase_add_test(tc, test_statfs_reports_backing_filesystem);
	tcase_add_test(tc, test_user_xattrs);
	tcase_add_test(tc, test_copy_file_range);
	tcase_add_test(tc, test_shared_mmap_writes_reach_backing);
	tcase_add_test(tc, test_file_locks_exclude_another_process);
	tcase_add_test(tc, test_o_append_appends);
	tcase_add_test(tc, test_large_file_beyond_4gib);
	tcase_add_test(tc, test_file_open_while_unlinked);
	tcase_add_test(tc, test_special_files);
	tcase_add_test(tc, test_created_as_the_caller);
	tcase_add_test(tc, test_permissions_are_enforced);
	tcase_add_test(tc, test_state_directory_is_invisible_and_unreachable);
	suite_add_tcase(s, tc);

	TCase *fds = tcase_create("descriptor bound");
	tcase_add_unchecked_fixture(fds, mount_bounded, unmount_bounded);
	tcase_set_timeout(fds, 60);
	tcase_add_test(fds, test_descriptors_stay_bounded_and_files_stay_reachable);
	tcase_add_test(fds, test_reused_inode_number_is_a_new_file);
	suite_add_tcase(s, fds);
	return s;
}

int main(void)
{
	int failed;

	harness_require_fuse();
	failed = app_run_suite(passthrough_suite());
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
