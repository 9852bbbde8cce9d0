// SPDX-License-Identifier: GPL-2.0
/*
 * sink_files: one file per direction per stream in an output directory, named
 * as tcpflow 1.6 names them, written as data arrives.
 *
 * Names: SRC.SPORT-DST.DPORT, where SRC/DST are the sending and receiving side
 * of that direction. IPv4 addresses have their octets zero-padded to three
 * digits, IPv6 addresses are in inet_ntop's canonical form (tcpflow's "%A"/"%B"),
 * ports are zero-padded to five digits:
 *
 *   198.018.000.001.40380-198.018.000.002.08080
 *   2001:db8:1:2::1002.35023-2001:db8:1:2::1000.00080
 *
 * Like tcpflow, a file is created with O_EXCL at the first byte of its
 * direction (a direction that carried nothing has no file), and when the name
 * is taken the next of NAMEc1, NAMEc2, ... that is free is used. A 4-tuple used
 * again after its stream ended therefore gets c1, c2, ...; a file left by an
 * earlier run, or a symbolic link planted under a name, is never written
 * through or overwritten (O_EXCL fails on both) but skipped. That a name was
 * skipped because of something that was already there is said once.
 *
 * Data is written with pwrite at its stream offset, so bytes that never came
 * are holes that read as NUL bytes (tcpflow seeks the same way); a gap at the
 * end of a direction leaves the file at the end of its last data. When the
 * stream ends the file's times are set to the first packet of its direction,
 * as tcpflow does.
 *
 * At most max_open files are open at once: the least recently written one is
 * closed to make room and opened again (without O_CREAT, O_NOFOLLOW) when more
 * of its data comes. A direction whose file cannot be opened again (removed
 * or replaced meanwhile) is given up, said once and counted. Errors that will
 * hit every file (disk full, no permission) are returned, which switches the
 * sink off.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "list.h"
#include "sink.h"

#define FILES_DEFAULT_MAX_OPEN 256
/* names tried per file before giving up on it: NAME, NAMEc1, ... */
#define FILES_MAX_NAME_TRIES 10000
/* "addr.port-addr.port" with the longest inet_ntop output and "c4294967295" */
#define FILES_NAME_MAX (2 * (INET6_ADDRSTRLEN + 6) + 12)



/* One direction of one stream. */
struct files_half {
	struct xs_link lru; /* in files_priv.lru while fd >= 0 */
	int fd;		       /* -1 while closed */
	__u32 conn;	       /* the cN of its name, 0 for none */
	bool created;
	bool failed; /* given up: its data is dropped */
};

/* Per stream, allocated at its first byte of data. */
struct files_stream {
	struct xs_link live; /* in files_priv.live until the stream closes */
	struct files_half h[2];
};

struct files_priv {
	int dirfd;
	char *dir; /* as given, for messages */
	int max_open;
	int n_open;
	struct xs_link lru;	/* open files, most recently written first */
	struct xs_link live; /* streams with a files_stream */
	__u64 files;		/* files created */
	__u64 bytes;		/* bytes written */
	__u64 skipped;		/* names skipped because something was there before us */
	__u64 given_up;		/* directions given up after their file was created */
	bool warned_skipped;
	bool warned_given_up;
};

static void files_endpoint(char *buf, size_t size, int family, const __u8 *addr, __u16 port)
{
	char a[INET6_ADDRSTRLEN];

	if (family == 6) {
		if (!inet_ntop(AF_INET6, addr, a, sizeof(a)))
			snprintf(a, sizeof(a), "?");
		snprintf(buf, size, "%s.%05u", a, port);
	} else {
		snprintf(buf, size, "%03u.%03u.%03u.%03u.%05u", addr[0], addr[1], addr[2], addr[3],
			 port);
	}
}

/* The name of direction dir of st with connection count conn (tcpflow's %A.%a-%B.%b%C%c). */
static void files_name(char *buf, size_t size, const struct stream *st, int dir, __u32 conn)
{
	char a[INET6_ADDRSTRLEN + 8], b[INET6_ADDRSTRLEN + 8];
	int n;

	files_endpoint(a, sizeof(a), st->family, st->saddr, st->sport);
	files_endpoint(b, sizeof(b), st->family, st->daddr, st->dport);
	if (dir == STREAM_OUT)
		n = snprintf(buf, size, "%s-%s", b, a);
	else
		n = snprintf(buf, size, "%s-%s", a, b);
	if (conn && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - n, "c%u", conn);
}

static void files_close_half(struct files_priv *p, struct files_half *h)
{
	if (h->fd < 0)
		return;
	close(h->fd);
	h->fd = -1;
	xs_link_del(&h->lru);
	p->n_open--;
}

