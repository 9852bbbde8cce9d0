// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the option table of load and replay (user/cmd/session.c): every option is in
 * the man page and in its command's --help, the table is consistent (one row per name and
 * command, one letter per command, help that fits 80 columns), and an argument lands in the
 * field its row names, with the bounds of the command that takes it. Run from the top of the
 * tree (tests/run.sh does): the man page is read from man/xdp-sniff.8.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "cmd/session.h"

#define MAN_PAGE "man/xdp-sniff.8"

static const struct session_cmd_info load_info = { "load", SESSION_LOAD, "usage: load", NULL };
static const struct session_cmd_info replay_info = { "replay", SESSION_REPLAY, "usage: replay",
						     NULL };

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, n + 1);
	if (buf && fread(buf, 1, n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* "--max-streams" as roff writes it: \-\-max\-streams */
static void roff_name(const char *name, char *buf, size_t size)
{
	size_t n = snprintf(buf, size, "\\-\\-");

	for (; *name && n + 3 < size; name++) {
		if (*name == '-')
			buf[n++] = '\\';
		buf[n++] = *name;
	}
	buf[n] = '\0';
}

static void test_man_page_lists_every_option(void **state)
{
	char *man = read_file(MAN_PAGE), name[96], missing[1024] = "";
	size_t i, k;
	(void)state;

	if (!man)
		fail_msg("cannot read %s (run from the top of the tree)", MAN_PAGE);
	for (i = 0; i < session_n_options; i++) {
		roff_name(session_options[i].name, name, sizeof(name));
		if (!strstr(man, name)) {
			k = strlen(missing);
			snprintf(missing + k, sizeof(missing) - k, " --%s", session_options[i].name);
		}
	}
	free(man);
	if (missing[0])
		fail_msg("%s does not list:%s", MAN_PAGE, missing);
}

/* Does text name the option want (" --http"), not only a longer one (" --http-log")? */
static bool lists(const char *text, const char *want)
{
	const char *p;

	for (p = strstr(text, want); p; p = strstr(p + 1, want))
		if (p[strlen(want)] == ' ' || p[strlen(want)] == '\n' || p[strlen(want)] == '[')
			return true;
	return false;
}

static void test_help_lists_every_option(void **state)
{
	const struct session_cmd_info *infos[] = { &load_info, &replay_info };
	char want[80];
	size_t i, k, len;
	char *text;
	FILE *f;
	(void)state;

	for (k = 0; k < 2; k++) {
		f = open_memstream(&text, &len);
		assert_non_null(f);
		session_print_help(infos[k], f);
		fclose(f);
		for (i = 0; i < session_n_options; i++) {
			const struct session_option *r = &session_options[i];

			snprintf(want, sizeof(want), " --%s", r->name);
			if ((r->cmds & infos[k]->cmd) && !lists(text, want))
				fail_msg("%s --help does not list --%s", infos[k]->name, r->name);
		}
		for (i = 0; i < len; i += strcspn(text + i, "\n") + 1)
			if (strcspn(text + i, "\n") > 80)
				fail_msg("%s --help: a line longer than 80 columns: %.80s...",
					 infos[k]->name, text + i);
		free(text);
	}
}

static void test_table_consistent(void **state)
{
	size_t i, j;
	(void)state;

	for (i = 0; i < session_n_options; i++) {
		const struct session_option *r = &session_options[i];

		if (!r->name || !r->help || !r->help[0] || !r->cmds || r->section >= SSEC_MAX)
			fail_msg("row %zu (--%s): name, help, commands and section are required", i,
				 r->name ?: "?");
		if ((r->type == SOPT_NUMBER || r->type == SOPT_ENUM || r->type == SOPT_STRING) &&
		    !r->arg)
			fail_msg("--%s takes a value but names no argument", r->name);
		if ((r->type == SOPT_FLAG || r->type == SOPT_HELP || r->type == SOPT_VERSION) &&
		    r->arg)
			fail_msg("--%s takes no value but names an argument", r->name);
		if (r->type == SOPT_NUMBER && (!r->size || r->min > r->max))
			fail_msg("--%s: a number needs a field and min <= max", r->name);
		if (r->type == SOPT_ENUM && (!r->values || !r->values[0].name))
			fail_msg("--%s: an enum needs its values", r->name);
		if (r->type == SOPT_FUNC && !r->parse)
			fail_msg("--%s: no parse function", r->name);
		for (j = 0; j < i; j++) {
			const struct session_option *q = &session_options[j];

			if (!(q->cmds & r->cmds))
				continue;
			if (!strcmp(q->name, r->name))
				fail_msg("--%s: two rows for one command", r->name);
			if (r->short_name && q->short_name == r->short_name)
				fail_msg("-%c: both --%s and --%s", r->short_name, q->name, r->name);
		}
	}
}

/* parse CMD ARGS...: session_parse_args on a fresh o; returns its result */
static int parse(struct session_opts *o, const struct session_cmd_info *ci, ...)
{
	char *argv[16] = { (char *)ci->name };
	int argc = 1;
	va_list ap;

	va_start(ap, ci);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	session_opts_init(o, ci->cmd);
	return session_parse_args(o, ci, argc, argv);
}

static void test_arguments_land_in_their_field(void **state)
{
	struct session_opts o;
	(void)state;

	assert_int_equal(parse(&o, &load_info, "--ring-size", "1M", "eth0", NULL), SESSION_ARGS_OK);
	assert_int_equal(o.cap.ring_size, 1 << 20);
	assert_int_equal(parse(&o, &load_info, "--ring-size", "64K", NULL), SESSION_ARGS_OK);
	assert_int_equal(o.cap.ring_size, 64 << 10);
	/* replay's ring must hold the largest record: its row has other bounds */
	assert_int_equal(parse(&o, &replay_info, "--ring-size", "64K", NULL), SESSION_ARGS_USAGE);
	assert_int_equal(parse(&o, &replay_info, "--ring-size", "256K", NULL), SESSION_ARGS_OK);
	assert_int_equal(o.cap.ring_size, 256 << 10);
	assert_int_equal(parse(&o, &load_info, "--ring-size", "3M", NULL), SESSION_ARGS_USAGE);

	assert_int_equal(parse(&o, &load_info, "--snaplen", "0", NULL), SESSION_ARGS_OK);
	assert_int_equal(o.cap.snaplen, 0);
	assert_int_equal(parse(&o, &replay_info, "--snaplen", "200", NULL), SESSION_ARGS_OK);
	assert_int_equal(o.cap.snaplen, 200);
	assert_int_equal(parse(&o, &replay_info, "--snaplen", "127", NULL), SESSION_ARGS_USAGE);

	assert_int_equal(parse(&o, &replay_info, "--idle-timeout", "2", NULL), SESSION_ARGS_OK);
	assert_true(o.flow.idle_timeout_ns == 2000000000ULL);
	assert_int_equal(parse(&o, &load_info, "--stats-interval", "3", NULL), SESSION_ARGS_OK);
	assert_true(o.stats_interval_ns == 3000000000ULL);
	assert_int_equal(parse(&o, &replay_info, "--memcap", "1G", NULL), SESSION_ARGS_OK);
	assert_true(o.memcap == 1ULL << 30);
	assert_int_equal(parse(&o, &replay_info, "--max-open-files", "9", NULL), SESSION_ARGS_OK);
	assert_int_equal(o.max_open_files, 9);
	/* a suffix that shifts bits out is an overflow, not a small number */
	assert_int_equal(parse(&o, &replay_info, "--memcap", "17179869185G", NULL),
			 SESSION_ARGS_USAGE);
	assert_int_equal(parse(&o, &load_info, "--max-output-bytes", "2G", "--json-log", "s.jsonl",
			       NULL),
			 SESSION_ARGS_OK);
	assert_true(o.max_output_bytes == 2ULL << 30);
	assert_true(o.json);
	assert_string_equal(o.json_log, "s.jsonl");
	assert_int_equal(parse(&o, &load_info, "--max-output-bytes", "0", NULL), SESSION_ARGS_USAGE);
	assert_int_equal(parse(&o, &load_info, "--max-output-bytes", "-1", NULL),
			 SESSION_ARGS_USAGE);
	assert_int_equal(parse(&o, &load_info, "--max-output-bytes", "16777216T", NULL),
			 SESSION_ARGS_USAGE);

	assert_int_equal(parse(&o, &load_info, "--direction", "out", "--xdp-mode", "skb",
			       "--transport", "afxdp", "--overlap", "first", NULL),
			 SESSION_ARGS_OK);
	assert_int_equal(o.cap.dirs, CAPTURE_OUT);
	assert_int_equal(o.cap.xdp_mode, XDP_MODE_SKB);
	assert_int_equal(o.cap.transport, CAPTURE_AFXDP);
	assert_int_equal(o.flow.overlap, OVERLAP_FIRST);

	assert_int_equal(parse(&o, &replay_info, "--http-log", "h.jsonl", "-j", "-w", "x.pcap",
			       NULL),
			 SESSION_ARGS_OK);
	assert_true(o.http && o.json);
	assert_string_equal(o.http_log, "h.jsonl");
	assert_string_equal(o.pcap_path, "x.pcap");

	assert_int_equal(parse(&o, &load_info, "--no-bodies", "--http", "-Z", "nobody", NULL),
			 SESSION_ARGS_OK);
	assert_true(o.cap.skips);
	assert_string_equal(o.user, "nobody");
	/* the capture reads the filter the options fill */
	assert_ptr_equal(o.cap.filter, &o.filter);
}

static void test_options_of_the_other_command(void **state)
{
	struct session_opts o;
	(void)state;

	assert_int_equal(parse(&o, &load_info, "--no-kernel", NULL), SESSION_ARGS_USAGE);
	assert_int_equal(parse(&o, &replay_info, "-Z", "nobody", NULL), SESSION_ARGS_USAGE);
	assert_int_equal(parse(&o, &replay_info, "--direction", "in", NULL), SESSION_ARGS_USAGE);
	assert_int_equal(parse(&o, &replay_info, "--bogus", NULL), SESSION_ARGS_USAGE);
	assert_int_equal(parse(&o, &replay_info, "--snaplen", NULL), SESSION_ARGS_USAGE);
}

/* issue 20, items 14 and 15 */
static void test_filter_and_http_options(void **state)
{
	struct session_opts o;
	(void)state;

	/* --decode alone is --http --decode, as --http-bodies and --http-log are */
	assert_int_equal(parse(&o, &replay_info, "--decode", NULL), SESSION_ARGS_OK);
	assert_true(o.http && o.http_decode);

	/* a network with host bits set is refused, as tcpdump refuses it; the filter is as
	 * it was */
	assert_int_equal(parse(&o, &replay_info, "-a", "198.18.0.0/15", "-a", "10.0.0.1/8", NULL),
			 SESSION_ARGS_USAGE);
	assert_int_equal(o.filter.n_prefixes, 1);
	assert_int_equal(parse(&o, &replay_info, "-a", "2001:db8::1/32", NULL), SESSION_ARGS_USAGE);
	assert_int_equal(o.filter.n_prefixes, 0);
	assert_false(o.filter.flags & XS_FILT_ADDR);
	assert_int_equal(parse(&o, &replay_info, "-a", "10.0.0.0/8", "-a", "10.0.0.1",
			       "-a", "2001:db8::/32", NULL),
			 SESSION_ARGS_OK);
	assert_int_equal(o.filter.n_prefixes, 3);

	/* port 0 is no TCP port */
	assert_int_equal(parse(&o, &load_info, "-p", "0", NULL), SESSION_ARGS_USAGE);
	assert_int_equal(parse(&o, &load_info, "-p", "0-1023", NULL), SESSION_ARGS_USAGE);
	assert_int_equal(parse(&o, &load_info, "-p", "1-1023", "-p", "8080", NULL),
			 SESSION_ARGS_OK);
}

/* --metrics: a port alone is loopback's; a bad one is a usage error; load's only */
static void test_metrics_option(void **state)
{
	struct session_opts o;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&o.metrics_addr;
	(void)state;

	assert_int_equal(parse(&o, &load_info, "--metrics", "9464", NULL), SESSION_ARGS_OK);
	assert_string_equal(o.metrics, "9464");
	assert_int_equal(o.metrics_addr.ss_family, AF_INET);
	assert_int_equal(ntohl(s4->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(ntohs(s4->sin_port), 9464);
	assert_int_equal(parse(&o, &load_info, "--metrics", "[::]:9464", NULL), SESSION_ARGS_OK);
	assert_int_equal(o.metrics_addr.ss_family, AF_INET6);
	assert_int_equal(parse(&o, &load_info, "--metrics", ":9464", NULL), SESSION_ARGS_USAGE);
	assert_int_equal(parse(&o, &load_info, "--metrics", "70000", NULL), SESSION_ARGS_USAGE);
	assert_int_equal(parse(&o, &replay_info, "--metrics", "9464", NULL), SESSION_ARGS_USAGE);
	assert_int_equal(parse(&o, &load_info, NULL), SESSION_ARGS_OK);
	assert_null(o.metrics);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_man_page_lists_every_option),
		cmocka_unit_test(test_help_lists_every_option),
		cmocka_unit_test(test_table_consistent),
		cmocka_unit_test(test_arguments_land_in_their_field),
		cmocka_unit_test(test_options_of_the_other_command),
		cmocka_unit_test(test_filter_and_http_options),
		cmocka_unit_test(test_metrics_option),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
