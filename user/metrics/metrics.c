// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>

#include "log.h"
#include "metrics/metrics.h"

/*
 * libmicrohttpd is opened with dlopen() by metrics_start() only: linked in, it and the TLS
 * stack it pulls in (GnuTLS, nettle, p11-kit, gmp) cost every xdp-sniff process 2.3 MB of
 * resident memory, which the idle RSS SECURITY.md documents has no room for. The calls go
 * through pointers typed from the library's own header.
 */
#define MHD_SONAME "libmicrohttpd.so.12"
#define MHD_FUNCS(X)                                                                           \
	X(MHD_start_daemon) X(MHD_stop_daemon) X(MHD_get_daemon_info) X(MHD_run_wait)          \
	X(MHD_create_response_from_buffer) X(MHD_add_response_header) X(MHD_queue_response)    \
	X(MHD_destroy_response)
#define MHD_PTR(f) __typeof__(&f) f;
static struct {
	MHD_FUNCS(MHD_PTR)
} mhd;
#undef MHD_PTR
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;
static int mhd_state;	/* 0 or -ENOENT once mhd_load() ran */

static void mhd_load(void)
{
	const char *missing = NULL;
	void *h = dlopen(MHD_SONAME, RTLD_NOW | RTLD_LOCAL);

	mhd_state = -ENOENT;
	if (!h) {
		pr_warn("--metrics: cannot load %s: %s (install libmicrohttpd12: scripts/deps.sh)\n",
			MHD_SONAME, dlerror());
		return;
	}
#define MHD_SYM(f)                                                                             \
	mhd.f = (__typeof__(mhd.f))dlsym(h, #f);                                               \
	if (!mhd.f && !missing)                                                                \
		missing = #f;
	MHD_FUNCS(MHD_SYM)
#undef MHD_SYM
	if (missing) {
		pr_warn("--metrics: %s has no %s\n", MHD_SONAME, missing);
		dlclose(h);
		return;
	}
	mhd_state = 0;
}

#define METRICS_PATH "/metrics"
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* What the serving thread is told to do, under lock. */
enum metrics_order {
	METRICS_WAIT,	/* not yet: privileges are still being dropped */
	METRICS_GO,	/* confine yourself, then serve */
	METRICS_STOP,
};

/* How long the serving thread waits for network events before it looks at stop again: how
 * long metrics_stop() may take. */
#define METRICS_STOP_POLL_MS 200

struct metrics {
	struct MHD_Daemon *daemon;	/* external event loop: run by thread only */
	pthread_t thread;
	pthread_mutex_t lock;	/* guards text, len, the counters and the order handshake */
	pthread_cond_t cond;
	enum metrics_order order;
	int (*confine)(void);
	bool confined;		/* the thread ran confine; confine_err is its result */
	int confine_err;
	atomic_bool stop;
	char *text;
	size_t len;
	__u16 port;
	__u64 scrapes;
	__u64 refused;
};

int metrics_parse_listen(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2] = "127.0.0.1";
	const char *port_s = arg;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	unsigned long port;
	char *end;

	if (!arg || !*arg)
		return -EINVAL;
	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		if (!close || close[1] != ':' || (size_t)(close - arg - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, arg + 1, close - arg - 1);
		host[close - arg - 1] = '\0';
		port_s = close + 2;
	} else if (strchr(arg, ':')) {
		const char *colon = strrchr(arg, ':');

		/* an address must be named: ":9100" would mean all addresses by accident */
		if (colon == arg || (size_t)(colon - arg) >= sizeof(host))
			return -EINVAL;
		memcpy(host, arg, colon - arg);
		host[colon - arg] = '\0';
		port_s = colon + 1;
	}
	if (!*port_s || *port_s == '-' || *port_s == '+')
		return -EINVAL;
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (errno || *end || port > 65535)
		return -EINVAL;

	memset(ss, 0, sizeof(*ss));
	/* brackets are for IPv6 only, as in URLs */
	if (arg[0] != '[' && inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return 0;
	}
	if (arg[0] == '[' && inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return 0;
	}
	return -EINVAL;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
			     const char *body, size_t len, bool allow_get)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = mhd.MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	mhd.MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				status == MHD_HTTP_OK ? METRICS_CONTENT_TYPE : "text/plain");
	if (allow_get)
		mhd.MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = mhd.MHD_queue_response(conn, status, r);
	mhd.MHD_destroy_response(r);
	return ret;
}

/* libmicrohttpd's request callback, on its thread: only the published text is read. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **req_cls)
{
	static const char not_found[] = "not found: the metrics are at " METRICS_PATH "\n";
	static const char not_allowed[] = "method not allowed: GET " METRICS_PATH "\n";
	struct metrics *m = cls;
	bool get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
	enum MHD_Result ret;

	(void)version;
	(void)upload_data;
	/* the first call has only the headers; a body (a POST's) is never read, so answer
	 * before it arrives */
	if (!*req_cls && get) {
		*req_cls = m;
		return MHD_YES;
	}
	*upload_size = 0;
	if (strcmp(url, METRICS_PATH)) {
		pthread_mutex_lock(&m->lock);
		m->refused++;
		pthread_mutex_unlock(&m->lock);
		return reply(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof(not_found) - 1, false);
	}
	if (!get) {
		pthread_mutex_lock(&m->lock);
		m->refused++;
		pthread_mutex_unlock(&m->lock);
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed,
			     sizeof(not_allowed) - 1, true);
	}
	pthread_mutex_lock(&m->lock);
	m->scrapes++;
	ret = reply(conn, MHD_HTTP_OK, m->text ? m->text : "", m->text ? m->len : 0, false);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	pr_debug("metrics: %s\n", line);
}

