// SPDX-License-Identifier: GPL-2.0
/*
 * The Prometheus endpoint on loopback with a port the kernel chooses: what GET /metrics
 * serves, what anything else gets, idle clients that cannot hold up a publish, and the
 * exposition text's family and label syntax.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "metrics/metrics.h"

static int connect_port(__u16 port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Sends one request and reads the whole answer (the server closes: Connection: close). */
static char *http(__u16 port, const char *request)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	int fd = connect_port(port);
	ssize_t n;

	assert_non_null(buf);
	assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	while ((n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += n;
	buf[len] = '\0';
	close(fd);
	return buf;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct metrics *start_loopback(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct metrics *m;

	assert_int_equal(metrics_parse_listen("127.0.0.1:0", &ss, &len), 0);
	m = metrics_start(&ss, len);
	assert_non_null(m);
	assert_true(metrics_port(m) != 0);
	assert_int_equal(metrics_serve(m, NULL), 0);
	return m;
}

static void test_parse_listen(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	char a[INET6_ADDRSTRLEN];
	socklen_t len;

	(void)state;
	/* a port alone listens on loopback, not on every address */
	assert_int_equal(metrics_parse_listen("9100", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(s4->sin_port), 9100);
	assert_string_equal(inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a)), "127.0.0.1");
	assert_int_equal(metrics_parse_listen("0.0.0.0:9200", &ss, &len), 0);
	assert_string_equal(inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a)), "0.0.0.0");
	assert_int_equal(ntohs(s4->sin_port), 9200);
	assert_int_equal(metrics_parse_listen("[::1]:9300", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(s6->sin6_port), 9300);
	assert_int_equal(len, sizeof(*s6));
	/* what a typo would make of it: refused, never a guess */
	const char *bad[] = { "", ":9100", "65536", "-1", "+80", "9100x", "host:9100",
			      "[::1]9100", "[::1]", "::1:9100", "1.2.3.4:", "[1.2.3.4]:80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (metrics_parse_listen(bad[i], &ss, &len) != -EINVAL)
			fail_msg("'%s' was taken as a listen address", bad[i]);
	}
}

static void test_serves_published_text(void **state)
{
	struct metrics *m = start_loopback();
	const char *text = "# HELP a_total A.\n# TYPE a_total counter\na_total 7\n";
	char *r;

	(void)state;
	r = http(metrics_port(m), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(r, "HTTP/1.1 200"));
	assert_non_null(strstr(r, "Content-Length: 0"));
	free(r);

	assert_int_equal(metrics_publish(m, text, strlen(text)), 0);
	r = http(metrics_port(m), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(r, "HTTP/1.1 200"));
	assert_non_null(strstr(r, "text/plain; version=0.0.4"));
	if (!strstr(r, "\r\n\r\n") || strcmp(strstr(r, "\r\n\r\n") + 4, text))
		fail_msg("body is not the published text: %s", r);
	free(r);
	assert_int_equal(metrics_scrapes(m), 2);
	metrics_stop(m);
}

