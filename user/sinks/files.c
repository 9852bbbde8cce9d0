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
 * end of a direction leaves the file at the end of its last data. Contiguous
 * data is gathered first in one of a few write buffers (FILES_WBUF_SLOTS of
 * FILES_WBUF_SIZE, given to the directions written most recently), so that a
 * bulk transfer costs one pwrite per buffer rather than one per segment; a
 * buffer goes to its file when it is full, when its data stops being
 * contiguous, when another direction needs it, when the file is closed, when
 * the stream ends and on every flush (once a second in `load`). When the
 * stream ends the file's times are set to the first packet of its direction,
 * as tcpflow does.
 *
 * At most max_open files are open at once: the least recently written one is
 * closed to make room and opened again (without O_CREAT, O_NOFOLLOW) when more
 * of its data comes. A direction whose file cannot be opened again (removed
 * or replaced meanwhile) is given up, said once and counted. Errors that will
 * hit every file (disk full, no permission) are returned, which switches the
 * sink off.
 *
 * With --max-output-bytes (sink_files_set_max_bytes), what is written is counted by
 * retain (sinks/retain.h): a stream that ends hands it its file names and bytes, and the
 * files of the oldest finished streams are deleted, after that and on every flush, while
 * the directory holds more than the cap. Streams still open are never deleted: the tree
 * can exceed the cap by what they hold (and by at most a second of writes before a flush
 * deletes).
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
#include "sinks/retain.h"
#include "sinks/sink.h"

#define FILES_DEFAULT_MAX_OPEN 256
/* write buffers: 256 KiB in all, whatever the number of streams */
#define FILES_WBUF_SLOTS 8
#define FILES_WBUF_SIZE (32 * 1024)
/* names tried per file before giving up on it: NAME, NAMEc1, ... */
#define FILES_MAX_NAME_TRIES 10000
/* flow directions whose next name is remembered: 4-way sets, 16 B an entry, 4 MiB in all,
 * allocated at the first file (touched as flows come) */
#define FILES_HINT_SETS (1u << 16)
#define FILES_HINT_WAYS 4
/* "addr.port-addr.port" with the longest inet_ntop output and "c4294967295" */
#define FILES_NAME_MAX (2 * (INET6_ADDRSTRLEN + 6) + 12)



/* One direction of one stream. */
struct files_half {
	struct xs_link lru; /* in files_priv.lru while fd >= 0 */
	int fd;		       /* -1 while closed */
	__u32 conn;	       /* the cN of its name, 0 for none */
	bool created;
	bool failed; /* given up: its data is dropped */
	__u64 written; /* bytes written to its file (retain counts them) */
	__u8 wbuf;   /* 1 + the index of its write buffer, 0 for none */
};

struct files_hint {
	__u64 key;  /* files_hint()'s hash of the name, 0 for none */
	__u32 next; /* the cN to try first */
	__u32 used; /* files_priv.hint_clock when last set */
};

/* Data of one direction not yet written: len bytes at stream offset off. */
struct files_wbuf {
	struct xs_link lru;	 /* in files_priv.wbuf_lru, most recently used first */
	struct files_half *h; /* the owner, NULL when free */
	struct stream *st;	 /* the owner's stream and direction, for messages */
	int dir;
	__u64 off;
	size_t len;
	__u8 *data; /* FILES_WBUF_SIZE, allocated at first use */
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
	struct files_wbuf wbuf[FILES_WBUF_SLOTS];
	struct xs_link wbuf_lru;
	struct files_hint *hints; /* FILES_HINT_SETS x FILES_HINT_WAYS, NULL until the first file */
	__u32 hint_clock;
	__u64 files;		/* files created */
	__u64 bytes;		/* bytes written */
	__u64 skipped;		/* names skipped because something was there before us */
	__u64 given_up;		/* directions given up after their file was created */
	bool warned_skipped;
	bool warned_given_up;
	bool write_failed; /* a write failed and was said */
	struct retain *retain; /* --max-output-bytes, NULL without */
	bool warned_retain;    /* a deletion failed and was said */
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

/* pwrite of all of buf at off to h's file; a failure is said, naming the file. */
static int files_pwrite(struct files_priv *p, struct stream *st, int dir, struct files_half *h,
			__u64 off, const __u8 *buf, size_t len)
{
	while (len) {
		ssize_t n = pwrite(h->fd, buf, len, (off_t)off);
		char name[FILES_NAME_MAX];
		int err;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			files_name(name, sizeof(name), st, dir, h->conn);
			pr_warn("failed to write %s/%s: %s; -o is switched off, the other "
				"outputs go on\n",
				p->dir, name, strerror(-err));
			p->write_failed = true;
			return err;
		}
		sinks_count_written((__u64)n);
		buf += n;
		len -= (size_t)n;
		off += (__u64)n;
		p->bytes += (__u64)n;
		h->written += (__u64)n;
		if (p->retain)
			retain_written(p->retain, (__u64)n);
	}
	return 0;
}

