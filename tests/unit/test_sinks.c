// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the text, files and JSON sinks, driven through the dispatcher
 * (sink.c) as the flow table drives them.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <pcap/pcap.h>

#include "log.h"
#include "sinks/retain.h"
#include "sinks/sink.h"
#include "xdp_sniff/event.h"

#define TS0 1700000000123456789ULL

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)ftw;
	(void)sb;
	(void)type;
	return remove(path);
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_sinks.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int teardown_dir(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void mk_stream(struct stream *st, const char *src, __u16 sport, const char *dst, __u16 dport)
{
	int af = strchr(src, ':') ? AF_INET6 : AF_INET;

	memset(st, 0, sizeof(*st));
	st->id = 1;
	st->family = af == AF_INET6 ? 6 : 4;
	assert_int_equal(inet_pton(af, src, st->saddr), 1);
	assert_int_equal(inet_pton(af, dst, st->daddr), 1);
	st->sport = sport;
	st->dport = dport;
	st->first_ts = TS0;
	st->last_ts = TS0 + 12345678;
	st->state = STREAM_CLOSED;
	st->half[STREAM_IN].first_ts = TS0;
	st->half[STREAM_OUT].first_ts = TS0 + 1000000000ULL;
}

static int data(struct sink_set *set, struct stream *st, int dir, __u64 off, const char *s)
{
	return sinks_stream_data(set, st, dir, off, (const __u8 *)s, strlen(s));
}

static char *path_in(const char *name)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
	return buf;
}

/* The contents of tmpdir/name, NUL-terminated, its length in *len; NULL if it cannot be read. */
static char *slurp(const char *name, size_t *len)
{
	static char buf[65536];
	ssize_t n;
	int fd;

	fd = open(path_in(name), O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	if (len)
		*len = (size_t)n;
	return buf;
}

static int count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int count_fds(void)
{
	return count_entries("/proc/self/fd");
}

static struct sink_set files_set(int max_open)
{
	struct sink_set set = {0};
	struct sink *s = sink_files_new(tmpdir, max_open);

	assert_non_null(s);
	assert_int_equal(sinks_add(&set, s), 0);
	return set;
}

static void test_files_ipv4_names(void **state)
{
	struct sink_set set = files_set(0);
	struct stream st, st2;
	struct stat sb;
	char *c;
	(void)state;

	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 8080);
	assert_int_equal(sinks_stream_open(&set, &st), 1);
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "GET / HTTP/1.0\r\n"), 1);
	assert_int_equal(data(&set, &st, STREAM_OUT, 0, "HTTP/1.0 200 OK\r\n"), 1);
	assert_int_equal(sinks_stream_close(&set, &st), 1);

	/* a direction that carried nothing gets no file, as with tcpflow */
	mk_stream(&st2, "10.0.0.1", 1, "10.200.30.4", 65535);
	assert_int_equal(data(&set, &st2, STREAM_OUT, 0, "x"), 1);
	assert_int_equal(sinks_stream_close(&set, &st2), 1);
	sinks_destroy(&set);

	c = slurp("198.018.000.001.40380-198.018.000.002.08080", NULL);
	assert_non_null(c);
	assert_string_equal(c, "GET / HTTP/1.0\r\n");
	c = slurp("198.018.000.002.08080-198.018.000.001.40380", NULL);
	assert_non_null(c);
	assert_string_equal(c, "HTTP/1.0 200 OK\r\n");
	c = slurp("010.200.030.004.65535-010.000.000.001.00001", NULL);
	assert_non_null(c);
	assert_string_equal(c, "x");
	assert_int_equal(count_entries(tmpdir), 3);

	/* mode 0600 (SINK_DEFAULT_FILE_MODE), times from the first packet of the direction */
	assert_int_equal(stat(path_in("198.018.000.001.40380-198.018.000.002.08080"), &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_mtim.tv_sec, TS0 / 1000000000ULL);
	assert_int_equal(sb.st_mtim.tv_nsec, TS0 % 1000000000ULL);
	assert_int_equal(stat(path_in("198.018.000.002.08080-198.018.000.001.40380"), &sb), 0);
	assert_int_equal(sb.st_mtim.tv_sec, TS0 / 1000000000ULL + 1);
}

/* --output-mode: files get the mode less the umask, a directory the sink creates 0700 plus x
 * where the mode gives r; the default comes back with sinks_set_file_mode(default). */
static void test_files_output_mode(void **state)
{
	static const struct {
		mode_t file, dir;
	} cases[] = {{0600, 0700}, {0644, 0755}, {0640, 0750}, {0660, 0770}, {0604, 0705}};
	struct sink_set set = {0};
	struct stream st;
	struct stat sb;
	char sub[128];
	mode_t old = umask(0);
	size_t i;
	(void)state;

	assert_int_equal(sinks_file_mode(), SINK_DEFAULT_FILE_MODE);
	assert_int_equal(sinks_dir_mode(), 0700);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sinks_set_file_mode(cases[i].file);
		assert_int_equal(sinks_dir_mode(), cases[i].dir);
		snprintf(sub, sizeof(sub), "%s/d%zu", tmpdir, i);
		memset(&set, 0, sizeof(set));
		assert_int_equal(sinks_add(&set, sink_files_new(sub, 0)), 0);
		mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 8080);
		assert_int_equal(data(&set, &st, STREAM_IN, 0, "x"), 1);
		sinks_stream_close(&set, &st);
		sinks_destroy(&set);
		assert_int_equal(stat(sub, &sb), 0);
		assert_int_equal(sb.st_mode & 07777, cases[i].dir);
		snprintf(sub + strlen(sub), sizeof(sub) - strlen(sub),
			 "/198.018.000.001.40380-198.018.000.002.08080");
		assert_int_equal(stat(sub, &sb), 0);
		assert_int_equal(sb.st_mode & 07777, cases[i].file);
	}
	/* less the umask, as open(2) */
	umask(022);
	sinks_set_file_mode(0666);
	snprintf(sub, sizeof(sub), "%s/umask", tmpdir);
	memset(&set, 0, sizeof(set));
	assert_int_equal(sinks_add(&set, sink_files_new(sub, 0)), 0);
	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 8080);
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "x"), 1);
	sinks_destroy(&set);
	assert_int_equal(stat(path_in("umask/198.018.000.001.40380-198.018.000.002.08080"), &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0644);
	umask(old);
	sinks_set_file_mode(SINK_DEFAULT_FILE_MODE);
}

