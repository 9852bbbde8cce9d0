// SPDX-License-Identifier: GPL-2.0
/* spool: see spool.h for the format and the contract. */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export/spool.h"
#include "log.h"

#define SPOOL_READ_AHEAD (256u << 10)

/* One segment file: records first .. next-1, bytes long. */
struct spool_seg {
	__u64 first;
	__u64 next;
	__u64 bytes;
};

struct spool {
	int dirfd;
	char *dir;
	__u64 max_bytes, seg_bytes, sync_ns;
	__u64 epoch;
	__u32 run;
	__u64 next_seq;
	__u64 acked;
	bool acked_dirty;
	__u64 acked_written_ns;

	struct spool_seg *segs;	/* oldest first; the last one is written to when wfd >= 0 */
	int nsegs, cap;
	__u64 total;
	int wfd;
	bool dirty;		/* wfd has records not yet synced */
	__u64 dirty_since;

	/* the read cursor: next record rd_seq, at rd_off of the segment starting at rd_first */
	__u64 rd_seq;
	__u64 rd_first;
	__u64 rd_off;
	int rd_fd;
	__u8 *buf;		/* read ahead: bytes ra_off .. ra_off+ra_len of ra_fd */
	size_t buf_cap;
	int ra_fd;
	__u64 ra_off;
	size_t ra_len;
	const __u8 *rec;	/* the body spool_read_rec found, in buf */
	__u8 *wbuf;		/* a record being appended */
	size_t wbuf_cap;

	struct spool_stats st;
};

/*
 * CRC-32C. Every record is checksummed when it is written and again when it is read back
 * for publishing, so this runs over every byte exported twice: with SSE4.2 (every x86-64 CPU
 * since 2008) the crc32 instruction takes 8 bytes a step; elsewhere slicing by 8 tables.
 */
static __u32 crc_tab[8][256];
static bool crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (__u32 i = 0; i < 256; i++) {
		__u32 c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_tab[0][i] = c;
	}
	for (__u32 i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] = crc_tab[0][crc_tab[t - 1][i] & 0xff] ^ (crc_tab[t - 1][i] >> 8);
