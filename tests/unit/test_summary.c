// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the exit summary's numbers (user/cmd/session.c): sizes are printed in
 * KiB/MiB/GiB for people, exactly below 1 KiB and on whole units; the JSON form
 * (--stats-interval) keeps the exact integers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/session.h"

static const struct {
	__u64 v;
	const char *text;
} cases[] = {
	{ 0, "0 B" },
	{ 1, "1 B" },
	{ 1023, "1023 B" },
	{ 1024, "1 KiB" },
	{ 1341, "1.3 KiB" },
	{ 1536, "1.5 KiB" },
	{ 10240, "10 KiB" },
	{ 1048524, "1023.9 KiB" },
	{ 1048550, "1.0 MiB" }, /* 1023.97 KiB: one decimal would say 1024.0 KiB */
	{ 1048575, "1.0 MiB" },
	{ 1048576, "1 MiB" },
	{ 64ULL << 20, "64 MiB" },
	{ 202833756, "193.4 MiB" },
	{ 1073741824, "1 GiB" },
	{ 1610612736, "1.5 GiB" },
	{ 1ULL << 40, "1 TiB" },
	{ ~0ULL, "16.0 EiB" },
};

static void test_fmt_bytes(void **state)
{
	char buf[SESSION_BYTES_LEN];
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		session_fmt_bytes(cases[i].v, buf, sizeof(buf));
		if (strcmp(buf, cases[i].text))
			fail_msg("%llu: got '%s', want '%s'", (unsigned long long)cases[i].v, buf,
				 cases[i].text);
	}
}

/* The summary of a session with a flow table and the default memcap: no raw byte counts. */
static void test_summary_in_units(void **state)
{
	struct session_opts o;
	struct session s;
	char *text, *p;
	size_t len;
	FILE *f;
	(void)state;

	session_opts_init(&o, SESSION_REPLAY);
	memset(&s, 0, sizeof(s));
	s.opts = &o;
	s.mem.limit = o.memcap;
	s.mem.peak = 3 << 20;
	s.flows = flow_table_new(&o.flow, &s.sinks, &s.mem);
	assert_non_null(s.flows);

	f = open_memstream(&text, &len);
	session_print_stats(&s, f);
	fclose(f);
	if (!strstr(text, "memory peak 3 MiB of 1 GiB\n"))
		fail_msg("summary without 'memory peak 3 MiB of 1 GiB': %s", text);
	if (!strstr(text, "bytes: 0 B delivered, 0 B missing (gaps)"))
		fail_msg("summary without 'bytes: 0 B delivered, 0 B missing': %s", text);
	for (p = text; *p; p++)
		if (strspn(p, "0123456789") >= 5)
			fail_msg("a raw count in the summary: %.40s", p);
	free(text);

	f = open_memstream(&text, &len);
	session_print_stats_json(&s, f);
	fclose(f);
	if (!strstr(text, "\"memory\":{\"used\":0,\"peak\":3145728,\"limit\":1073741824}"))
		fail_msg("the JSON counters lost the exact memory figures: %s", text);
	free(text);
	session_close(&s);
}

static void count_leaf(void *ctx, const struct session_stat *st)
{
	(void)st;
	(*(int *)ctx)++;
}

/*
 * The JSON line and /metrics come from one walk: as many samples as JSON figures, each
 * metric's family lines once and before its samples, counters named _total, every sample
 * labelled with the interface.
 */
static void test_metrics_text_from_the_walk(void **state)
{
	struct session_opts o;
	struct session s;
	char *text, *json, *line, *save, *p;
	char families[64][96];
	int nfam = 0, samples = 0, leaves = 0, i;
	size_t len;
	FILE *f;
	(void)state;

	session_opts_init(&o, SESSION_LOAD);
	o.cap.ifname = "eth\"0";
	memset(&s, 0, sizeof(s));
	s.opts = &o;
	s.mem.limit = o.memcap;
	s.mem.used = 4096;
	s.flows = flow_table_new(&o.flow, &s.sinks, &s.mem);
	assert_non_null(s.flows);

	session_stats_walk(&s, count_leaf, &leaves);
	assert_int_equal(session_metrics_text(&s, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	if (!strstr(text, "xdp_sniff_memory_used_bytes{interface=\"eth\\\"0\"} 4096\n"))
		fail_msg("no memory gauge with the escaped interface: %s", text);
	if (!strstr(text, "xdp_sniff_packets_seen_total{interface=\"eth\\\"0\",direction=\"in\"} 0\n"))
		fail_msg("no per-direction kernel counter: %.300s", text);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[96];

		if (!strncmp(line, "# TYPE ", 7)) {
			char type[16];

			assert_int_equal(sscanf(line + 7, "%95s %15s", name, type), 2);
			for (i = 0; i < nfam; i++)
				if (!strcmp(families[i], name))
					fail_msg("family %s twice", name);
			if (!strcmp(type, "counter") != (strlen(name) > 6 &&
							 !strcmp(name + strlen(name) - 6, "_total")))
				fail_msg("%s is a %s", name, type);
			assert_true(nfam < 64);
			strcpy(families[nfam++], name);
			continue;
		}
		if (line[0] == '#')
			continue;
		samples++;
		p = strchr(line, '{');
		assert_non_null(p);
		snprintf(name, sizeof(name), "%.*s", (int)(p - line), line);
		if (!nfam || strcmp(families[nfam - 1], name))
			fail_msg("sample %s not after its family lines", line);
		if (strncmp(p, "{interface=", 11))
			fail_msg("sample without its interface: %s", line);
	}
	assert_int_equal(samples, leaves);
	free(text);

	/* and the JSON line holds as many figures */
	f = open_memstream(&json, &len);
	session_print_stats_json(&s, f);
	fclose(f);
	for (i = 0, p = json; (p = strchr(p, ':')); p++)
		if (p[1] != '{')
			i++;
	/* ts_ns is the line's own */
	assert_int_equal(i - 1, leaves);
	free(json);
	session_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fmt_bytes),
		cmocka_unit_test(test_summary_in_units),
		cmocka_unit_test(test_metrics_text_from_the_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