static void test_files_ipv6_names(void **state)
{
	struct sink_set set = files_set(0);
	struct stream st;
	(void)state;

	/* the names tcpflow 1.6 gives chrissanders__http_ip4and6.pcapng's IPv6 flow */
	mk_stream(&st, "2001:db8:1:2::1002", 35023, "2001:db8:1:2::1000", 80);
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "req"), 1);
	assert_int_equal(data(&set, &st, STREAM_OUT, 0, "resp"), 1);
	assert_int_equal(sinks_stream_close(&set, &st), 1);
	sinks_destroy(&set);

	assert_string_equal(slurp("2001:db8:1:2::1002.35023-2001:db8:1:2::1000.00080", NULL),
			    "req");
	assert_string_equal(slurp("2001:db8:1:2::1000.00080-2001:db8:1:2::1002.35023", NULL),
			    "resp");
	assert_int_equal(count_entries(tmpdir), 2);
}

/* tcpflow takes the first free name of NAME, NAMEc1, ...: checked against tcpflow 1.6 on three
 * connections of one 4-tuple where the first got no response. */
static void test_files_reuse(void **state)
{
	struct sink_set set = files_set(0);
	struct stream st;
	(void)state;

	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 8080);
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "GET /one\r\n"), 1);
	assert_int_equal(sinks_stream_close(&set, &st), 1);

	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 8080);
	st.id = 2;
	st.reuse = 1;
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "GET /two\r\n"), 1);
	assert_int_equal(data(&set, &st, STREAM_OUT, 0, "TWO\n"), 1);
	assert_int_equal(sinks_stream_close(&set, &st), 1);

	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 8080);
	st.id = 3;
	st.reuse = 2;
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "GET /three\r\n"), 1);
	assert_int_equal(sinks_stream_close(&set, &st), 1);
	sinks_destroy(&set);

	assert_string_equal(slurp("198.018.000.001.40380-198.018.000.002.08080", NULL),
			    "GET /one\r\n");
	assert_string_equal(slurp("198.018.000.001.40380-198.018.000.002.08080c1", NULL),
			    "GET /two\r\n");
	assert_string_equal(slurp("198.018.000.001.40380-198.018.000.002.08080c2", NULL),
			    "GET /three\r\n");
	assert_string_equal(slurp("198.018.000.002.08080-198.018.000.001.40380", NULL), "TWO\n");
	assert_int_equal(count_entries(tmpdir), 4);
}

static void test_files_gap(void **state)
{
	struct sink_set set = files_set(0);
	struct stream st;
	size_t len = 0;
	char *c;
	(void)state;

	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 80);
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "ABC"), 1);
	assert_int_equal(sinks_stream_gap(&set, &st, STREAM_IN, 3, 2), 1);
	assert_int_equal(data(&set, &st, STREAM_IN, 5, "FG"), 1);
	/* a direction that starts with a gap */
	assert_int_equal(sinks_stream_gap(&set, &st, STREAM_OUT, 0, 4), 1);
	assert_int_equal(data(&set, &st, STREAM_OUT, 4, "Z"), 1);
	assert_int_equal(sinks_stream_close(&set, &st), 1);
	sinks_destroy(&set);

	c = slurp("198.018.000.001.40380-198.018.000.002.00080", &len);
	assert_non_null(c);
	assert_int_equal(len, 7);
	assert_memory_equal(c, "ABC\0\0FG", 7);
	c = slurp("198.018.000.002.00080-198.018.000.001.40380", &len);
	assert_non_null(c);
	assert_int_equal(len, 5);
	assert_memory_equal(c, "\0\0\0\0Z", 5);
}

/* Five streams, both directions, written in turns through two descriptors. */
static void test_files_lru(void **state)
{
	struct sink_set set = files_set(2);
	struct stream st[5];
	char name[128], want[5][2][64];
	int base = count_fds();
	int i, round, d;
	(void)state;

	for (i = 0; i < 5; i++) {
		mk_stream(&st[i], "198.18.0.1", 40000 + i, "198.18.0.2", 80);
		st[i].id = i + 1;
		want[i][0][0] = want[i][1][0] = '\0';
	}
	for (round = 0; round < 4; round++) {
		for (i = 0; i < 5; i++) {
			for (d = 0; d < 2; d++) {
				char chunk[32];
				__u64 off = strlen(want[i][d]);

				snprintf(chunk, sizeof(chunk), "%c%d%d;", d ? 'o' : 'i', i, round);
				assert_int_equal(data(&set, &st[i], d, off, chunk), 1);
				strcat(want[i][d], chunk);
				/* at most max_open files, plus the directory */
				assert_true(count_fds() <= base + 2);
			}
		}
	}
	for (i = 0; i < 5; i++)
		assert_int_equal(sinks_stream_close(&set, &st[i]), 1);
	assert_int_equal(count_fds(), base);
	sinks_destroy(&set);
	assert_int_equal(count_fds(), base - 1);

	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "198.018.000.001.%05d-198.018.000.002.00080",
			 40000 + i);
		assert_string_equal(slurp(name, NULL), want[i][0]);
		snprintf(name, sizeof(name), "198.018.000.002.00080-198.018.000.001.%05d",
			 40000 + i);
		assert_string_equal(slurp(name, NULL), want[i][1]);
	}
}

static void test_files_symlinked_dir(void **state)
{
	char real[128], link[128], slash[130];
	struct sink *s;
	(void)state;

	snprintf(real, sizeof(real), "%s/real", tmpdir);
	snprintf(link, sizeof(link), "%s/link", tmpdir);
	snprintf(slash, sizeof(slash), "%s/", link);
	assert_int_equal(mkdir(real, 0755), 0);
	assert_int_equal(symlink(real, link), 0);

	errno = 0;
	s = sink_files_new(link, 0);
	assert_null(s);
	assert_int_equal(errno, ELOOP);
	/* a trailing slash must not make it follow the link */
	errno = 0;
	s = sink_files_new(slash, 0);
	assert_null(s);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(count_entries(real), 0);

	/* a directory that does not exist is created */
	snprintf(real, sizeof(real), "%s/new/", tmpdir);
	s = sink_files_new(real, 0);
	assert_non_null(s);
	sink_destroy(s);
	assert_int_equal(count_entries(real), 0);
}

/* What was there before is neither overwritten nor written through: the flow takes the next
 * free name, as tcpflow does. */
static void test_files_existing(void **state)
{
	const char *base = "198.018.000.001.40380-198.018.000.002.08080";
	char target[128], lpath[512], lname[128];
	struct sink_set set;
	struct stream st;
	int fd;
	(void)state;

	fd = open(path_in(base), O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "OLD", 3), 3);
	close(fd);
	snprintf(target, sizeof(target), "%s/target", tmpdir);
	fd = open(target, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(lname, sizeof(lname), "%sc1", base);
	snprintf(lpath, sizeof(lpath), "%s", path_in(lname));
	assert_int_equal(symlink(target, lpath), 0);

	set = files_set(0);
	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 8080);
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "NEW"), 1);
	assert_int_equal(sinks_stream_close(&set, &st), 1);
	sinks_destroy(&set);

	assert_string_equal(slurp(base, NULL), "OLD");
	assert_string_equal(slurp("target", NULL), "");
	snprintf(lname, sizeof(lname), "%sc2", base);
	assert_string_equal(slurp(lname, NULL), "NEW");
}