/* Closes the least recently written file; returns false when none is open. */
static bool files_evict_one(struct files_priv *p)
{
	if (p->lru.prev == &p->lru)
		return false;
	files_close_half(p, container_of(p->lru.prev, struct files_half, lru));
	return true;
}

/* openat that makes room in the LRU first, and once more when the process is out of
 * descriptors. Returns the fd or -errno. */
static int files_openat(struct files_priv *p, const char *name, int flags)
{
	int fd;

	while (p->n_open >= p->max_open && files_evict_one(p))
		;
	for (;;) {
		fd = openat(p->dirfd, name, flags, sinks_file_mode());
		if (fd >= 0)
			return fd;
		if ((errno != EMFILE && errno != ENFILE) || !files_evict_one(p))
			return -errno;
	}
}

static void files_give_up(struct files_priv *p, struct files_half *h, const char *name,
			  const char *why)
{
	h->failed = true;
	p->given_up++;
	if (!p->warned_given_up) {
		pr_warn("%s/%s: %s; the rest of that flow is not written (said once, counted)\n",
			p->dir, name, why);
		p->warned_given_up = true;
	}
}

/* Creates the file of direction dir under the first free name, as tcpflow does. */
static int files_create(struct files_priv *p, struct stream *st, int dir, struct files_half *h)
{
	const int flags = O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC;
	char name[FILES_NAME_MAX];
	__u32 conn;
	int fd = -EEXIST;

	for (conn = 0; conn < FILES_MAX_NAME_TRIES; conn++) {
		files_name(name, sizeof(name), st, dir, conn);
		fd = files_openat(p, name, flags);
		if (fd != -EEXIST)
			break;
	}
	if (fd == -EEXIST) {
		files_give_up(p, h, name, "no free name (too many files of this flow)");
		return 0;
	}
	if (fd < 0) {
		pr_warn("failed to create %s/%s: %s; -o is switched off, the other outputs go on\n",
			p->dir, name, strerror(-fd));
		return fd;
	}
	/* conn > reuse: a name was taken by something this run did not write */
	if (conn > st->reuse) {
		p->skipped++;
		if (!p->warned_skipped) {
			pr_warn("%s: files from before are kept; flows whose name is taken are "
				"written to the next free name (first: %s)\n",
				p->dir, name);
			p->warned_skipped = true;
		}
	}
	h->fd = fd;
	h->conn = conn;
	h->created = true;
	xs_link_add(&p->lru, &h->lru);
	p->n_open++;
	p->files++;
	return 0;
}

/* Opens a file that the LRU closed; a file that is gone or was replaced gives up its direction. */
static int files_reopen(struct files_priv *p, struct stream *st, int dir, struct files_half *h)
{
	const int flags = O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	char name[FILES_NAME_MAX];
	struct stat sb;
	int fd;

	files_name(name, sizeof(name), st, dir, h->conn);
	fd = files_openat(p, name, flags);
	if (fd == -ENOENT || fd == -ELOOP || fd == -ENXIO || fd == -EACCES || fd == -EISDIR) {
		files_give_up(p, h, name, strerror(-fd));
		return 0;
	}
	if (fd < 0) {
		pr_warn("failed to open %s/%s again: %s; -o is switched off, the other outputs go "
			"on\n",
			p->dir, name, strerror(-fd));
		return fd;
	}
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		files_give_up(p, h, name, "replaced by something that is not a regular file");
		return 0;
	}
	h->fd = fd;
	xs_link_add(&p->lru, &h->lru);
	p->n_open++;
	return 0;
}

static struct files_stream *files_stream_get(struct files_priv *p, struct sink *s,
					     struct stream *st)
{
	struct files_stream *fs = st->sink_priv[s->idx];
	int d;

	if (fs)
		return fs;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return NULL;
	for (d = 0; d < 2; d++) {
		fs->h[d].fd = -1;
		xs_link_init(&fs->h[d].lru);
	}
	xs_link_add(&p->live, &fs->live);
	st->sink_priv[s->idx] = fs;
	return fs;
}