#if defined(__x86_64__)
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static __u32 crc_sse42(__u32 crc, const __u8 *p, size_t len)
{
	__u64 c = crc;

	for (; len && ((uintptr_t)p & 7); len--)
		c = __builtin_ia32_crc32qi((__u32)c, *p++);
	for (; len >= 8; len -= 8, p += 8) {
		__u64 v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	for (; len; len--)
		c = __builtin_ia32_crc32qi((__u32)c, *p++);
	return (__u32)c;
}
#endif

static __u32 crc_sw(__u32 crc, const __u8 *p, size_t len)
{
	for (; len >= 8; len -= 8, p += 8) {
		__u32 lo, hi;

		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
		lo = le32toh(lo) ^ crc;
		hi = le32toh(hi);
		crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^
		      crc_tab[5][(lo >> 16) & 0xff] ^ crc_tab[4][lo >> 24] ^
		      crc_tab[3][hi & 0xff] ^ crc_tab[2][(hi >> 8) & 0xff] ^
		      crc_tab[1][(hi >> 16) & 0xff] ^ crc_tab[0][hi >> 24];
	}
	while (len--)
		crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

__u32 spool_crc32c_sw(__u32 crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_sw(~crc, buf, len);
}

__u32 spool_crc32c(__u32 crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	if (crc_hw)
		return ~crc_sse42(~crc, buf, len);
#endif
	return ~crc_sw(~crc, buf, len);
}

static void seg_name(char *buf, size_t size, __u64 first)
{
	snprintf(buf, size, "%016llx.seg", (unsigned long long)first);
}

/* Writes name in the spool directory through a temporary file and a rename; synced (file and
 * directory) when durable. */
static int spool_write_small(struct spool *sp, const char *name, const char *text, bool durable)
{
	char tmp[64];
	size_t len = strlen(text);
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(sp->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len) {
		err = errno ? -errno : -EIO;
		goto close_fd;
	}
	if (durable && fsync(fd)) {
		err = -errno;
		goto close_fd;
	}
	if (renameat(sp->dirfd, tmp, sp->dirfd, name)) {
		err = -errno;
		goto close_fd;
	}
	if (durable && fsync(sp->dirfd))
		err = -errno;
close_fd:
	close(fd);
	return err;
}

static int spool_read_small(struct spool *sp, const char *name, char *buf, size_t size)
{
	int fd = openat(sp->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = 0;
	return 0;
}

/* The epoch and run: a new random epoch when the id file is missing or unreadable, then the
 * run counter bumped and made durable before any record of this run exists. */
static int spool_load_id(struct spool *sp)
{
	unsigned long long epoch = 0;
	unsigned int run = 0;
	char buf[128];

	if (spool_read_small(sp, "id", buf, sizeof(buf)) ||
	    sscanf(buf, "%llx %u", &epoch, &run) != 2 || !epoch) {
		do {
			if (getrandom(&epoch, sizeof(epoch), 0) != sizeof(epoch))
				return -EIO;
		} while (!epoch);
		run = 0;
	}
	sp->epoch = epoch;
	sp->run = run + 1;
	snprintf(buf, sizeof(buf), "%016llx %u\n", epoch, sp->run);
	return spool_write_small(sp, "id", buf, true);
}

static int spool_buf(struct spool *sp, size_t n)
{
	__u8 *b;

	if (n <= sp->buf_cap)
		return 0;
	b = realloc(sp->buf, n);
	if (!b)
		return -ENOMEM;
	sp->buf = b;
	sp->buf_cap = n;
	return 0;
}

static int spool_wbuf(struct spool *sp, size_t n)
{
	__u8 *b;

	if (n <= sp->wbuf_cap)
		return 0;
	b = realloc(sp->wbuf, n);
	if (!b)
		return -ENOMEM;
	sp->wbuf = b;
	sp->wbuf_cap = n;
	return 0;
}

/* Makes bytes [off, off + n) of fd readable at sp->buf + (off - sp->ra_off), reading ahead
 * SPOOL_READ_AHEAD bytes at a time: records are read in file order, so one pread serves
 * many. Returns 0, 1 when the file ends before off + n, or -errno. */
static int spool_fill(struct spool *sp, int fd, __u64 off, size_t n)
{
	size_t want = n > SPOOL_READ_AHEAD ? n : SPOOL_READ_AHEAD;
	ssize_t r;
	int err;

	if (sp->ra_fd == fd && off >= sp->ra_off && off + n <= sp->ra_off + sp->ra_len)
		return 0;
	sp->ra_fd = -1;
	err = spool_buf(sp, want);
	if (err)
		return err;
	r = pread(fd, sp->buf, want, (off_t)off);
	if (r < 0)
		return -errno;
	sp->ra_fd = fd;
	sp->ra_off = off;
	sp->ra_len = (size_t)r;
	return (size_t)r < n ? 1 : 0;
}

/* What was read ahead is forgotten: call before fd is closed or cut. */
static void spool_forget(struct spool *sp)
{
	sp->ra_fd = -1;
	sp->ra_len = 0;
}

/* Reads and checks the record at off of fd; sp->rec points at its body (valid until the next
 * read) and *len gets the body's length. Returns 0, 1 for no (whole, valid) record there, or
 * -errno. */
static int spool_read_rec(struct spool *sp, int fd, __u64 off, __u32 *len)
{
	__u32 hdr[2], n, crc;
	const __u8 *body;
	int err;

	err = spool_fill(sp, fd, off, sizeof(hdr));
	if (err)
		return err;
	memcpy(hdr, sp->buf + (off - sp->ra_off), sizeof(hdr));
	n = le32toh(hdr[0]);
	crc = le32toh(hdr[1]);
	if (n < SPOOL_BODY_FIXED || n > SPOOL_MAX_RECORD + SPOOL_BODY_FIXED + 255)
		return 1;
	err = spool_fill(sp, fd, off, SPOOL_HDR + (size_t)n);
	if (err)
		return err;
	body = sp->buf + (off - sp->ra_off) + SPOOL_HDR;
	if (spool_crc32c(0, body, n) != crc)
		return 1;
	if (SPOOL_BODY_FIXED + (__u32)body[9] > n)
		return 1;
	sp->rec = body;
	*len = n;
	return 0;
}

static __u64 rec_seq(const __u8 *body)
{
	__u64 v;

	memcpy(&v, body, sizeof(v));
	return le64toh(v);
}

static int spool_seg_push(struct spool *sp, __u64 first)
{
	if (sp->nsegs == sp->cap) {
		int cap = sp->cap ? sp->cap * 2 : 16;
		struct spool_seg *v = realloc(sp->segs, (size_t)cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		sp->segs = v;
		sp->cap = cap;
	}
	sp->segs[sp->nsegs++] = (struct spool_seg){ .first = first, .next = first };
	return 0;
}

/* Scans one segment: its records must run first, first+1, ... with good checksums. The file
 * is cut at the first record that does not. */
static int spool_scan_seg(struct spool *sp, struct spool_seg *seg)
{
	char name[32];
	struct stat stb;
	__u64 off = 0;
	__u32 len;
	int fd, err = 0;

	seg_name(name, sizeof(name), seg->first);
	fd = openat(sp->dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &stb)) {
		err = -errno;
		goto close_fd;
	}
	for (;;) {
		err = spool_read_rec(sp, fd, off, &len);
		if (err < 0)
			goto close_fd;
		if (err > 0 || rec_seq(sp->rec) != seg->next)
			break;
		off += SPOOL_HDR + len;
		seg->next++;
	}
	err = 0;
	if ((__u64)stb.st_size > off) {
		pr_warn("spool %s: %s cut at byte %llu of %llu (a torn or damaged record)\n",
			sp->dir, name, (unsigned long long)off, (unsigned long long)stb.st_size);
		sp->st.cut_bytes += (__u64)stb.st_size - off;
		sp->st.cut_segments++;
		if (ftruncate(fd, (off_t)off) || fsync(fd))
			err = -errno;
	}
	seg->bytes = off;
close_fd:
	spool_forget(sp);
	close(fd);
	return err;
}

static int seg_cmp(const void *a, const void *b)
{
	const struct spool_seg *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

static int spool_scan(struct spool *sp)
{
	struct dirent *de;
	DIR *d;
	int fd, err = 0;

	fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	while ((de = readdir(d))) {
		unsigned long long first;
		char tail[8];

		if (strlen(de->d_name) != 20 ||
		    sscanf(de->d_name, "%16llx%7s", &first, tail) != 2 || strcmp(tail, ".seg") ||
		    !first)
			continue;
		err = spool_seg_push(sp, first);
		if (err)
			goto close_dir;
	}
	if (sp->nsegs)
		qsort(sp->segs, (size_t)sp->nsegs, sizeof(*sp->segs), seg_cmp);
	for (int i = 0; i < sp->nsegs; i++) {
		err = spool_scan_seg(sp, &sp->segs[i]);
		if (err)
			goto close_dir;
		sp->total += sp->segs[i].bytes;
	}
close_dir:
	closedir(d);
	return err;
}

static void spool_close_reader(struct spool *sp)
{
	spool_forget(sp);
	if (sp->rd_fd >= 0)
		close(sp->rd_fd);
	sp->rd_fd = -1;
}

/* Deletes segs[i] (never the one being written); unacknowledged records in it are dropped. */
static void spool_drop_seg(struct spool *sp, int i)
{
	struct spool_seg *seg = &sp->segs[i];
	__u64 from = seg->first > sp->acked + 1 ? seg->first : sp->acked + 1;
	char name[32];

	if (seg->next > from)
		sp->st.dropped += seg->next - from;
	seg_name(name, sizeof(name), seg->first);
	if (unlinkat(sp->dirfd, name, 0) && errno != ENOENT)
		pr_warn("spool %s: cannot delete %s: %s\n", sp->dir, name, strerror(errno));
	if (sp->rd_fd >= 0 && sp->rd_first == seg->first)
		spool_close_reader(sp);
	sp->total -= seg->bytes;
	memmove(seg, seg + 1, (size_t)(sp->nsegs - i - 1) * sizeof(*seg));
	sp->nsegs--;
}

static bool spool_is_writing(const struct spool *sp, int i)
{
	return sp->wfd >= 0 && i == sp->nsegs - 1;
}

/* Deletes the segments every record of which is acknowledged. */
static void spool_trim(struct spool *sp)
{
	while (sp->nsegs && !spool_is_writing(sp, 0) && sp->segs[0].next <= sp->acked + 1)
		spool_drop_seg(sp, 0);
}

/* Makes dir (0700) and its missing parents (0755, as /var/lib/xdp-sniff would be). */
static int spool_mkdirs(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int spool_open(struct spool **out, const struct spool_opts *o)
{
	unsigned long long acked = 0;
	struct spool *sp;
	char buf[64];
	int err;

	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->wfd = sp->rd_fd = sp->dirfd = sp->ra_fd = -1;
	sp->max_bytes = o->max_bytes ? o->max_bytes : SPOOL_DEFAULT_MAX;
	sp->seg_bytes = o->segment_bytes ? o->segment_bytes : sp->max_bytes / 8;
	if (sp->seg_bytes > (64ull << 20))
		sp->seg_bytes = 64ull << 20;
	if (sp->seg_bytes < 4096)
		sp->seg_bytes = 4096;
	if (sp->seg_bytes > sp->max_bytes)
		sp->seg_bytes = sp->max_bytes;
	sp->sync_ns = o->sync_ns ? o->sync_ns : SPOOL_DEFAULT_SYNC_NS;
	sp->dir = strdup(o->dir);
	if (!sp->dir) {
		err = -ENOMEM;
		goto free_sp;
	}
	err = spool_mkdirs(o->dir);
	if (err)
		goto free_sp;
	sp->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sp->dirfd < 0) {
		err = -errno;
		goto free_sp;
	}
	err = spool_load_id(sp);
	if (err)
		goto free_sp;
	if (!spool_read_small(sp, "acked", buf, sizeof(buf)))
		sscanf(buf, "%llu", &acked);
	sp->acked = acked;
	err = spool_scan(sp);
	if (err)
		goto free_sp;
	sp->next_seq = sp->nsegs ? sp->segs[sp->nsegs - 1].next : 1;
	if (sp->next_seq <= sp->acked)
		sp->next_seq = sp->acked + 1;
	/* an acknowledged mark past what the segments hold came from a spool since emptied */
	spool_trim(sp);
	/* empty segments (cut to nothing) go too */
	for (int i = 0; i < sp->nsegs;)
		if (!sp->segs[i].bytes)
			spool_drop_seg(sp, i);
		else
			i++;
	spool_rewind(sp);
	*out = sp;
	return 0;
free_sp:
	spool_close(sp);
	return err;
}

static int spool_sync(struct spool *sp)
{
	if (!sp->dirty || sp->wfd < 0)
		return 0;
	sp->dirty = false;
	sp->st.syncs++;
	return fdatasync(sp->wfd) ? -errno : 0;
}

static int spool_write_acked(struct spool *sp, __u64 now_ns)
{
	char buf[32];

	if (!sp->acked_dirty)
		return 0;
	sp->acked_dirty = false;
	sp->acked_written_ns = now_ns;
	snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)sp->acked);
	return spool_write_small(sp, "acked", buf, false);
}

void spool_close(struct spool *sp)
{
	if (!sp)
		return;
	if (sp->dirfd >= 0) {
		spool_sync(sp);
		spool_write_acked(sp, 0);
	}
	if (sp->wfd >= 0)
		close(sp->wfd);
	sp->wfd = -1;
	/* the segment written last goes too when everything in it was acknowledged */
	if (sp->dirfd >= 0)
		spool_trim(sp);
	spool_close_reader(sp);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->segs);
	free(sp->buf);
	free(sp->wbuf);
	free(sp->dir);
	free(sp);
}

__u64 spool_epoch(const struct spool *sp)
{
	return sp->epoch;
}

__u32 spool_run(const struct spool *sp)
{
	return sp->run;
}

__u64 spool_next_seq(const struct spool *sp)
{
	return sp->next_seq;
}

__u64 spool_acked(const struct spool *sp)
{
	return sp->acked;
}

/* Ends the segment being written (synced) and starts a new one named by the next seq. */
static int spool_roll(struct spool *sp)
{
	char name[32];
	int fd, err;

	if (sp->wfd >= 0) {
		err = spool_sync(sp);
		close(sp->wfd);
		sp->wfd = -1;
		if (err)
			return err;
	}
	err = spool_seg_push(sp, sp->next_seq);
	if (err)
		return err;
	seg_name(name, sizeof(name), sp->next_seq);
	fd = openat(sp->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fsync(sp->dirfd)) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		sp->nsegs--;
		return err;
	}
	sp->wfd = fd;
	return 0;
}