/* The serving thread: waits for metrics_serve(), confines itself, then runs libmicrohttpd's
 * event loop until metrics_stop(). */
static void *metrics_thread(void *arg)
{
	struct metrics *m = arg;
	int (*confine)(void);
	int err = 0;

	pthread_mutex_lock(&m->lock);
	while (m->order == METRICS_WAIT)
		pthread_cond_wait(&m->cond, &m->lock);
	if (m->order == METRICS_STOP) {
		pthread_mutex_unlock(&m->lock);
		return NULL;
	}
	confine = m->confine;
	pthread_mutex_unlock(&m->lock);

	if (confine)
		err = confine();
	pthread_mutex_lock(&m->lock);
	m->confined = true;
	m->confine_err = err;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (err)
		return NULL;
	while (!atomic_load(&m->stop)) {
		/* an error it cannot recover from: stop serving rather than spin */
		if (mhd.MHD_run_wait(m->daemon, METRICS_STOP_POLL_MS) != MHD_YES) {
			pr_warn("--metrics: the server failed; /metrics is no longer served (the "
				"capture goes on)\n");
			break;
		}
	}
	return NULL;
}

struct metrics *metrics_start(const struct sockaddr_storage *ss, socklen_t len)
{
	/* epoll, not select: the listening socket may well be past FD_SETSIZE in a process
	 * with an -o tree open */
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	sigset_t all, old;
	struct metrics *m;
	__u16 port;
	int err;

	(void)len;
	pthread_once(&mhd_once, mhd_load);
	if (mhd_state) {
		errno = -mhd_state;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	if (ss->ss_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	} else {
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	}
	errno = 0;
	m->daemon = mhd.MHD_start_daemon(flags, port, NULL, NULL, on_request, m,
				     MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)ss,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_MAX_CONNECTIONS,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				     (unsigned int)METRICS_MAX_PER_ADDRESS,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
				     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				     MHD_OPTION_END);
	if (!m->daemon) {
		err = errno ? errno : EADDRINUSE;
		goto err_free;
	}
	info = mhd.MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? info->port : port;
	/* signals are the main thread's: the capture loop wakes on them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&m->thread, NULL, metrics_thread, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto err_daemon;
	return m;

err_daemon:
	mhd.MHD_stop_daemon(m->daemon);
err_free:
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
	errno = err;
	return NULL;
}

int metrics_serve(struct metrics *m, int (*confine)(void))
{
	int err;

	pthread_mutex_lock(&m->lock);
	m->confine = confine;
	m->order = METRICS_GO;
	pthread_cond_broadcast(&m->cond);
	while (!m->confined)
		pthread_cond_wait(&m->cond, &m->lock);
	err = m->confine_err;
	pthread_mutex_unlock(&m->lock);
	return err;
}

__u16 metrics_port(const struct metrics *m)
{
	return m->port;
}

int metrics_publish(struct metrics *m, const char *text, size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	pthread_mutex_lock(&m->lock);
	free(m->text);
	m->text = copy;
	m->len = len;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

__u64 metrics_scrapes(const struct metrics *m)
{
	struct metrics *mm = (struct metrics *)m;
	__u64 n;

	pthread_mutex_lock(&mm->lock);
	n = mm->scrapes;
	pthread_mutex_unlock(&mm->lock);
	return n;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->order = METRICS_STOP;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	atomic_store(&m->stop, true);
	pthread_join(m->thread, NULL);
	mhd.MHD_stop_daemon(m->daemon);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m->text);
	free(m);
}

static void text_printf(struct metrics_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->err = -EINVAL;
			return;
		}
		if (t->buf && t->len + n < t->cap) {
			t->len += n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 4096;
		char *nb;

		while (cap <= t->len + n)
			cap *= 2;
		nb = realloc(t->buf, cap);
		if (!nb) {
			t->err = -ENOMEM;
			return;
		}
		t->buf = nb;
		t->cap = cap;
	}
}

void metrics_family(struct metrics_text *t, const char *name, const char *type,
		    const char *help)
{
	text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value in the exposition format: backslash, double quote and newline escaped. */
static void text_label_value(struct metrics_text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			text_printf(t, "\\\\");
		else if (*v == '"')
			text_printf(t, "\\\"");
		else if (*v == '\n')
			text_printf(t, "\\n");
		else
			text_printf(t, "%c", *v);
	}
}

void metrics_sample(struct metrics_text *t, const char *name, const char *const *labels,
		    int nlabels, __u64 value)
{
	text_printf(t, "%s", name);
	for (int i = 0; i < nlabels; i++) {
		text_printf(t, "%s%s=\"", i ? "," : "{", labels[2 * i]);
		text_label_value(t, labels[2 * i + 1]);
		text_printf(t, "\"");
	}
	text_printf(t, "%s %llu\n", nlabels ? "}" : "", (unsigned long long)value);
}
