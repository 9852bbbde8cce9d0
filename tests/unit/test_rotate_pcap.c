// SPDX-License-Identifier: GPL-2.0
/*
 * The pcap sink with -C/-W: every file is a capture libpcap reads to its end, every packet
 * is in exactly one file and in order, a file is cut only after it went over SIZE, the
 * counters add up, and a second run keeps what the first wrote.
 */
#include <errno.h>
#include <ftw.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <pcap/pcap.h>

#include "sinks/rotate.h"
#include "sinks/sink.h"

#define TS0 1700000000000000000ULL
#define SIZE 100000	/* bytes, as -C 0.1 would be */

static char tmpdir[] = "/tmp/xs-rotpcap-XXXXXX";
static __u8 frame[2000];

/* Packet i: 200 to 1700 bytes, its number in its first bytes. */
static __u32 frame_len(int i)
{
	return 200 + (__u32)(i * 397) % 1500;
}

static int put(struct sink *s, int i)
{
	struct xs_segment seg = {0};

	memcpy(frame, &i, sizeof(i));
	seg.ts_ns = TS0 + (__u64)i * 1000;
	seg.frame = frame;
	seg.cap_len = seg.wire_len = frame_len(i);
	return s->ops->packet(s, &seg);
}

/* Reads path; checks that its packets are next, next+1, ... and whole; returns how many, or
 * fails. */
static int read_file(const char *path, int next)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *p = pcap_open_offline(path, err);
	int r, n = 0, num;

	if (!p)
		fail_msg("%s does not open as a pcap: %s", path, err);
	while ((r = pcap_next_ex(p, &h, &data)) == 1) {
		memcpy(&num, data, sizeof(num));
		if (num != next + n || h->caplen != frame_len(num))
			fail_msg("%s: packet %d is #%d of %u bytes, not #%d", path, n, num,
				 h->caplen, next + n);
		n++;
	}
	if (r != PCAP_ERROR_BREAK)
		fail_msg("%s does not read to its end: %s", path, pcap_geterr(p));
	pcap_close(p);
	return n;
}

static off_t file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) ? -1 : sb.st_size;
}

/* -C alone: cap, cap1, cap2, ...; each over SIZE only with its last packet. */
static void test_size_rotation(void **state)
{
	struct rotate_opts o = { .size = SIZE };
	struct sink_pcap_stats st;
	struct sink *s;
	char base[256], path[300];
	int i, got = 0, files = 0;
	off_t sum = 0, sz, last = 0;

	(void)state;
	snprintf(base, sizeof(base), "%s/cap", tmpdir);
	s = sink_pcap_new_rotating(base, 0, &o);
	assert_non_null(s);
	for (i = 0; i < 1000; i++)
		assert_int_equal(put(s, i), 0);
	assert_int_equal(sink_pcap_get_stats(s, &st), 0);
	s->ops->destroy(s);
	for (files = 0;; files++) {
		if (files)
			snprintf(path, sizeof(path), "%s%d", base, files);
		else
			snprintf(path, sizeof(path), "%s", base);
		sz = file_size(path);
		if (sz < 0)
			break;
		int n = read_file(path, got);
		/* over SIZE with its last packet, not before: tcpdump's "larger than" */
		if (got + n < 1000) {
			if (sz <= SIZE || sz - 16 - frame_len(got + n - 1) > SIZE)
				fail_msg("%s: %lld bytes for a cut at %d", path, (long long)sz, SIZE);
		}
		got += n;
		sum += sz;
		last = sz;
	}
	assert_int_equal(got, 1000);
	assert_true(files > 5);
	/* each file was made as FILE.part and renamed once its header was in: none is left */
	glob_t g;
	snprintf(path, sizeof(path), "%s/*.part", tmpdir);
	assert_int_equal(glob(path, 0, NULL, &g), GLOB_NOMATCH);
	assert_int_equal(st.files, files);
	assert_int_equal(st.rotations, files - 1);
	assert_int_equal(st.bytes, sum);
	assert_int_equal(st.rotated_bytes, sum - last);

	/* a second run keeps every file of the first: it goes on at cap<files> */
	struct stat before, after;
	snprintf(path, sizeof(path), "%s%d", base, files - 1);
	assert_int_equal(stat(path, &before), 0);
	s = sink_pcap_new_rotating(base, 0, &o);
	assert_non_null(s);
	for (i = 0; i < 10; i++)
		assert_int_equal(put(s, i), 0);
	s->ops->destroy(s);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(file_size(base) > SIZE, 1);
	snprintf(path, sizeof(path), "%s%d", base, files);
	assert_int_equal(read_file(path, 0), 10);
}

/* -C -W 3: cap0, cap1, cap2 and round again; the files left hold the last packets, in ring
 * order after the one written last. */
static void test_ring(void **state)
{
	struct rotate_opts o = { .size = SIZE, .count = 3 };
	struct sink_pcap_stats st;
	struct sink *s;
	char base[256], path[300];
	int i, n[3], total = 0;

	(void)state;
	snprintf(base, sizeof(base), "%s/ring", tmpdir);
	s = sink_pcap_new_rotating(base, 0, &o);
	assert_non_null(s);
	for (i = 0; i < 1000; i++)
		assert_int_equal(put(s, i), 0);
	assert_int_equal(sink_pcap_get_stats(s, &st), 0);
	s->ops->destroy(s);
	assert_true(st.files > 6);
	/* the file written last is (files-1) % 3; the two before it hold what came before */
	int last = (int)((st.files - 1) % 3);
	int count_of[3];
	for (i = 0; i < 3; i++) {
		char err[PCAP_ERRBUF_SIZE];
		pcap_t *p;
		struct pcap_pkthdr *h;
		const u_char *d;

		snprintf(path, sizeof(path), "%s%d", base, i);
		p = pcap_open_offline(path, err);
		assert_non_null(p);
		count_of[i] = 0;
		while (pcap_next_ex(p, &h, &d) == 1)
			count_of[i]++;
		pcap_close(p);
		total += count_of[i];
	}
	snprintf(path, sizeof(path), "%s3", base);
	assert_int_equal(file_size(path), -1);
	/* the newest file ends with packet 999, the two before it lead up to it */
	int start = 1000;
	for (i = 0; i < 3; i++) {
		int f = (last - i + 3) % 3;

		start -= count_of[f];
		n[f] = start;
	}
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%d", base, i);
		assert_int_equal(read_file(path, n[i]), count_of[i]);
	}
	assert_true(total < 1000);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_rotation),
		cmocka_unit_test(test_ring),
	};
	int r;

	assert_non_null(mkdtemp(tmpdir));
	r = cmocka_run_group_tests(tests, NULL, NULL);
	nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return r;
}