/* A file that the LRU closed and that was removed meanwhile: its direction is given up, the
 * sink goes on. */
static void test_files_removed_while_closed(void **state)
{
	struct sink_set set = files_set(1);
	struct stream a, b;
	(void)state;

	mk_stream(&a, "198.18.0.1", 1000, "198.18.0.2", 80);
	mk_stream(&b, "198.18.0.1", 1001, "198.18.0.2", 80);
	assert_int_equal(data(&set, &a, STREAM_IN, 0, "a1"), 1);
	assert_int_equal(data(&set, &b, STREAM_IN, 0, "b1"), 1);
	assert_int_equal(unlink(path_in("198.018.000.001.01000-198.018.000.002.00080")), 0);
	assert_int_equal(data(&set, &a, STREAM_IN, 2, "a2"), 1);
	assert_int_equal(data(&set, &b, STREAM_IN, 2, "b2"), 1);
	assert_int_equal(sinks_stream_close(&set, &a), 1);
	assert_int_equal(sinks_stream_close(&set, &b), 1);
	sinks_destroy(&set);

	assert_null(slurp("198.018.000.001.01000-198.018.000.002.00080", NULL));
	assert_string_equal(slurp("198.018.000.001.01001-198.018.000.002.00080", NULL), "b1b2");
}

/* A write error is returned, and the dispatcher switches the sink off: from the write of a
 * buffer (at a flush) and from a segment too big to buffer (at once). */
static void test_files_write_error(void **state)
{
	struct sink_set set = files_set(0);
	struct rlimit old, small = {4096, 4096};
	struct stream st;
	static char big[40000];
	(void)state;

	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 80);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "fits"), 1);
	assert_int_equal(data(&set, &st, STREAM_IN, 8192, "too far"), 1);
	assert_int_equal(sinks_flush(&set), 0);
	assert_int_equal(set.v[0]->failed, -EFBIG);
	/* close still frees what the sink holds for the stream */
	assert_int_equal(sinks_stream_close(&set, &st), 0);
	sinks_destroy(&set);
	assert_string_equal(slurp("198.018.000.001.40380-198.018.000.002.00080", NULL), "fits");

	set = files_set(0);
	mk_stream(&st, "198.18.0.1", 40381, "198.18.0.2", 80);
	assert_int_equal(sinks_stream_data(&set, &st, STREAM_IN, 0, (const __u8 *)big,
					   sizeof(big)),
			 0);
	assert_int_equal(set.v[0]->failed, -EFBIG);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(sinks_stream_close(&set, &st), 0);
	sinks_destroy(&set);
}

static off_t file_size(const char *name)
{
	struct stat sb;

	return stat(path_in(name), &sb) ? -1 : sb.st_size;
}

/* Contiguous data is gathered before it is written; a flush, a gap, a segment too big to
 * gather and the end of the stream write it out, and the file's time is set after the last
 * write. */
static void test_files_buffered(void **state)
{
	const char *name = "198.018.000.001.40380-198.018.000.002.00080";
	struct sink_set set = files_set(0);
	static __u8 want[60000], big[40000];
	struct stream st;
	struct stat sb;
	size_t len = 0, off = 0, i;
	char *c;
	(void)state;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (__u8)(i * 7 + 3);
	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 80);
	for (i = 0; i < 10; i++, off += 1000) {
		memset(want + off, 'a' + (int)i, 1000);
		assert_int_equal(sinks_stream_data(&set, &st, STREAM_IN, off, want + off, 1000), 1);
	}
	/* 10,000 bytes, all still gathered */
	assert_int_equal(file_size(name), 0);
	assert_int_equal(sinks_flush(&set), 1);
	assert_int_equal(file_size(name), 10000);
	assert_int_equal(sinks_stream_data(&set, &st, STREAM_IN, off, (const __u8 *)"tail", 4), 1);
	off += 4;
	memcpy(want + 10000, "tail", 4);
	/* a gap of 6 bytes: what was gathered goes out first */
	assert_int_equal(sinks_stream_gap(&set, &st, STREAM_IN, off, 6), 1);
	off += 6;
	assert_int_equal(sinks_stream_data(&set, &st, STREAM_IN, off, (const __u8 *)"Z", 1), 1);
	assert_int_equal(file_size(name), 10004);
	memcpy(want + off, "Z", 1);
	off += 1;
	/* too big to gather: written at once, after what was gathered before it */
	assert_int_equal(sinks_stream_data(&set, &st, STREAM_IN, off, big, sizeof(big)), 1);
	memcpy(want + off, big, sizeof(big));
	off += sizeof(big);
	assert_int_equal(file_size(name), (off_t)off);
	assert_int_equal(sinks_stream_data(&set, &st, STREAM_IN, off, (const __u8 *)"end", 3), 1);
	memcpy(want + off, "end", 3);
	off += 3;
	assert_int_equal(sinks_stream_close(&set, &st), 1);
	sinks_destroy(&set);

	c = slurp(name, &len);
	assert_non_null(c);
	assert_int_equal(len, off);
	assert_memory_equal(c, want, off);
	assert_int_equal(stat(path_in(name), &sb), 0);
	assert_int_equal(sb.st_mtim.tv_sec, TS0 / 1000000000ULL);
	assert_int_equal(sb.st_mtim.tv_nsec, TS0 % 1000000000ULL);
}

/* More directions than write buffers and than descriptors, written in turns in pieces of
 * every size, some after gaps: every file ends as it would unbuffered. */
static void test_files_buffers_shared(void **state)
{
	enum { NS = 20, ROUNDS = 12 };
	struct sink_set set = files_set(3);
	static __u8 want[NS][2][ROUNDS * 3000];
	static size_t len[NS][2];
	struct stream st[NS];
	unsigned int rnd = 12345;
	char name[128];
	int i, d, r, base = count_fds();
	(void)state;

	for (i = 0; i < NS; i++) {
		mk_stream(&st[i], "198.18.0.1", 41000 + i, "198.18.0.2", 80);
		st[i].id = i + 1;
	}
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < NS; i++) {
			for (d = 0; d < 2; d++) {
				size_t n, gap, k;

				rnd = rnd * 1103515245u + 12345u;
				n = 1 + (rnd >> 8) % 2999;
				gap = (rnd >> 4) % 7 == 0 ? 1 + (rnd >> 20) % 100 : 0;
				if (len[i][d] + gap + n > sizeof(want[i][d]))
					continue;
				len[i][d] += gap; /* left as zeros: the hole */
				for (k = 0; k < n; k++)
					want[i][d][len[i][d] + k] = (__u8)(i * 31 + d * 7 + r + k);
				assert_int_equal(sinks_stream_data(&set, &st[i], d, len[i][d],
								   want[i][d] + len[i][d], n),
						 1);
				len[i][d] += n;
				assert_true(count_fds() <= base + 3);
			}
		}
	}
	for (i = 0; i < NS; i++)
		assert_int_equal(sinks_stream_close(&set, &st[i]), 1);
	sinks_destroy(&set);

	for (i = 0; i < NS; i++) {
		for (d = 0; d < 2; d++) {
			size_t got = 0;
			char *c;

			if (d)
				snprintf(name, sizeof(name),
					 "198.018.000.002.00080-198.018.000.001.%05d", 41000 + i);
			else
				snprintf(name, sizeof(name),
					 "198.018.000.001.%05d-198.018.000.002.00080", 41000 + i);
			c = slurp(name, &got);
			assert_non_null(c);
			assert_int_equal(got, len[i][d]);
			assert_memory_equal(c, want[i][d], got);
		}
	}
}