int spool_append(struct spool *sp, __u8 kind, const char *id, size_t id_len, const void *data,
		 size_t len, __u64 now_ns, __u64 *seq)
{
	__u32 hdr[2];
	__u8 fixed[SPOOL_BODY_FIXED];
	__u64 v = htole64(sp->next_seq);
	size_t body = SPOOL_BODY_FIXED + id_len + len, rec = SPOOL_HDR + body;
	struct spool_seg *seg;
	__u32 crc;
	ssize_t w;
	int err;

	if (id_len > 255 || len > SPOOL_MAX_RECORD || rec > sp->seg_bytes)
		return -EMSGSIZE;
	if (sp->wfd < 0 || sp->segs[sp->nsegs - 1].bytes + rec > sp->seg_bytes) {
		err = spool_roll(sp);
		if (err)
			return err;
	}
	memcpy(fixed, &v, 8);
	fixed[8] = kind;
	fixed[9] = (__u8)id_len;
	fixed[10] = fixed[11] = 0;
	hdr[0] = htole32((__u32)body);
	crc = spool_crc32c(0, fixed, sizeof(fixed));
	crc = spool_crc32c(crc, id, id_len);
	crc = spool_crc32c(crc, data, len);
	hdr[1] = htole32(crc);
	/* one buffer and pwrite: load's seccomp allow-list has pwrite64, not pwritev */
	err = spool_wbuf(sp, rec);
	if (err)
		return err;
	memcpy(sp->wbuf, hdr, sizeof(hdr));
	memcpy(sp->wbuf + SPOOL_HDR, fixed, sizeof(fixed));
	memcpy(sp->wbuf + SPOOL_HDR + SPOOL_BODY_FIXED, id, id_len);
	memcpy(sp->wbuf + SPOOL_HDR + SPOOL_BODY_FIXED + id_len, data, len);
	seg = &sp->segs[sp->nsegs - 1];
	w = pwrite(sp->wfd, sp->wbuf, rec, (off_t)seg->bytes);
	if (w != (ssize_t)rec) {
		err = w < 0 ? -errno : -ENOSPC;
		/* a partial record must not stay for the next one to follow */
		if (ftruncate(sp->wfd, (off_t)seg->bytes))
			pr_debug("spool %s: cannot cut a partial record: %s\n", sp->dir,
				 strerror(errno));
		spool_forget(sp);
		return err;
	}
	seg->bytes += rec;
	seg->next = ++sp->next_seq;
	sp->total += rec;
	sp->st.appended++;
	if (seq)
		*seq = sp->next_seq - 1;
	if (!sp->dirty) {
		sp->dirty = true;
		sp->dirty_since = now_ns;
	}
	while (sp->total > sp->max_bytes && sp->nsegs > 1)
		spool_drop_seg(sp, 0);
	return spool_tick(sp, now_ns);
}

