// SPDX-License-Identifier: GPL-2.0
/*
 * -o retention in a temporary directory: which files go first (earlier runs' by age, then
 * this run's finished streams in the order they ended), that open streams are never
 * deleted, and that every deletion is counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sinks/retain.h"

struct fixture {
	char path[64];
	int dirfd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->path, "/tmp/xs-retain.XXXXXX");
	if (!mkdtemp(f->path))
		return -1;
	f->dirfd = open(f->path, O_RDONLY | O_DIRECTORY);
	*state = f;
	return f->dirfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	close(f->dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->path);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

/* A file of size bytes whose modification time is age seconds after the epoch. */
static void make_file(struct fixture *f, const char *name, size_t size, time_t mtime)
{
	struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
	char *buf = calloc(1, size + 1);
	int fd = openat(f->dirfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	assert_int_equal(futimens(fd, ts), 0);
	close(fd);
	free(buf);
}

static bool exists(struct fixture *f, const char *name)
{
	struct stat sb;

	return fstatat(f->dirfd, name, &sb, 0) == 0;
}

static void test_earlier_runs_go_first_oldest_first(void **state)
{
	struct fixture *f = *state;
	struct retain_stats st;
	struct retain *r;

	make_file(f, "new", 100, 3000);
	make_file(f, "old", 100, 1000);
	make_file(f, "mid", 100, 2000);
	r = retain_new(f->dirfd, 250);
	assert_non_null(r);
	retain_get_stats(r, &st);
	assert_int_equal(st.bytes, 300);
	assert_int_equal(retain_enforce(r), 1);
	assert_false(exists(f, "old"));
	assert_true(exists(f, "mid"));
	assert_true(exists(f, "new"));
	retain_get_stats(r, &st);
	assert_int_equal(st.bytes, 200);
	assert_int_equal(st.files_deleted, 1);
	assert_int_equal(st.bytes_deleted, 100);
	/* under the cap: nothing more goes */
	assert_int_equal(retain_enforce(r), 0);
	assert_true(exists(f, "mid"));
	retain_free(r);
}

static void test_finished_streams_in_order_open_ones_kept(void **state)
{
	struct fixture *f = *state;
	const char *a[] = { "a.fwd", "a.rev" }, *b[] = { "b.fwd" }, *c[] = { "c.fwd", "c.rev" };
	struct retain_stats st;
	struct retain *r = retain_new(f->dirfd, 1000);

	assert_non_null(r);
	/* streams a, b, c written; an open stream "o" too */
	make_file(f, "a.fwd", 300, 5000);
	make_file(f, "a.rev", 100, 5000);
	make_file(f, "b.fwd", 400, 5000);
	make_file(f, "c.fwd", 200, 5000);
	make_file(f, "c.rev", 200, 5000);
	make_file(f, "o.fwd", 500, 5000);
	retain_written(r, 400 + 400 + 400 + 500);
	/* they end in the order b, a, c; o stays open */
	assert_int_equal(retain_finished(r, b, 1, 400), 0);
	assert_int_equal(retain_finished(r, a, 2, 400), 0);
	assert_int_equal(retain_finished(r, c, 2, 400), 0);
	/* 1700 > 1000: b (ended first) then a go; c stays (900 <= 1000) */
	assert_int_equal(retain_enforce(r), 2);
	assert_false(exists(f, "b.fwd"));
	assert_false(exists(f, "a.fwd"));
	assert_false(exists(f, "a.rev"));
	assert_true(exists(f, "c.fwd"));
	assert_true(exists(f, "c.rev"));
	assert_true(exists(f, "o.fwd"));
	retain_get_stats(r, &st);
	assert_int_equal(st.streams_deleted, 2);
	assert_int_equal(st.files_deleted, 3);
	assert_int_equal(st.bytes_deleted, 800);
	assert_int_equal(st.bytes, 900);
	assert_int_equal(st.over_cap, 0);

	/* the open stream grows past the cap alone: c goes, o is kept and it is counted */
	retain_written(r, 2000);
	assert_int_equal(retain_enforce(r), 1);
	assert_false(exists(f, "c.fwd"));
	assert_true(exists(f, "o.fwd"));
	retain_get_stats(r, &st);
	assert_int_equal(st.bytes, 2500);
	assert_int_equal(st.over_cap, 1);
	retain_free(r);
}

/* A file someone removed meanwhile is gone already: no error, still counted as deleted. */
static void test_file_removed_by_someone_else(void **state)
{
	struct fixture *f = *state;
	const char *x[] = { "x.fwd" };
	struct retain *r = retain_new(f->dirfd, 10);

	assert_non_null(r);
	make_file(f, "x.fwd", 50, 5000);
	retain_written(r, 50);
	assert_int_equal(retain_finished(r, x, 1, 50), 0);
	assert_int_equal(unlinkat(f->dirfd, "x.fwd", 0), 0);
	assert_int_equal(retain_enforce(r), 1);
	retain_free(r);
}

/* Directories and symbolic links at start are not stream files: never counted or deleted. */
static void test_only_regular_files_counted(void **state)
{
	struct fixture *f = *state;
	struct retain_stats st;
	struct retain *r;

	assert_int_equal(mkdirat(f->dirfd, "sub", 0700), 0);
	assert_int_equal(symlinkat("/etc/passwd", f->dirfd, "link"), 0);
	make_file(f, "real", 10, 1000);
	r = retain_new(f->dirfd, 0);
	assert_non_null(r);
	retain_get_stats(r, &st);
	assert_int_equal(st.bytes, 10);
	assert_int_equal(retain_enforce(r), 1);
	assert_true(exists(f, "sub"));
	assert_int_equal(faccessat(f->dirfd, "link", F_OK, AT_SYMLINK_NOFOLLOW), 0);
	retain_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_earlier_runs_go_first_oldest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finished_streams_in_order_open_ones_kept, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_file_removed_by_someone_else, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_regular_files_counted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