/* A 4-tuple used more often than names are tried per file (10,000): each file still gets the
 * next name, found from where the last one of its flow direction was, not from NAME. */
static void test_files_many_reuses(void **state)
{
	enum { N = 10050 };
	struct sink_set set = files_set(0);
	struct stream st;
	char name[128], want[16];
	int i;
	(void)state;

	for (i = 0; i < N; i++) {
		mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 80);
		st.id = i + 1;
		st.reuse = i;
		snprintf(want, sizeof(want), "%d", i);
		assert_int_equal(data(&set, &st, STREAM_IN, 0, want), 1);
		assert_int_equal(sinks_stream_close(&set, &st), 1);
	}
	sinks_destroy(&set);
	assert_int_equal(count_entries(tmpdir), N);
	for (i = 0; i < N; i += N - 1) {
		snprintf(name, sizeof(name), "198.018.000.001.40380-198.018.000.002.00080c%d", i);
		if (!i)
			name[strlen(name) - 2] = '\0';
		snprintf(want, sizeof(want), "%d", i);
		assert_string_equal(slurp(name, NULL), want);
	}
}

/* A stream the flow table never closed: what was gathered for it is written at the end. */
static void test_files_destroy_writes(void **state)
{
	struct sink_set set = files_set(0);
	struct stream st;
	(void)state;

	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 80);
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "kept"), 1);
	sinks_destroy(&set);
	assert_string_equal(slurp("198.018.000.001.40380-198.018.000.002.00080", NULL), "kept");
}

/* Everything written to f since it was opened, as a string. */
static char *read_all(FILE *f)
{
	static char buf[1 << 16];
	size_t n;

	fflush(f);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	return buf;
}

static void mk_segment(struct xs_segment *seg, const char *src, __u16 sport, const char *dst,
		       __u16 dport)
{
	int af = strchr(src, ':') ? AF_INET6 : AF_INET;

	memset(seg, 0, sizeof(*seg));
	seg->pkt.family = af == AF_INET6 ? 6 : 4;
	assert_int_equal(inet_pton(af, src, seg->pkt.saddr), 1);
	assert_int_equal(inet_pton(af, dst, seg->pkt.daddr), 1);
	seg->pkt.sport = sport;
	seg->pkt.dport = dport;
}

static void test_text_packets(void **state)
{
	FILE *f = tmpfile();
	struct sink_set set = {0};
	struct xs_segment seg;
	struct stream st;
	(void)state;

	assert_non_null(f);
	assert_int_equal(sinks_add(&set, sink_text_new_file(f, 1, 0)), 0);
	/* packets only: the flow table need not reassemble for it */
	assert_int_equal(sinks_have_stream_sinks(&set), 0);

	mk_segment(&seg, "198.18.0.2", 80, "198.18.0.1", 40380);
	seg.ts_ns = 45296789012345ULL; /* 12:34:56.789012345 on 1 January 1970 + 0 days */
	seg.dir = XS_DIR_INGRESS;
	seg.pkt.tcp_flags = XS_TCP_SYN | XS_TCP_ACK;
	seg.pkt.seq = 123;
	seg.pkt.ack = 456;
	seg.pkt.window = 64240;
	assert_int_equal(sinks_packet(&set, &seg), 1);

	mk_segment(&seg, "2001:db8::1", 40380, "2001:db8::2", 443);
	seg.ts_ns = TS0;
	seg.dir = XS_DIR_EGRESS;
	seg.pkt.tcp_flags = XS_TCP_FIN | XS_TCP_PSH | XS_TCP_ACK;
	seg.pkt.seq = 4294967290U;
	seg.pkt.ack = 7;
	seg.pkt.window = 501;
	seg.payload_len = 10;
	seg.payload_wire_len = 10;
	assert_int_equal(sinks_packet(&set, &seg), 1);

	seg.pkt.tcp_flags = 0;
	seg.payload_wire_len = 0;
	assert_int_equal(sinks_packet(&set, &seg), 1);

	/* no stream lines from a packets-only sink */
	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 80);
	assert_int_equal(sinks_stream_close(&set, &st), 0);

	assert_string_equal(read_all(f),
			    "12:34:56.789012 in  IP 198.18.0.2.80 > 198.18.0.1.40380: Flags [S.], "
			    "seq 123, ack 456, win 64240, length 0\n"
			    "22:13:20.123456 out IP6 2001:db8::1.40380 > 2001:db8::2.443: Flags "
			    "[FP.], seq 4294967290:4, ack 7, win 501, length 10\n"
			    "22:13:20.123456 out IP6 2001:db8::1.40380 > 2001:db8::2.443: Flags "
			    "[none], seq 4294967290, win 501, length 0\n");
	sinks_destroy(&set);
	fclose(f);
}

static void test_text_streams(void **state)
{
	FILE *f = tmpfile();
	struct sink_set set = {0};
	struct xs_segment seg;
	struct stream st;
	(void)state;

	assert_non_null(f);
	assert_int_equal(sinks_add(&set, sink_text_new_file(f, 0, 1)), 0);
	assert_int_equal(sinks_have_stream_sinks(&set), 1);

	mk_segment(&seg, "198.18.0.2", 80, "198.18.0.1", 40380);
	assert_int_equal(sinks_packet(&set, &seg), 1);

	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 80);
	st.id = 3;
	st.half[STREAM_IN].data_bytes = 78;
	st.half[STREAM_IN].packets = 3;
	st.half[STREAM_OUT].data_bytes = 1460;
	st.half[STREAM_OUT].packets = 2;
	assert_int_equal(sinks_stream_close(&set, &st), 1);

	mk_stream(&st, "2001:db8::1", 40380, "2001:db8::2", 443);
	st.id = 4;
	st.state = STREAM_RESET;
	st.midstream = true;
	st.last_ts = st.first_ts + 2500000000ULL;
	st.half[STREAM_IN].n_gaps = 1;
	st.half[STREAM_IN].gap_bytes = 100;
	st.half[STREAM_OUT].n_gaps = 2;
	st.half[STREAM_OUT].gap_bytes = 1400;
	st.half[STREAM_OUT].cut = true;
	assert_int_equal(sinks_stream_close(&set, &st), 1);

	assert_string_equal(read_all(f),
			    "stream 3 198.18.0.1:40380 > 198.18.0.2:80 closed c2s=78B/3pkt "
			    "s2c=1460B/2pkt gaps=0 dur=0.012s\n"
			    "stream 4 [2001:db8::1]:40380 > [2001:db8::2]:443 reset c2s=0B/0pkt "
			    "s2c=0B/0pkt gaps=3/1500B dur=2.500s midstream cut\n");
	sinks_destroy(&set);
	fclose(f);
}