int spool_tick(struct spool *sp, __u64 now_ns)
{
	int err = 0;

	if (sp->dirty && now_ns - sp->dirty_since >= sp->sync_ns)
		err = spool_sync(sp);
	if (sp->acked_dirty && now_ns - sp->acked_written_ns >= sp->sync_ns) {
		int e = spool_write_acked(sp, now_ns);

		if (!err)
			err = e;
	}
	return err;
}

void spool_rewind(struct spool *sp)
{
	spool_close_reader(sp);
	sp->rd_seq = sp->acked + 1;
}

/* Opens the segment holding rd_seq (or the oldest one after it) and finds the record. */
static int spool_seek(struct spool *sp)
{
	struct spool_seg *seg = NULL;
	char name[32];
	__u32 len;
	int i, err;

	for (i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].next > sp->rd_seq && sp->segs[i].next > sp->segs[i].first) {
			seg = &sp->segs[i];
			break;
		}
	if (!seg)
		return -ENOENT;
	if (sp->rd_seq < seg->first)
		sp->rd_seq = seg->first;
	seg_name(name, sizeof(name), seg->first);
	sp->rd_fd = openat(sp->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (sp->rd_fd < 0)
		return -errno;
	sp->rd_first = seg->first;
	sp->rd_off = 0;
	for (__u64 s = seg->first; s < sp->rd_seq; s++) {
		err = spool_read_rec(sp, sp->rd_fd, sp->rd_off, &len);
		if (err) {
			spool_close_reader(sp);
			return err < 0 ? err : -EIO;
		}
		sp->rd_off += SPOOL_HDR + len;
	}
	return 0;
}