static void test_refuses_other_requests(void **state)
{
	struct metrics *m = start_loopback();
	char *r;

	(void)state;
	r = http(metrics_port(m), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	if (!strstr(r, "HTTP/1.1 404"))
		fail_msg("GET / answered: %.40s", r);
	free(r);
	r = http(metrics_port(m), "GET /metricsx HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	if (!strstr(r, "HTTP/1.1 404"))
		fail_msg("GET /metricsx answered: %.40s", r);
	free(r);
	r = http(metrics_port(m), "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
				  "Content-Length: 3\r\n\r\nabc");
	if (!strstr(r, "HTTP/1.1 405") || !strstr(r, "Allow: GET"))
		fail_msg("POST /metrics answered: %.60s", r);
	free(r);
	assert_int_equal(metrics_scrapes(m), 0);
	metrics_stop(m);
}

/* Clients that connect and say nothing fill the connection limit; publishing (what the
 * capture thread does) must not wait for them, and they are dropped after the timeout. */
static void test_idle_clients_hold_nothing(void **state)
{
	struct metrics *m = start_loopback();
	int fds[METRICS_MAX_CONNECTIONS + 4];
	double t0, worst = 0;
	char big[1 << 16];

	(void)state;
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		fds[i] = connect_port(metrics_port(m));
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	for (int i = 0; i < 200; i++) {
		t0 = now_s();
		assert_int_equal(metrics_publish(m, big, sizeof(big)), 0);
		if (now_s() - t0 > worst)
			worst = now_s() - t0;
	}
	/* a publish is a copy under a mutex: far below the client timeout even on a busy box */
	if (worst > 0.5)
		fail_msg("a publish waited %.3f s behind idle clients", worst);
	/* the server ends idle connections after its timeout: the first one reads EOF */
	struct pollfd p = { .fd = fds[0], .events = POLLIN };
	assert_int_equal(poll(&p, 1, (METRICS_TIMEOUT_S + 5) * 1000), 1);
	char c;
	assert_true(read(fds[0], &c, 1) <= 0);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		close(fds[i]);
	metrics_stop(m);
}

static void test_port_in_use(void **state)
{
	struct metrics *m = start_loopback();
	struct sockaddr_storage ss;
	char arg[32];
	socklen_t len;

	(void)state;
	snprintf(arg, sizeof(arg), "127.0.0.1:%u", metrics_port(m));
	assert_int_equal(metrics_parse_listen(arg, &ss, &len), 0);
	errno = 0;
	assert_null(metrics_start(&ss, len));
	assert_int_equal(errno, EADDRINUSE);
	metrics_stop(m);
}

static pid_t confine_tid;

static int confine_ok(void)
{
	confine_tid = gettid();
	return 0;
}

static int confine_fails(void)
{
	return -EPERM;
}

/* The serving thread confines itself (load's privileges are per thread), before it serves a
 * byte: a request made before metrics_serve() is answered only after confine ran there. */
static void test_confine_before_serving(void **state)
{
	struct sockaddr_storage ss;
	struct pollfd p;
	socklen_t len;
	struct metrics *m;
	int fd;

	(void)state;
	assert_int_equal(metrics_parse_listen("127.0.0.1:0", &ss, &len), 0);
	m = metrics_start(&ss, len);
	assert_non_null(m);
	fd = connect_port(metrics_port(m));
	assert_int_equal(write(fd, "GET /metrics HTTP/1.0\r\n\r\n", 26), 26);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 300) != 0)
		fail_msg("the server answered before metrics_serve()");
	confine_tid = 0;
	assert_int_equal(metrics_serve(m, confine_ok), 0);
	if (!confine_tid || confine_tid == gettid())
		fail_msg("confine did not run on the serving thread (tid %d, caller %d)",
			 (int)confine_tid, (int)gettid());
	assert_int_equal(poll(&p, 1, 5000), 1);
	close(fd);
	metrics_stop(m);

	/* a thread that could not confine itself serves nothing */
	m = metrics_start(&ss, len);
	assert_non_null(m);
	assert_int_equal(metrics_serve(m, confine_fails), -EPERM);
	fd = connect_port(metrics_port(m));
	assert_int_equal(write(fd, "GET /metrics HTTP/1.0\r\n\r\n", 26), 26);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 300) != 0)
		fail_msg("an unconfined thread served");
	close(fd);
	metrics_stop(m);
}

static void test_exposition_text(void **state)
{
	struct metrics_text t = { 0 };
	const char *l1[] = { "interface", "eth0", "direction", "in" };
	const char *l2[] = { "interface", "we\"ird\\name\n" };

	(void)state;
	metrics_family(&t, "xdp_sniff_packets_seen_total", "counter", "Packets seen.");
	metrics_sample(&t, "xdp_sniff_packets_seen_total", l1, 2, 18446744073709551615ull);
	metrics_sample(&t, "xdp_sniff_packets_seen_total", l2, 1, 0);
	metrics_family(&t, "xdp_sniff_streams_open", "gauge", "Streams open.");
	metrics_sample(&t, "xdp_sniff_streams_open", NULL, 0, 3);
	assert_int_equal(t.err, 0);
	assert_string_equal(t.buf,
			    "# HELP xdp_sniff_packets_seen_total Packets seen.\n"
			    "# TYPE xdp_sniff_packets_seen_total counter\n"
			    "xdp_sniff_packets_seen_total{interface=\"eth0\",direction=\"in\"} "
			    "18446744073709551615\n"
			    "xdp_sniff_packets_seen_total{interface=\"we\\\"ird\\\\name\\n\"} 0\n"
			    "# HELP xdp_sniff_streams_open Streams open.\n"
			    "# TYPE xdp_sniff_streams_open gauge\n"
			    "xdp_sniff_streams_open 3\n");
	/* growth past the first allocation keeps every byte */
	for (int i = 0; i < 2000; i++)
		metrics_sample(&t, "m", NULL, 0, i);
	assert_int_equal(t.err, 0);
	assert_non_null(strstr(t.buf, "\nm 1999\n"));
	free(t.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_serves_published_text),
		cmocka_unit_test(test_refuses_other_requests),
		cmocka_unit_test(test_idle_clients_hold_nothing),
		cmocka_unit_test(test_port_in_use),
		cmocka_unit_test(test_confine_before_serving),
		cmocka_unit_test(test_exposition_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