static struct sink_set json_set(FILE *f, __u64 max_payload, struct memcap *mc)
{
	struct sink_set set = {0};
	struct sink *s = sink_json_new_file(f, max_payload, mc);

	assert_non_null(s);
	assert_int_equal(sinks_add(&set, s), 0);
	return set;
}

/* The one JSON line in f, parsed. */
static json_t *json_line(FILE *f)
{
	char *text = read_all(f);
	json_error_t e;
	json_t *o;
	char *nl = strchr(text, '\n');

	/* one line, ended by a newline */
	assert_non_null(nl);
	assert_string_equal(nl, "\n");
	o = json_loads(text, 0, &e);
	assert_non_null(o);
	return o;
}

static void test_json_stream(void **state)
{
	(void)state;
	static const char *keys[] = {
	    "id",
	    "family",
	    "source_address",
	    "destination_address",
	    "source_port",
	    "destination_port",
	    "community_id",
	    "state",
	    "midstream",
	    "roles",
	    "reuse",
	    "start",
	    "end",
	    "start_ns",
	    "end_ns",
	    "inbound_info",
	    "outbound_info",
	    "tls",
	    "ssh",
	    "inbound",
	    "outbound",
	};
	FILE *f = tmpfile();
	struct memcap mc = {0};
	struct sink_set set = json_set(f, 0, &mc);
	struct stream_gap gap = {.offset = 3, .len = 2};
	json_t *o, *info, *gaps;
	const char *key;
	struct stream st;
	json_t *v;
	size_t i = 0;

	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 8080);
	st.id = 7;
	st.reuse = 2;
	st.state = STREAM_TIMEOUT;
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "GET"), 1);
	assert_int_equal(sinks_stream_gap(&set, &st, STREAM_IN, 3, 2), 1);
	assert_int_equal(data(&set, &st, STREAM_IN, 5, "/x"), 1);
	assert_int_equal(data(&set, &st, STREAM_OUT, 0, "A"), 1);
	assert_true(mc.used > 0);
	st.half[STREAM_IN].bytes = 7;
	st.half[STREAM_IN].data_bytes = 5;
	st.half[STREAM_IN].packets = 4;
	st.half[STREAM_IN].gap_bytes = 2;
	st.half[STREAM_IN].after_reset_bytes = 3;
	st.half[STREAM_IN].n_gaps = 1;
	st.half[STREAM_IN].n_gaps_listed = 1;
	st.half[STREAM_IN].gaps = &gap;
	st.half[STREAM_IN].syn = true;
	st.half[STREAM_OUT].bytes = 1;
	/* counted but not listed */
	st.half[STREAM_OUT].n_gaps = 2;
	assert_int_equal(sinks_stream_close(&set, &st), 1);
	assert_int_equal(mc.used, 0);

	o = json_line(f);
	json_object_foreach(o, key, v)
	{
		assert_true(i < sizeof(keys) / sizeof(keys[0]));
		assert_string_equal(key, keys[i]);
		i++;
	}
	assert_int_equal(i, sizeof(keys) / sizeof(keys[0]));

	assert_int_equal(json_integer_value(json_object_get(o, "id")), 7);
	assert_int_equal(json_integer_value(json_object_get(o, "family")), 4);
	assert_string_equal(json_string_value(json_object_get(o, "source_address")), "198.18.0.1");
	assert_string_equal(json_string_value(json_object_get(o, "destination_address")),
			    "198.18.0.2");
	assert_int_equal(json_integer_value(json_object_get(o, "source_port")), 40380);
	assert_int_equal(json_integer_value(json_object_get(o, "destination_port")), 8080);
	assert_string_equal(json_string_value(json_object_get(o, "state")), "timeout");
	assert_true(json_is_false(json_object_get(o, "midstream")));
	assert_string_equal(json_string_value(json_object_get(o, "roles")), "syn");
	assert_int_equal(json_integer_value(json_object_get(o, "reuse")), 2);
	assert_string_equal(json_string_value(json_object_get(o, "start")),
			    "2023-11-14T22:13:20.123456Z");
	assert_string_equal(json_string_value(json_object_get(o, "end")),
			    "2023-11-14T22:13:20.135802Z");
	assert_int_equal(json_integer_value(json_object_get(o, "start_ns")), TS0);
	assert_int_equal(json_integer_value(json_object_get(o, "end_ns")), TS0 + 12345678);
	/* "GET\0\0/x" and "A" */
	assert_string_equal(json_string_value(json_object_get(o, "inbound")), "R0VUAAAveA==");
	assert_string_equal(json_string_value(json_object_get(o, "outbound")), "QQ==");

	info = json_object_get(o, "inbound_info");
	assert_int_equal(json_integer_value(json_object_get(info, "bytes")), 7);
	assert_int_equal(json_integer_value(json_object_get(info, "data_bytes")), 5);
	assert_int_equal(json_integer_value(json_object_get(info, "packets")), 4);
	assert_int_equal(json_integer_value(json_object_get(info, "gap_bytes")), 2);
	assert_int_equal(json_integer_value(json_object_get(info, "after_reset_bytes")), 3);
	assert_int_equal(json_integer_value(json_object_get(info, "n_gaps")), 1);
	assert_int_equal(json_integer_value(json_object_get(info, "payload_bytes")), 7);
	assert_true(json_is_true(json_object_get(info, "syn")));
	assert_true(json_is_false(json_object_get(info, "payload_truncated")));
	gaps = json_object_get(info, "gaps");
	assert_int_equal(json_array_size(gaps), 1);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(gaps, 0), 0)), 3);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(gaps, 0), 1)), 2);
	assert_string_equal(json_string_value(json_array_get(json_array_get(gaps, 0), 2)),
			    "not_seen");
	info = json_object_get(o, "outbound_info");
	assert_int_equal(json_array_size(json_object_get(info, "gaps")), 0);
	assert_int_equal(json_integer_value(json_object_get(info, "n_gaps")), 2);
	assert_int_equal(json_integer_value(json_object_get(info, "payload_bytes")), 1);
	json_decref(o);
	sinks_destroy(&set);
	fclose(f);
}