int spool_next(struct spool *sp, struct spool_rec *rec)
{
	__u32 len;
	int err;

	if (sp->rd_seq < sp->acked + 1)
		spool_rewind(sp);
	for (;;) {
		if (sp->rd_seq >= sp->next_seq)
			return -ENOENT;
		if (sp->rd_fd < 0) {
			err = spool_seek(sp);
			if (err)
				return err;
		}
		err = spool_read_rec(sp, sp->rd_fd, sp->rd_off, &len);
		if (err < 0)
			return err;
		if (err == 0)
			break;
		/* the end of this segment: the next one */
		spool_close_reader(sp);
		for (int i = 0; i < sp->nsegs; i++)
			if (sp->segs[i].first == sp->rd_first && sp->segs[i].next > sp->rd_seq)
				return -EIO;	/* shorter than counted: damaged under us */
	}
	if (rec_seq(sp->rec) != sp->rd_seq)
		return -EIO;
	rec->seq = sp->rd_seq;
	rec->kind = sp->rec[8];
	rec->id_len = sp->rec[9];
	rec->id = (const char *)sp->rec + SPOOL_BODY_FIXED;
	rec->data = sp->rec + SPOOL_BODY_FIXED + rec->id_len;
	rec->len = len - SPOOL_BODY_FIXED - rec->id_len;
	sp->rd_off += SPOOL_HDR + len;
	sp->rd_seq++;
	return 0;
}

void spool_ack(struct spool *sp, __u64 through)
{
	if (through <= sp->acked)
		return;
	if (through >= sp->next_seq)
		through = sp->next_seq - 1;
	sp->acked = through;
	sp->acked_dirty = true;
	spool_trim(sp);
}

void spool_get_stats(const struct spool *sp, struct spool_stats *st)
{
	*st = sp->st;
	st->bytes = sp->total;
	st->pending = 0;
	for (int i = 0; i < sp->nsegs; i++) {
		__u64 from = sp->segs[i].first > sp->acked + 1 ? sp->segs[i].first : sp->acked + 1;

		if (sp->segs[i].next > from)
			st->pending += sp->segs[i].next - from;
	}
}