static int files_stream_data(struct sink *s, struct stream *st, int dir, __u64 off, const __u8 *buf,
			     size_t len)
{
	struct files_priv *p = s->priv;
	struct files_stream *fs;
	struct files_half *h;
	int err;

	if (!len || (dir != STREAM_IN && dir != STREAM_OUT))
		return 0;
	if (off > (__u64)INT64_MAX - len)
		return -EFBIG;
	fs = files_stream_get(p, s, st);
	if (!fs)
		return -ENOMEM;
	h = &fs->h[dir];
	if (h->failed)
		return 0;
	if (!h->created)
		err = files_create(p, st, dir, h);
	else if (h->fd < 0)
		err = files_reopen(p, st, dir, h);
	else
		err = 0;
	if (err < 0)
		s->reported = true; /* said, naming the file */
	if (err || h->failed)
		return err;

	/* most recently written first */
	xs_link_del(&h->lru);
	xs_link_add(&p->lru, &h->lru);

	while (len) {
		ssize_t n = pwrite(h->fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			char name[FILES_NAME_MAX];

			err = n < 0 ? -errno : -EIO;
			files_name(name, sizeof(name), st, dir, h->conn);
			pr_warn("failed to write %s/%s: %s; -o is switched off, the other "
				"outputs go on\n",
				p->dir, name, strerror(-err));
			s->reported = true;
			return err;
		}
		buf += n;
		len -= (size_t)n;
		off += (__u64)n;
		p->bytes += (__u64)n;
	}
	return 0;
}

/* Gives the file the time of the first packet of its direction, as tcpflow does. */
static void files_set_time(struct files_priv *p, struct stream *st, int dir, struct files_half *h)
{
	__u64 ts = st->half[dir].first_ts ? st->half[dir].first_ts : st->first_ts;
	struct timespec t[2];
	char name[FILES_NAME_MAX];

	t[0].tv_sec = (time_t)(ts / 1000000000ULL);
	t[0].tv_nsec = (long)(ts % 1000000000ULL);
	t[1] = t[0];
	if (h->fd >= 0) {
		if (futimens(h->fd, t))
			pr_debug("failed to set the times of a file in %s: %s\n", p->dir,
				 strerror(errno));
		return;
	}
	files_name(name, sizeof(name), st, dir, h->conn);
	if (utimensat(p->dirfd, name, t, AT_SYMLINK_NOFOLLOW))
		pr_debug("failed to set the times of %s/%s: %s\n", p->dir, name, strerror(errno));
}

static void files_stream_free(struct files_priv *p, struct files_stream *fs)
{
	files_close_half(p, &fs->h[STREAM_IN]);
	files_close_half(p, &fs->h[STREAM_OUT]);
	xs_link_del(&fs->live);
	free(fs);
}

static int files_stream_close(struct sink *s, struct stream *st)
{
	struct files_priv *p = s->priv;
	struct files_stream *fs = st->sink_priv[s->idx];
	int d;

	if (!fs)
		return 0;
	if (!s->failed)
		for (d = 0; d < 2; d++)
			if (fs->h[d].created && !fs->h[d].failed)
				files_set_time(p, st, d, &fs->h[d]);
	files_stream_free(p, fs);
	st->sink_priv[s->idx] = NULL;
	return 0;
}

static void files_destroy(struct sink *s)
{
	struct files_priv *p;

	if (!s)
		return;
	p = s->priv;
	if (p) {
		/* streams the flow table never closed (an error path) */
		while (p->live.next != &p->live)
			files_stream_free(
			    p, container_of(p->live.next, struct files_stream, live));
		if (p->skipped)
			pr_info(
			    "%s: %llu files written under a later name, the first being taken\n",
			    p->dir, (unsigned long long)p->skipped);
		if (p->given_up)
			pr_warn("%s: %llu flow directions not written to the end\n", p->dir,
				(unsigned long long)p->given_up);
		pr_debug("%s: %llu files, %llu bytes written\n", p->dir,
			 (unsigned long long)p->files, (unsigned long long)p->bytes);
		if (p->dirfd >= 0)
			close(p->dirfd);
		free(p->dir);
		free(p);
	}
	free(s);
}

static const struct sink_ops files_ops = {
    .name = "files",
    .stream_data = files_stream_data,
    .stream_close = files_stream_close,
    .destroy = files_destroy,
};

struct sink *sink_files_new(const char *dir, int max_open)
{
	struct files_priv *p;
	struct sink *s;
	int err;

	if (!dir || !*dir) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto err;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		err = -ENOMEM;
		goto err_free_sink;
	}
	p->max_open = max_open > 0 ? max_open : FILES_DEFAULT_MAX_OPEN;
	xs_link_init(&p->lru);
	xs_link_init(&p->live);
	p->dirfd = sinks_open_dir("output directory", dir, &p->dir);
	if (p->dirfd < 0) {
		err = p->dirfd;
		goto err_free_priv;
	}
	s->ops = &files_ops;
	s->priv = p;
	return s;

err_free_priv:
	free(p);
err_free_sink:
	free(s);
err:
	errno = -err;
	return NULL;
}