/* Base64 of every length modulo 3, an IPv6 stream and one without data. */
static void test_json_base64_ipv6(void **state)
{
	static const char *const in[] = {"", "A", "AB", "ABC", "ABCD"};
	static const char *const b64[] = {"", "QQ==", "QUI=", "QUJD", "QUJDRA=="};
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		FILE *f = tmpfile();
		struct sink_set set = json_set(f, 0, NULL);
		struct stream st;
		json_t *o;

		mk_stream(&st, "2001:db8::1", 1234, "2001:db8::2", 80);
		st.midstream = true;
		assert_int_equal(data(&set, &st, STREAM_OUT, 0, in[i]), 1);
		assert_int_equal(sinks_stream_close(&set, &st), 1);
		o = json_line(f);
		assert_string_equal(json_string_value(json_object_get(o, "outbound")), b64[i]);
		assert_string_equal(json_string_value(json_object_get(o, "inbound")), "");
		assert_int_equal(json_integer_value(json_object_get(o, "family")), 6);
		assert_string_equal(json_string_value(json_object_get(o, "source_address")),
				    "2001:db8::1");
		assert_true(json_is_true(json_object_get(o, "midstream")));
		json_decref(o);
		sinks_destroy(&set);
		fclose(f);
	}
}

static void test_json_max_payload(void **state)
{
	FILE *f = tmpfile();
	struct memcap mc = {0};
	struct sink_set set = json_set(f, 8, &mc);
	struct stream st;
	json_t *o;
	(void)state;

	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 80);
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "0123"), 1);
	assert_int_equal(data(&set, &st, STREAM_IN, 4, "456789"), 1);
	assert_int_equal(data(&set, &st, STREAM_IN, 10, "ab"), 1);
	assert_int_equal(data(&set, &st, STREAM_OUT, 0, "01234567"), 1);
	/* never more than max_payload held */
	assert_true(mc.used <= 16);
	assert_int_equal(sinks_stream_close(&set, &st), 1);
	assert_int_equal(mc.used, 0);

	o = json_line(f);
	/* "01234567" */
	assert_string_equal(json_string_value(json_object_get(o, "inbound")), "MDEyMzQ1Njc=");
	assert_true(
	    json_is_true(json_object_get(json_object_get(o, "inbound_info"), "payload_truncated")));
	/* exactly max_payload is not a cut */
	assert_string_equal(json_string_value(json_object_get(o, "outbound")), "MDEyMzQ1Njc=");
	assert_true(json_is_false(
	    json_object_get(json_object_get(o, "outbound_info"), "payload_truncated")));
	json_decref(o);
	sinks_destroy(&set);
	fclose(f);
}

static void test_json_memcap(void **state)
{
	FILE *f = tmpfile();
	struct memcap mc = {.limit = 100};
	struct sink_set set = json_set(f, 0, &mc);
	char fifty[51], sixty[61];
	struct stream st;
	json_t *o, *in, *out;
	(void)state;

	memset(fifty, 'a', 50);
	fifty[50] = '\0';
	memset(sixty, 'b', 60);
	sixty[60] = '\0';
	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 80);
	/* 50 fit, 60 more do not: the direction keeps its 50 and takes nothing more */
	assert_int_equal(data(&set, &st, STREAM_IN, 0, fifty), 1);
	assert_int_equal(mc.used, 50);
	assert_int_equal(data(&set, &st, STREAM_IN, 50, sixty), 1);
	assert_int_equal(mc.refused, 1);
	assert_int_equal(data(&set, &st, STREAM_IN, 110, "c"), 1);
	/* the other direction fits in what is left */
	assert_int_equal(data(&set, &st, STREAM_OUT, 0, "xyz"), 1);
	assert_int_equal(mc.used, 53);
	assert_int_equal(sinks_stream_close(&set, &st), 1);
	assert_int_equal(mc.used, 0);

	o = json_line(f);
	in = json_object_get(o, "inbound_info");
	out = json_object_get(o, "outbound_info");
	assert_true(json_is_true(json_object_get(in, "payload_truncated")));
	assert_int_equal(json_integer_value(json_object_get(in, "payload_bytes")), 50);
	assert_int_equal(strlen(json_string_value(json_object_get(o, "inbound"))), 68);
	assert_true(json_is_false(json_object_get(out, "payload_truncated")));
	assert_string_equal(json_string_value(json_object_get(o, "outbound")), "eHl6");
	json_decref(o);
	sinks_destroy(&set);
	fclose(f);
}

/* Streams still held at destroy (an error path) are freed and their memory given back. */
static void test_json_destroy_with_open_streams(void **state)
{
	FILE *f = tmpfile();
	struct memcap mc = {0};
	struct sink_set set = json_set(f, 0, &mc);
	struct stream st;
	(void)state;

	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 80);
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "held"), 1);
	sinks_destroy(&set);
	assert_int_equal(mc.used, 0);
	assert_string_equal(read_all(f), "");
	fclose(f);
}

/* A full disk (or closed pipe) switches the text and JSON sinks off; held memory is freed. */
static void test_write_error_text_json(void **state)
{
	FILE *f = fopen("/dev/full", "w");
	struct memcap mc = {0};
	struct sink_set set = {0};
	struct stream st;
	(void)state;

	if (!f)
		skip();
	assert_int_equal(sinks_add(&set, sink_text_new_file(f, 0, 1)), 0);
	assert_int_equal(sinks_add(&set, sink_json_new_file(f, 0, &mc)), 0);
	mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 80);
	assert_int_equal(data(&set, &st, STREAM_IN, 0, "x"), 2);
	assert_int_equal(sinks_stream_close(&set, &st), 0);
	assert_int_equal(set.v[0]->failed, -ENOSPC);
	assert_int_equal(set.v[1]->failed, -ENOSPC);
	assert_int_equal(mc.used, 0);
	sinks_destroy(&set);
	fclose(f);
}

/* Who frees a sink: the set frees what was given to it (sinks_add), through its destroy, and
 * nothing else; a caller's own sink (borrowed) is never freed by the set. */
static int destroyed;

static void counting_destroy(struct sink *s)
{
	destroyed++;
	sink_free(s);
}

static const struct sink_ops counted_ops = {.name = "counted", .destroy = counting_destroy};
static const struct sink_ops no_destroy_ops = {.name = "no_destroy"};

