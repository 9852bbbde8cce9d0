// SPDX-License-Identifier: GPL-2.0
/*
 * What a direction's first bytes say of its sender (stream/content.c), for streams picked up
 * midstream, and the ports a services(5) file names (stream/services.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "stream/content.h"
#include "stream/services.h"

static const char *side_name(enum content_side s)
{
	static const char *const n[] = {"more", "none", "client", "server"};

	return s <= CONTENT_SERVER ? n[s] : "?";
}

/* Each start, as far as it goes (final: nothing more comes), and the side it names. */
static void test_content_side(void **state)
{
	static const struct {
		const char *what;
		const char *buf;
		size_t len; /* 0: strlen(buf) */
		bool final;
		enum content_side want;
	} cases[] = {
	    {"status line", "HTTP/1.1 200 OK\r\n", 0, false, CONTENT_SERVER},
	    {"status line 1.0, no reason", "HTTP/1.0 404\r\n", 0, false, CONTENT_SERVER},
	    {"status line cut in its code", "HTTP/1.1 20", 0, false, CONTENT_MORE},
	    {"status line cut, nothing more", "HTTP/1.1 20", 0, true, CONTENT_NONE},
	    {"HTTP/2 is no status line", "HTTP/2 200\r\n", 0, false, CONTENT_NONE},
	    {"status with letters", "HTTP/1.1 2x0 OK\r\n", 0, false, CONTENT_NONE},
	    {"request line", "GET /x?y=1 HTTP/1.1\r\nHost: a\r\n", 0, false, CONTENT_CLIENT},
	    {"request line, LF only", "POST / HTTP/1.0\n", 0, false, CONTENT_CLIENT},
	    {"request, absolute form", "GET http://a/b HTTP/1.1\r\n", 0, false, CONTENT_CLIENT},
	    {"request, WebDAV method", "PROPFIND /d HTTP/1.1\r\n", 0, false, CONTENT_CLIENT},
	    {"HEAD is not a status line", "HEAD / HTTP/1.1\r\n", 0, false, CONTENT_CLIENT},
	    {"request line cut", "GET /abc", 0, false, CONTENT_MORE},
	    {"request line cut, nothing more", "GET /abc", 0, true, CONTENT_NONE},
	    {"request of another protocol", "OPTIONS rtsp://a RTSP/1.0\r\n", 0, false,
	     CONTENT_NONE},
	    {"SMTP command", "EHLO mx\r\n", 0, false, CONTENT_NONE},
	    {"SSH banner", "SSH-2.0-OpenSSH_9.2\r\n", 0, false, CONTENT_NONE},
	    {"SSH banner cut", "SSH", 0, false, CONTENT_MORE},
	    {"lower case", "get / HTTP/1.1\r\n", 0, false, CONTENT_NONE},
	    {"binary", "\x00\x01\x02", 3, false, CONTENT_NONE},
	    {"TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc", 9, false, CONTENT_CLIENT},
	    {"TLS ServerHello", "\x16\x03\x03\x00\x5a\x02\x00\x00\x56", 9, false, CONTENT_SERVER},
	    {"TLS Certificate", "\x16\x03\x03\x0b\x00\x0b\x00\x0a\xfc", 9, false, CONTENT_NONE},
	    {"TLS record cut", "\x16\x03\x01\x02", 4, false, CONTENT_MORE},
	    {"TLS record cut, nothing more", "\x16\x03\x01\x02", 4, true, CONTENT_NONE},
	    {"not TLS 3.x", "\x16\x02\x00\x00\x30\x01", 6, false, CONTENT_NONE},
	    {"TLS application data", "\x17\x03\x03\x00\x20\x01", 6, false, CONTENT_NONE},
	    {"nothing yet", "", 0, false, CONTENT_MORE},
	    {"nothing at all", "", 0, true, CONTENT_NONE},
	};
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].buf);
		enum content_side got =
		    content_side((const __u8 *)cases[i].buf, len, cases[i].final);

		if (got != cases[i].want)
			fail_msg("%s: %s, want %s", cases[i].what, side_name(got),
				 side_name(cases[i].want));
	}
}

/* A request line whose target runs past CONTENT_MAX: taken on a common method alone. */
static void test_content_long_target(void **state)
{
	char *b = malloc(CONTENT_MAX + 100);
	(void)state;

	assert_non_null(b);
	memset(b, 'a', CONTENT_MAX + 100);
	memcpy(b, "GET /", 5);
	assert_int_equal(content_side((__u8 *)b, CONTENT_MAX - 1, false), CONTENT_MORE);
	assert_int_equal(content_side((__u8 *)b, CONTENT_MAX + 100, false), CONTENT_CLIENT);
	memcpy(b, "FOO /", 5);
	assert_int_equal(content_side((__u8 *)b, CONTENT_MAX + 100, false), CONTENT_NONE);
	free(b);
}

/* The TCP ports of a services file: comments, aliases, udp lines and junk. */
static void test_services_load(void **state)
{
	char path[] = "/tmp/xs-services-XXXXXX";
	struct services sv;
	FILE *f;
	int fd;
	(void)state;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("# comment 9999/tcp\n"
	      "http\t\t80/tcp\t\twww\t# WorldWideWeb HTTP\n"
	      "http-alt 8080/tcp webcache\n"
	      "domain 53/udp\n"
	      "broken 70000/tcp\n"
	      "noport x/tcp\n"
	      "sctp 9000/sctp\n"
	      "amanda 10080/tcp\n"
	      "amanda 10080/udp\n"
	      "\n"
	      "lonely\n",
	      f);
	fclose(f);
	memset(&sv, 0, sizeof(sv));
	assert_int_equal(services_load(&sv, path), 0);
	unlink(path);
	assert_true(services_has(&sv, 80));
	assert_true(services_has(&sv, 8080));
	assert_true(services_has(&sv, 10080));
	assert_false(services_has(&sv, 53));
	assert_false(services_has(&sv, 9000));
	assert_false(services_has(&sv, 9999));
	assert_false(services_has(&sv, 4464)); /* 70000 & 0xffff */
	assert_int_equal(sv.count, 3);
	memset(&sv, 0, sizeof(sv));
	assert_int_equal(services_load(&sv, "/nonexistent/services"), -ENOENT);
	assert_int_equal(sv.count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_content_side),
	    cmocka_unit_test(test_content_long_target),
	    cmocka_unit_test(test_services_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