/* Writes what b holds (unless discard) and frees it from its owner. */
static int files_wbuf_release(struct files_priv *p, struct files_wbuf *b, bool discard)
{
	int err = 0;

	if (!b->h)
		return 0;
	if (b->len && !discard)
		err = files_pwrite(p, b->st, b->dir, b->h, b->off, b->data, b->len);
	b->h->wbuf = 0;
	b->h = NULL;
	b->len = 0;
	return err;
}

/* Writes what h's buffer holds and gives the buffer back (discard: drops it). */
static int files_half_flush(struct files_priv *p, struct files_half *h, bool discard)
{
	return h->wbuf ? files_wbuf_release(p, &p->wbuf[h->wbuf - 1], discard) : 0;
}

/* Closes h's file after writing its buffer (dropping it when discard). */
static int files_close_half(struct files_priv *p, struct files_half *h, bool discard)
{
	int err;

	if (h->fd < 0)
		return 0;
	err = files_half_flush(p, h, discard);
	close(h->fd);
	h->fd = -1;
	xs_link_del(&h->lru);
	p->n_open--;
	return err;
}

/* Closes the least recently written file: 1 when one was closed, 0 when none is open,
 * -errno when its buffered data could not be written. */
static int files_evict_one(struct files_priv *p)
{
	int err;

	if (p->lru.prev == &p->lru)
		return 0;
	err = files_close_half(p, container_of(p->lru.prev, struct files_half, lru), false);
	return err < 0 ? err : 1;
}

/* openat that makes room in the LRU first, and once more when the process is out of
 * descriptors. Returns the fd or -errno. */