static void test_sink_ownership(void **state)
{
	struct sink_set set = {0};
	struct sink mine[SINK_MAX] = {{0}};
	struct sink *given, *stray;
	int i;
	(void)state;

	/* a sink the set could not destroy is not taken (it used to be free()d: a stack
	 * address, or a leak of its private part) */
	mine[0].ops = &no_destroy_ops;
	assert_int_equal(sinks_add(&set, &mine[0]), -EINVAL);
	assert_int_equal(set.n, 0);
	stray = sink_alloc(&no_destroy_ops, 64);
	assert_non_null(stray);
	assert_int_equal(sinks_add(&set, stray), -EINVAL);
	assert_int_equal(set.n, 0);
	sink_free(stray); /* still the caller's: refused */
	assert_int_equal(sinks_add(&set, NULL), -EINVAL);

	/* given: destroyed once, by sinks_destroy; borrowed: left alone */
	destroyed = 0;
	given = sink_alloc(&counted_ops, 16);
	assert_non_null(given);
	assert_int_equal(sinks_add(&set, given), 0);
	assert_int_equal(sinks_add_borrowed(&set, &mine[0]), 0);
	assert_int_equal(set.n, 2);
	sinks_destroy(&set);
	assert_int_equal(destroyed, 1);
	assert_int_equal(set.n, 0);
	assert_ptr_equal(mine[0].ops, &no_destroy_ops); /* untouched */

	/* a full set still takes what it is given, and destroys it */
	for (i = 0; i < SINK_MAX; i++) {
		mine[i].ops = &no_destroy_ops;
		assert_int_equal(sinks_add_borrowed(&set, &mine[i]), 0);
	}
	given = sink_alloc(&counted_ops, 16);
	assert_non_null(given);
	assert_int_equal(sinks_add(&set, given), -ENOSPC);
	assert_int_equal(destroyed, 2);
	assert_int_equal(sinks_add_borrowed(&set, &mine[0]), -ENOSPC);
	sinks_destroy(&set);
	assert_int_equal(destroyed, 2);
}

/* Reads a pcap with libpcap to its end: the number of records, -1 when it does not read
 * cleanly (a record cut short), each record's first byte and length checked against what
 * pcap_frame() made of its number. */
static __u8 pcap_frame_buf[70000];

static __u32 pcap_frame(int i)
{
	__u32 len = 60 + (__u32)(i * 7919) % 9000;

	memset(pcap_frame_buf, (char)i, len);
	return len;
}

static int pcap_read_all(const char *path)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *p = pcap_open_offline(path, err);
	int n = 0, r;

	if (!p)
		return -1;
	while ((r = pcap_next_ex(p, &h, &d)) == 1) {
		if (h->caplen != pcap_frame(n) || d[0] != (u_char)n || d[h->caplen - 1] != (u_char)n)
			fail_msg("record %d: %u bytes of %02x", n, h->caplen, d[0]);
		n++;
	}
	pcap_close(p);
	return r == PCAP_ERROR_BREAK ? n : -1;
}

static int pcap_put(struct sink_set *set, int i)
{
	struct xs_segment seg;

	mk_segment(&seg, "198.18.0.1", 40380, "198.18.0.2", 80);
	seg.ts_ns = TS0 + (__u64)i * 1000;
	seg.frame = pcap_frame_buf;
	seg.cap_len = seg.wire_len = pcap_frame(i);
	return sinks_packet(set, &seg);
}

/* -w: whole records only. A file that can take only part of a buffer (here RLIMIT_FSIZE, as a
 * full disk would) is cut back to the last whole record, and tcpdump's library reads it to its
 * end; so does a file the capture was killed over, which holds what was flushed. */
static void test_pcap_whole_records(void **state)
{
	struct rlimit old, small = {.rlim_cur = 300000};
	struct sink_set set = {0};
	struct stat sb;
	char path[256];
	int i, n, live = 1;
	off_t size;
	(void)state;

	snprintf(path, sizeof(path), "%s/cap.pcap", tmpdir);
	assert_int_equal(sinks_add(&set, sink_pcap_new(path, 0)), 0);
	for (i = 0; i < 50; i++)
		assert_int_equal(pcap_put(&set, i), 1);
	assert_int_equal(sinks_flush(&set), 1);
	assert_int_equal(pcap_read_all(path), 50);
	sinks_destroy(&set);
	assert_int_equal(pcap_read_all(path), 50);

	/* room for part of the records only */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_int_equal(sinks_add(&set, sink_pcap_new(path, 0)), 0);
	for (i = 0; i < 200 && live; i++)
		live = pcap_put(&set, i);
	if (live)
		live = sinks_flush(&set);
	assert_int_equal(live, 0); /* EFBIG switched it off */
	assert_int_equal(set.v[0]->failed, -EFBIG);
	sinks_destroy(&set);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	n = pcap_read_all(path);
	if (n < 0)
		fail_msg("pcap cut inside a record by a partial write");
	/* every record that fit whole is there */
	for (i = 0, size = 24; size + 16 + pcap_frame(i) <= 300000; i++)
		size += 16 + pcap_frame(i);
	assert_int_equal(n, i);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, size);
}

