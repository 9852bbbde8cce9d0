/* SPDX-License-Identifier: GPL-2.0 */
/*
 * metrics: the Prometheus endpoint of `load --metrics [ADDR:]PORT`. libmicrohttpd serves
 * GET /metrics on a thread of its own from the last text the capture published with
 * metrics_publish(); that thread never reads capture, flow or sink state, so a slow or
 * hostile client can hold at most its own connections (a limit per client address, one
 * in all, and an idle timeout end them), never the ring reader. The text is the Prometheus
 * text exposition format (version 0.0.4), built with the metrics_text helpers below.
 *
 * The thread is made by metrics_start(), while the process still holds its privileges (a
 * thread made later would have to be allowed by load's seccomp filter), and serves only
 * once metrics_serve() has let it confine itself: capabilities and a seccomp filter are per
 * thread, so the privileges load drops on its main thread afterwards never reach it.
 */
#ifndef XS_METRICS_H
#define XS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <linux/types.h>

/* Connections served at once, of those from one client address, and seconds a connection
 * may sit idle: one host holding its share idle (or trickling a request) cannot keep a
 * scraper on another host out. */
#define METRICS_MAX_CONNECTIONS 64
#define METRICS_MAX_PER_ADDRESS 16
#define METRICS_TIMEOUT_S 5

struct metrics;

/*
 * Parses [ADDR:]PORT: "9100" is 127.0.0.1:9100 (the default is loopback: anything else
 * only when given), "0.0.0.0:9100", "[::1]:9100", "[::]:9100". PORT 0 takes a free port
 * (metrics_port() tells which). Returns 0 or -EINVAL.
 */
int metrics_parse_listen(const char *arg, struct sockaddr_storage *ss, socklen_t *len);

/* Binds, listens and makes the serving thread, which waits for metrics_serve() (connections
 * wait in the listen queue until then). NULL with errno set when the address cannot be
 * bound (EADDRINUSE, EACCES, EADDRNOTAVAIL, ...) or libmicrohttpd cannot be loaded
 * (ENOENT, said on stderr). */
struct metrics *metrics_start(const struct sockaddr_storage *ss, socklen_t len);
/*
 * Lets the thread run confine (NULL: nothing) on itself, then serve (an empty body until
 * the first metrics_publish). Returns 0, or confine's -errno: the thread then serves
 * nothing and metrics_stop() ends it.
 */
int metrics_serve(struct metrics *m, int (*confine)(void));
/* The port bound (the one chosen when PORT was 0). */
__u16 metrics_port(const struct metrics *m);
/* Replaces the text served from now on; copies it. Returns 0 or -ENOMEM. Never waits for a
 * client: only for the copy of another publish or response under one mutex. */
int metrics_publish(struct metrics *m, const char *text, size_t len);
/* Scrapes served, and requests refused (404/405), since the start. */
__u64 metrics_scrapes(const struct metrics *m);
/* Stops the thread, closes every connection and frees; NULL is fine. */
void metrics_stop(struct metrics *m);

/*
 * A growing exposition text. Every sample of one metric follows that metric's family
 * line (# HELP and # TYPE) before another family starts. Allocation failures are kept in
 * err and make the later calls no-ops; the caller owns buf and frees it.
 */
struct metrics_text {
	char *buf;
	size_t len;
	size_t cap;
	int err;
};

/* # HELP and # TYPE lines; type is "counter" or "gauge". */
void metrics_family(struct metrics_text *t, const char *name, const char *type,
		    const char *help);
/* name{k1="v1",...} value, with label values escaped as the format wants. labels holds
 * nlabels key/value pairs: { "interface", "eth0", "direction", "in" }. */
void metrics_sample(struct metrics_text *t, const char *name, const char *const *labels,
		    int nlabels, __u64 value);

#endif
