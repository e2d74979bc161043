/*
 * make_tree: create FILES empty files in DIRS directories under ROOT,
 * named dDDD/fNNNNNNN.jpg, quickly (one openat per file), for the benchmarks
 * that need a large tree.
 *
 * usage: make_tree ROOT FILES DIRS
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char name[64];
	long files, dirs;
	int root;

	if (argc != 4) {
		fprintf(stderr, "usage: make_tree ROOT FILES DIRS\n");
		return 2;
	}
	files = atol(argv[2]);
	dirs = atol(argv[3]);
	if (mkdir(argv[1], 0755) != 0 && errno != EEXIST) {
		perror(argv[1]);
		return 1;
	}
	root = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (root < 0 || files <= 0 || dirs <= 0) {
		fprintf(stderr, "make_tree: bad arguments\n");
		return 2;
	}
	for (long d = 0; d < dirs; d++) {
		snprintf(name, sizeof(name), "d%03ld", d);
		if (mkdirat(root, name, 0755) != 0 && errno != EEXIST) {
			perror(name);
			return 1;
		}
	}
	for (long i = 0; i < files; i++) {
		snprintf(name, sizeof(name), "d%03ld/f%07ld.jpg", i % dirs, i);
		int fd = openat(root, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0) {
			perror(name);
			return 1;
		}
		close(fd);
	}
	return 0;
}