/* -j to a file: whole lines only, by the same rule. */
static void test_json_whole_lines(void **state)
{
	struct rlimit old, small = {.rlim_cur = 20000};
	struct sink_set set = {0};
	char path[256], *line = NULL, payload[3000];
	struct stream st;
	size_t cap = 0;
	int i, lines = 0, live = 1;
	FILE *f;
	(void)state;

	snprintf(path, sizeof(path), "%s/streams.jsonl", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	memset(payload, 'p', sizeof(payload) - 1);
	payload[sizeof(payload) - 1] = '\0';
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_int_equal(sinks_add(&set, sink_json_new_file(f, 0, NULL)), 0);
	for (i = 0; i < 20 && live; i++) {
		mk_stream(&st, "198.18.0.1", 40380, "198.18.0.2", 80);
		st.id = (__u64)i + 1;
		data(&set, &st, STREAM_IN, 0, payload);
		live = sinks_stream_close(&set, &st);
	}
	assert_int_equal(live, 0);
	assert_int_equal(set.v[0]->failed, -EFBIG);
	sinks_destroy(&set);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	fclose(f);

	f = fopen(path, "r");
	assert_non_null(f);
	while (getline(&line, &cap, f) > 0) {
		json_error_t e;
		json_t *j;

		if (line[strlen(line) - 1] != '\n')
			fail_msg("line %d cut short: %zu bytes without a newline", lines + 1,
				 strlen(line));
		j = json_loads(line, 0, &e);
		if (!j)
			fail_msg("line %d is not JSON: %s", lines + 1, e.text);
		json_decref(j);
		lines++;
	}
	free(line);
	fclose(f);
	assert_true(lines > 0);
}


/* SIGHUP: a log moved away keeps what it had; the next line goes to a fresh file at the path.
 * A path that cannot be opened again leaves the log on the file it had. */
static void test_log_reopen(void **state)
{
	char moved[600], sub[600], in_sub[640];
	const char *a = "{\"n\":1}\n", *b = "{\"n\":2}\n", *c = "{\"n\":3}\n";
	FILE *f, *g;
	char *got;
	(void)state;

	f = sinks_open_log("--json-log", path_in("log.jsonl"));
	assert_non_null(f);
	assert_ptr_equal(sinks_open_log("--json-log", "-"), stdout);
	assert_int_equal(sinks_write_line(f, a, strlen(a)), 0);
	snprintf(moved, sizeof(moved), "%s", path_in("log.jsonl.1"));
	assert_int_equal(rename(path_in("log.jsonl"), moved), 0);
	assert_int_equal(sinks_reopen_logs(), 0);
	assert_int_equal(sinks_write_line(f, b, strlen(b)), 0);
	got = slurp("log.jsonl.1", NULL);
	assert_non_null(got);
	assert_string_equal(got, a); /* "moved file keeps its line" */
	got = slurp("log.jsonl", NULL);
	assert_non_null(got);
	assert_string_equal(got, b); /* "fresh file has the line after SIGHUP" */

	/* not moved: appended to, not truncated */
	assert_int_equal(sinks_reopen_logs(), 0);
	assert_int_equal(sinks_write_line(f, c, strlen(c)), 0);
	got = slurp("log.jsonl", NULL);
	assert_non_null(got);
	assert_true(!strcmp(got, "{\"n\":2}\n{\"n\":3}\n"));

	/* a log in a directory that went away: said, and the old file goes on */
	snprintf(sub, sizeof(sub), "%s", path_in("d"));
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(in_sub, sizeof(in_sub), "%s/x.jsonl", sub);
	g = sinks_open_log("--http-log", in_sub);
	assert_non_null(g);
	assert_int_equal(rename(sub, path_in("d.gone")), 0);
	assert_int_equal(sinks_reopen_logs(), 1);
	assert_int_equal(sinks_write_line(g, a, strlen(a)), 0);
	got = slurp("d.gone/x.jsonl", NULL);
	assert_non_null(got);
	assert_string_equal(got, a); /* "a failed reopen keeps writing to the old file" */
	sinks_close_log(g);
	sinks_close_log(f);
	/* closed logs are forgotten */
	assert_int_equal(sinks_reopen_logs(), 0);
}

static void files_finish(struct sink_set *set, struct stream *st, __u16 sport, const char *body)
{
	mk_stream(st, "198.18.0.1", sport, "198.18.0.2", 80);
	assert_true(data(set, st, STREAM_IN, 0, body) > 0);
	assert_true(sinks_stream_close(set, st) > 0);
}

/* --max-output-bytes: the oldest finished stream goes first, an open one never. */
static void test_files_retention(void **state)
{
	struct sink_set set = {0};
	struct retain_stats rs;
	struct stream st, open;
	struct sink *s = sink_files_new(tmpdir, 16);
	char body[101];
	(void)state;

	memset(body, 'x', 100);
	body[100] = '\0';
	assert_non_null(s);
	assert_int_equal(sink_files_retain_stats(s, &rs), -ENOENT);
	assert_int_equal(sink_files_set_max_bytes(s, 250), 0);
	assert_int_equal(sinks_add(&set, s), 0);
	/* open all along, and more than the cap by itself later */
	mk_stream(&open, "198.18.0.9", 9999, "198.18.0.2", 80);
	assert_true(data(&set, &open, STREAM_IN, 0, body) > 0);
	assert_true(sinks_flush(&set) > 0);
	files_finish(&set, &st, 1001, body);
	assert_int_equal(count_entries(tmpdir), 2);
	files_finish(&set, &st, 1002, body);
	/* 300 > 250: the first finished stream went */
	assert_null(slurp("198.018.000.001.01001-198.018.000.002.00080", NULL));
	assert_non_null(slurp("198.018.000.001.01002-198.018.000.002.00080", NULL));
	assert_non_null(slurp("198.018.000.009.09999-198.018.000.002.00080", NULL));
	assert_int_equal(sink_files_retain_stats(s, &rs), 0);
	assert_int_equal(rs.streams_deleted, 1);
	assert_int_equal(rs.files_deleted, 1);
	assert_int_equal(rs.bytes_deleted, 100);
	assert_int_equal(rs.bytes, 200);
	/* the open stream grows past the cap: finished ones go at the flush, it stays */
	assert_true(data(&set, &open, STREAM_IN, 100, body) > 0);
	assert_true(data(&set, &open, STREAM_IN, 200, body) > 0);
	assert_true(sinks_flush(&set) > 0);
	assert_null(slurp("198.018.000.001.01002-198.018.000.002.00080", NULL));
	assert_non_null(slurp("198.018.000.009.09999-198.018.000.002.00080", NULL));
	assert_int_equal(sink_files_retain_stats(s, &rs), 0);
	assert_int_equal(rs.streams_deleted, 2);
	assert_int_equal(rs.bytes, 300);
	assert_true(rs.over_cap > 0);
	sinks_destroy(&set);
}

/* Files of an earlier run are older than anything of this one, and over the cap go at once. */
static void test_files_retention_earlier_run(void **state)
{
	struct sink *s, *j;
	int fd;
	(void)state;

	fd = open(path_in("old"), O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789", 10), 10);
	close(fd);
	s = sink_files_new(tmpdir, 16);
	assert_non_null(s);
	assert_int_equal(sink_files_set_max_bytes(s, 5), 0);
	assert_null(slurp("old", NULL));
	j = sink_text_new_file(stdout, 0, 0);
	assert_int_equal(sink_files_set_max_bytes(j, 5), -EINVAL);
	sink_destroy(j);
	sink_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_files_ipv4_names, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_output_mode, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_ipv6_names, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_reuse, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_gap, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_lru, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_symlinked_dir, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_existing, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_removed_while_closed, setup_dir,
					    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_write_error, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_buffered, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_buffers_shared, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_destroy_writes, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_many_reuses, setup_dir, teardown_dir),
	    cmocka_unit_test(test_text_packets),
	    cmocka_unit_test(test_text_streams),
	    cmocka_unit_test(test_json_stream),
	    cmocka_unit_test(test_json_base64_ipv6),
	    cmocka_unit_test(test_json_max_payload),
	    cmocka_unit_test(test_json_memcap),
	    cmocka_unit_test(test_json_destroy_with_open_streams),
	    cmocka_unit_test(test_write_error_text_json),
	    cmocka_unit_test(test_sink_ownership),
	    cmocka_unit_test_setup_teardown(test_pcap_whole_records, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_json_whole_lines, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_log_reopen, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_retention, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_files_retention_earlier_run, setup_dir,
					    teardown_dir),
	};

	log_level = LOG_WARN;
	/* the files are created 0644 under the usual umask */
	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