static int files_openat(struct files_priv *p, const char *name, int flags)
{
	int fd, r;

	while (p->n_open >= p->max_open)
		if ((r = files_evict_one(p)) <= 0) {
			if (r < 0)
				return r;
			break;
		}
	for (;;) {
		fd = openat(p->dirfd, name, flags, sinks_file_mode());
		if (fd >= 0)
			return fd;
		fd = -errno;
		if (fd != -EMFILE && fd != -ENFILE)
			return fd;
		r = files_evict_one(p);
		if (r <= 0)
			return r < 0 ? r : fd;
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

/* The hint of a flow direction: FNV-1a of its name without the cN picks a set of
 * FILES_HINT_WAYS; in it the entry with that hash, else the least recently used one (*key
 * then does not match). NULL when the table cannot be allocated. */
static struct files_hint *files_hint(struct files_priv *p, const char *base, __u64 *key)
{
	__u64 h = 0xcbf29ce484222325ULL;
	struct files_hint *set, *old;
	const char *c;
	int i;

	for (c = base; *c; c++)
		h = (h ^ (__u8)*c) * 0x100000001b3ULL;
	*key = h | 1; /* 0 marks a free entry */
	if (!p->hints) {
		p->hints = calloc(FILES_HINT_SETS * FILES_HINT_WAYS, sizeof(*p->hints));
		if (!p->hints)
			return NULL;
	}
	set = &p->hints[((h ^ (h >> 32)) & (FILES_HINT_SETS - 1)) * FILES_HINT_WAYS];
	old = set;
	for (i = 0; i < FILES_HINT_WAYS; i++) {
		if (set[i].key == *key)
			return &set[i];
		if (set[i].used < old->used)
			old = &set[i];
	}
	return old;
}

/*
 * Creates the file of direction dir under the first free name, as tcpflow does. Names below
 * the one this run last created for the same flow direction were all taken then, so the
 * search starts after it (a hint kept per flow direction, see files_hint()): without it, a
 * 4-tuple used n times costs n failed openat calls per file, 67% of all openat calls when
 * wrk reused ports for 10 s.
 */
static int files_create(struct files_priv *p, struct stream *st, int dir, struct files_half *h)
{
	const int flags = O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC;
	char name[FILES_NAME_MAX];
	struct files_hint *hint;
	__u32 conn, start = 0, tries;
	bool hit = false;
	__u64 key = 0;
	size_t n;
	int fd = -EEXIST;

	files_name(name, sizeof(name), st, dir, 0);
	n = strlen(name);
	hint = files_hint(p, name, &key);
	if (hint && hint->key == key) {
		start = hint->next;
		hit = true;
	}
	for (conn = start, tries = 0; tries < FILES_MAX_NAME_TRIES; conn++, tries++) {
		if (conn)
			snprintf(name + n, sizeof(name) - n, "c%u", conn);
		fd = files_openat(p, name, flags);
		if (fd != -EEXIST)
			break;
	}
	if (fd == -EEXIST) {
		files_give_up(p, h, name, "no free name (too many files of this flow)");
		return 0;
	}
	if (fd < 0) {
		/* unless it was the write of another file's buffer that failed, and was said */
		if (!p->write_failed)
			pr_warn("failed to create %s/%s: %s; -o is switched off, the other "
				"outputs go on\n",
				p->dir, name, strerror(-fd));
		return fd;
	}
	if (hint) {
		hint->key = key;
		hint->next = conn + 1;
		hint->used = ++p->hint_clock;
	}
	/* a name was taken by something this run did not write: one at or past the hint, or
	 * without a hint, past the names of the 4-tuple's earlier streams */
	if (hit ? conn > start : conn > st->reuse) {
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
		if (!p->write_failed)
			pr_warn("failed to open %s/%s again: %s; -o is switched off, the other "
				"outputs go on\n",
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

/* A buffer for h: the one it has, a free one, or the least recently used one after writing
 * out what it holds. NULL when none could be allocated (h is then written unbuffered);
 * *err gets the error of writing out another direction's data. */
static struct files_wbuf *files_wbuf_get(struct files_priv *p, struct stream *st, int dir,
					 struct files_half *h, int *err)
{
	struct files_wbuf *b = NULL;
	int i;

	*err = 0;
	if (h->wbuf)
		return &p->wbuf[h->wbuf - 1];
	for (i = 0; i < FILES_WBUF_SLOTS && !b; i++)
		if (!p->wbuf[i].h)
			b = &p->wbuf[i];
	if (!b) {
		b = container_of(p->wbuf_lru.prev, struct files_wbuf, lru);
		*err = files_wbuf_release(p, b, false);
		if (*err)
			return NULL;
	}
	if (!b->data) {
		b->data = malloc(FILES_WBUF_SIZE);
		if (!b->data)
			return NULL;
	}
	b->h = h;
	b->st = st;
	b->dir = dir;
	b->len = 0;
	h->wbuf = (__u8)(b - p->wbuf + 1);
	return b;
}

/* Appends len bytes at off to h's buffer, writing out first what cannot be appended to;
 * data that fills a buffer by itself is written at once. */
static int files_write(struct files_priv *p, struct stream *st, int dir, struct files_half *h,
		       __u64 off, const __u8 *buf, size_t len)
{
	struct files_wbuf *b = h->wbuf ? &p->wbuf[h->wbuf - 1] : NULL;
	int err;

	if (b && b->len && (off != b->off + b->len || b->len + len > FILES_WBUF_SIZE)) {
		err = files_pwrite(p, st, dir, h, b->off, b->data, b->len);
		b->len = 0;
		if (err)
			return err;
	}
	if (len >= FILES_WBUF_SIZE)
		return files_pwrite(p, st, dir, h, off, buf, len);
	b = files_wbuf_get(p, st, dir, h, &err);
	if (err)
		return err;
	if (!b)
		return files_pwrite(p, st, dir, h, off, buf, len);
	if (!b->len)
		b->off = off;
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	xs_link_del(&b->lru);
	xs_link_add(&p->wbuf_lru, &b->lru);
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
	err = files_write(p, st, dir, h, off, buf, len);
	if (err)
		s->reported = true; /* said, naming the file */
	return err;
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

/* Frees fs, dropping what its buffers hold (the caller wrote it out if it was to be kept). */
static void files_stream_free(struct files_priv *p, struct files_stream *fs)
{
	files_close_half(p, &fs->h[STREAM_IN], true);
	files_close_half(p, &fs->h[STREAM_OUT], true);
	xs_link_del(&fs->live);
	free(fs);
}

/* --max-output-bytes: deletes the oldest finished streams while over the cap. A deletion that
 * fails (a file made read-only by someone) is said once; the capture goes on. */
static void files_enforce(struct files_priv *p)
{
	int r;

	if (!p->retain)
		return;
	r = retain_enforce(p->retain);
	if (r < 0 && !p->warned_retain) {
		pr_warn("%s: cannot delete the files of old streams for --max-output-bytes: %s; "
			"the directory may grow past it (said once)\n",
			p->dir, strerror(-r));
		p->warned_retain = true;
	}
}

/* A stream ended: its files (whatever happened to them) may be deleted from now on (by
 * files_enforce(), once they are closed). */
static void files_retain_finished(struct files_priv *p, struct stream *st,
				  struct files_stream *fs)
{
	char names[2][FILES_NAME_MAX];
	const char *v[2];
	__u64 bytes = 0;
	int d, n = 0;

	if (!p->retain)
		return;
	for (d = 0; d < 2; d++) {
		if (!fs->h[d].created)
			continue;
		files_name(names[n], sizeof(names[n]), st, d, fs->h[d].conn);
		v[n] = names[n];
		n++;
		bytes += fs->h[d].written;
	}
	if (n && retain_finished(p->retain, v, n, bytes) && !p->warned_retain) {
		pr_warn("%s: out of memory: files of a stream are kept past --max-output-bytes "
			"(said once)\n",
			p->dir);
		p->warned_retain = true;
	}
}

static int files_stream_close(struct sink *s, struct stream *st)
{
	struct files_priv *p = s->priv;
	struct files_stream *fs = st->sink_priv[s->idx];
	int d, err = 0;

	if (!fs)
		return 0;
	for (d = 0; d < 2 && !s->failed && !err; d++)
		err = files_half_flush(p, &fs->h[d], false);
	if (!s->failed && !err)
		for (d = 0; d < 2; d++)
			if (fs->h[d].created && !fs->h[d].failed)
				files_set_time(p, st, d, &fs->h[d]);
	files_retain_finished(p, st, fs);
	files_stream_free(p, fs);
	files_enforce(p);
	st->sink_priv[s->idx] = NULL;
	if (err)
		s->reported = true; /* said, naming the file */
	return err;
}

/* Writes out every buffer (they stay with their directions). */
static int files_flush(struct sink *s)
{
	struct files_priv *p = s->priv;
	struct files_wbuf *b;
	int i, err;

	for (i = 0; i < FILES_WBUF_SLOTS; i++) {
		b = &p->wbuf[i];
		if (!b->h || !b->len)
			continue;
		err = files_pwrite(p, b->st, b->dir, b->h, b->off, b->data, b->len);
		b->len = 0;
		if (err) {
			s->reported = true;
			return err;
		}
	}
	/* open streams grew: finished ones make room */
	files_enforce(p);
	return 0;
}

static void files_destroy(struct sink *s)
{
	struct files_priv *p;
	int i;

	if (!s)
		return;
	p = s->priv;
	if (p) {
		/* streams the flow table never closed (an error path): their data is kept */
		if (!s->failed)
			files_flush(s);
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
		retain_free(p->retain);
		for (i = 0; i < FILES_WBUF_SLOTS; i++)
			free(p->wbuf[i].data);
		free(p->hints);
		if (p->dirfd >= 0)
			close(p->dirfd);
		free(p->dir);
	}
	sink_free(s);
}

static const struct sink_ops files_ops = {
    .name = "files",
    .stream_data = files_stream_data,
    .stream_close = files_stream_close,
    .flush = files_flush,
    .destroy = files_destroy,
};

struct sink *sink_files_new(const char *dir, int max_open)
{
	struct files_priv *p;
	struct sink *s;
	int err, i;

	if (!dir || !*dir) {
		errno = EINVAL;
		return NULL;
	}
	s = sink_alloc(&files_ops, sizeof(*p));
	if (!s)
		return NULL;
	p = s->priv;
	p->max_open = max_open > 0 ? max_open : FILES_DEFAULT_MAX_OPEN;
	xs_link_init(&p->lru);
	xs_link_init(&p->live);
	xs_link_init(&p->wbuf_lru);
	for (i = 0; i < FILES_WBUF_SLOTS; i++)
		xs_link_add(&p->wbuf_lru, &p->wbuf[i].lru);
	p->dirfd = sinks_open_dir("output directory", dir, &p->dir);
	if (p->dirfd < 0) {
		err = p->dirfd;
		sink_free(s);
		errno = -err;
		return NULL;
	}
	return s;
}

int sink_files_set_max_bytes(struct sink *s, __u64 max)
{
	struct files_priv *p;
	int err;

	if (!s || s->ops != &files_ops || !max)
		return -EINVAL;
	p = s->priv;
	retain_free(p->retain);
	p->retain = retain_new(p->dirfd, max);
	if (!p->retain) {
		err = -errno;
		pr_warn("cannot read output directory %s for --max-output-bytes: %s\n", p->dir,
			strerror(-err));
		return err;
	}
	/* files of earlier runs over the cap go now */
	files_enforce(p);
	return 0;
}

int sink_files_retain_stats(const struct sink *s, struct retain_stats *out)
{
	const struct files_priv *p;

	if (!s || s->ops != &files_ops)
		return -EINVAL;
	p = s->priv;
	if (!p->retain)
		return -ENOENT;
	retain_get_stats(p->retain, out);
	return 0;
}
