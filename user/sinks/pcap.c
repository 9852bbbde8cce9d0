// SPDX-License-Identifier: GPL-2.0
/*
 * sink_pcap: -w FILE, the matching packets as a pcap file (Ethernet, microseconds).
 *
 * libpcap lays out the file header and each record (pcap_dump), into a stream of ours
 * (fopencookie) that appends to a buffer; this file decides when the buffer goes to the file,
 * so that the file only ever ends between two records: a capture killed at any moment (OOM
 * killer, kill -9) leaves a file every reader opens and reads to its end.
 *
 * - The buffer holds whole records and is written (sinks_write_all) before a record that
 *   would cross the next PCAP_SINK_GRAIN (1 MiB) boundary of the file, once a second
 *   (flush), and at the end: one write(2) per MiB. A write that writes part of it is
 *   finished, or the file is cut back to the last whole record.
 * - The write is detached (sinks_write_detached): a SIGKILL of the process while it runs does
 *   not stop it half way, inside a record. (The kernel copies a buffered write(2) folio by
 *   folio and gives up at a folio boundary once the writer is being killed; seen here at
 *   multiples of 512 KiB to 2 MiB.)
 * What a SIGKILL loses: what the buffer holds, at most 1 MiB or one second of packets.
 *
 * -C/-G/-W (rotate.h decides when and names the files): before a packet, the buffer goes to
 * the current file, which is closed; the next file gets the file header of the first, so
 * that each is a capture of its own, and the packet goes on in it. A rotation falls only
 * between records, and every packet lands in exactly one file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "log.h"
#include "sinks/rotate.h"
#include "sinks/sink.h"

#define PCAP_SNAPLEN 262144
/* the bytes of a record on top of its frame (struct pcap_sf_pkthdr, libpcap's own) */
#define PCAP_RECORD_HDR 16

/* one write(2) per MiB of file rather than per 4 KiB, each starting with the record that
 * crosses a multiple of this (see above); the capture loop flushes once a second */
#define PCAP_SINK_GRAIN (1 << 20)
/* a pcap file header (struct pcap_file_header) */
#define PCAP_FILE_HDR 24
/* names tried past a taken one before giving up */
#define PCAP_MAX_TAKEN 100000

struct pcap_priv {
	pcap_t *dead;
	pcap_dumper_t *dumper;
	FILE *mem;	 /* the stream libpcap writes to: appends to buf */
	int fd;		 /* the file */
	char *buf;	 /* whole records not written yet */
	size_t len, cap; /* cap: PCAP_SINK_GRAIN plus the largest record */
	__u64 file_off;	 /* where buf goes in the file: the end of the last whole record */
	__u64 packets;
	bool header_out; /* the file header is written: the buffer holds records only */
	const char *path; /* the current file, for messages: cur when rotating */
	/* -C/-G/-W */
	bool rotating;
	bool done;	 /* -G -W wrote its COUNT files: packets are no longer written */
	struct rotate rot;
	__u8 hdr[PCAP_FILE_HDR];	/* the file header every rotated file starts with */
	struct sink_pcap_stats st;
	char cur[PATH_MAX];
};

/* fopencookie's write: append to the buffer, whose room pcap_packet made sure of */
static ssize_t pcap_mem_write(void *cookie, const char *data, size_t n)
{
	struct pcap_priv *p = cookie;

	if (n > p->cap - p->len) {
		errno = ENOSPC;
		return -1;
	}
	memcpy(p->buf + p->len, data, n);
	p->len += n;
	return (ssize_t)n;
}

static int pcap_mem_close(void *cookie)
{
	(void)cookie;
	return 0;
}

/* How many of the first done bytes of a buffer of records are whole records. */
static size_t pcap_whole_records(const void *buf, size_t done)
{
	const __u8 *b = buf;
	size_t off = 0, rec;
	__u32 caplen;

	while (done - off >= PCAP_RECORD_HDR) {
		/* struct pcap_sf_pkthdr: seconds, microseconds, caplen, len, in host order */
		memcpy(&caplen, b + off + 8, sizeof(caplen));
		rec = PCAP_RECORD_HDR + (size_t)caplen;
		if (rec > done - off)
			break;
		off += rec;
	}
	return off;
}

/* Writes out the whole records the buffer holds (the file header alone, at the start). */
static int pcap_out(struct pcap_priv *p)
{
	int err;

	if (!p->len)
		return 0;
	err = sinks_write_detached(p->fd, p->buf, p->len,
				   p->header_out ? pcap_whole_records : NULL);
	if (err)
		return err;
	p->file_off += p->len;
	p->len = 0;
	return 0;
}

/* Puts the file at part under the name rotate_name() gives at now (p->cur): a ring's member
 * is replaced (what a ring is for); any other name that holds data moves on to the next
 * number, so that nothing an earlier run wrote is lost. 0 or -errno (said). */
static int pcap_place(struct pcap_priv *p, const char *part, time_t now)
{
	struct stat sb;
	int err, tries;

	for (tries = 0; tries < PCAP_MAX_TAKEN; tries++) {
		err = rotate_name(&p->rot, now, p->cur, sizeof(p->cur));
		if (err) {
			pr_warn("-w %s: the name of the next file is longer than %d bytes\n",
				p->rot.base, PATH_MAX - 1);
			return err;
		}
		if (rotate_is_ring(&p->rot))
			goto replace;
		if (!renameat2(AT_FDCWD, part, AT_FDCWD, p->cur, RENAME_NOREPLACE))
			return 0;
		err = -errno;
		if (err != -EEXIST)
			goto fail;
		/* an empty file holds nothing to keep (a run killed as it made it) */
		if (!lstat(p->cur, &sb) && S_ISREG(sb.st_mode) && !sb.st_size)
			goto replace;
		pr_debug("-w: %s holds data already; trying the next number\n", p->cur);
		if (rotate_taken(&p->rot))
			break;
	}
	pr_warn("-w %s: no free name left past %s (every one holds data)\n", p->rot.base, p->cur);
	return -EEXIST;
replace:
	if (!rename(part, p->cur))
		return 0;
	err = -errno;
fail:
	pr_warn("cannot create -w %s: %s\n", p->cur, strerror(-err));
	return err;
}

/*
 * The next file of a rotation: made as FILE.part with the file header in it, then renamed
 * to its name (pcap_place), so that a file under our names always starts with a whole header
 * whenever the capture is killed (a ring's member is replaced at once, not truncated in
 * place); a kill between the two leaves the .part, which the next run reuses if it picks the
 * same name. Sets p->fd, p->cur, file_off. Returns 0 or -errno (said).
 */
static int pcap_open_current(struct pcap_priv *p, time_t now)
{
	char part[PATH_MAX + 8];
	int fd, err;

	err = rotate_name(&p->rot, now, p->cur, sizeof(p->cur));
	if (err) {
		pr_warn("-w %s: the name of the next file is longer than %d bytes\n", p->rot.base,
			PATH_MAX - 1);
		return err;
	}
	snprintf(part, sizeof(part), "%s.part", p->cur);
	fd = sinks_open_file("-w", part);
	if (fd < 0)
		return fd;
	err = sinks_write_all(fd, p->hdr, PCAP_FILE_HDR, NULL);
	if (err) {
		pr_warn("cannot write to %s: %s\n", part, strerror(-err));
		goto err_close;
	}
	err = pcap_place(p, part, now);
	if (err)
		goto err_close;
	p->fd = fd;
	p->path = p->cur;
	p->file_off = PCAP_FILE_HDR;
	p->header_out = true;
	p->st.files++;
	return 0;

err_close:
	close(fd);
	unlink(part);
	return err;
}

/* Writes out the file header alone at the start of a new file. */
static int pcap_out_header(struct pcap_priv *p)
{
	int err;

	p->header_out = false;
	err = pcap_out(p);
	if (err)
		pr_warn("cannot write to %s: %s\n", p->path, strerror(-err));
	else
		p->header_out = true;
	return err;
}

/* The current file is done: what the buffer holds goes to it, and the next one is opened
 * with the first's header. The buffer is empty on return. */
static int pcap_rotate(struct pcap_priv *p, time_t now)
{
	int err;

	err = pcap_out(p);
	if (err)
		return err;
	if (close(p->fd)) {
		err = -errno;
		p->fd = -1;
		pr_warn("cannot close %s: %s\n", p->path, strerror(-err));
		return err;
	}
	p->fd = -1;
	p->st.rotations++;
	p->st.rotated_bytes += p->file_off;
	return pcap_open_current(p, now);
}

static int pcap_packet(struct sink *s, const struct xs_segment *seg)
{
	struct pcap_priv *p = s->priv;
	struct pcap_pkthdr h = {
		.ts.tv_sec = seg->ts_ns / 1000000000ULL,
		.ts.tv_usec = (seg->ts_ns % 1000000000ULL) / 1000,
		.caplen = seg->cap_len,
		.len = seg->wire_len,
	};
	size_t rec = PCAP_RECORD_HDR + seg->cap_len;
	__u64 end = p->file_off + p->len;
	__u64 next = (end / PCAP_SINK_GRAIN + 1) * PCAP_SINK_GRAIN;
	int err;

	if (seg->cap_len > PCAP_SNAPLEN)
		return -EINVAL;
	if (p->done)
		return 0;
	if (p->rotating) {
		/* tcpdump's clock for -G: the wall clock when the packet is written */
		time_t now = time(NULL);

		switch (rotate_before_write(&p->rot, end, now)) {
		case ROTATE_KEEP:
			break;
		case ROTATE_STOP:
			p->done = true;
			pr_info("-w: the %u files of -G %u -W %u are written; capture stopped\n",
				p->rot.o.count, p->rot.o.seconds, p->rot.o.count);
			return pcap_out(p);
		case ROTATE_NEXT:
			err = pcap_rotate(p, now);
			if (err)
				return err;
			end = p->file_off + p->len;
			next = (end / PCAP_SINK_GRAIN + 1) * PCAP_SINK_GRAIN;
			break;
		}
	}
	if (end + rec > next || p->len + rec > p->cap) {
		err = pcap_out(p);
		if (err)
			return err;
	}
	pcap_dump((u_char *)p->dumper, &h, seg->frame);
	if (ferror(p->mem))
		return -EIO;
	p->packets++;
	return 0;
}

/* So that what was captured can be read while the capture runs. */
static int pcap_flush(struct sink *s)
{
	return pcap_out(s->priv);
}

static void pcap_destroy(struct sink *s)
{
	struct pcap_priv *p;
	int err;

	if (!s)
		return;
	p = s->priv;
	err = s->failed ? 0 : pcap_out(p);
	if (err)
		pr_warn("cannot write the last packets to %s: %s\n", p->path, strerror(-err));
	if (p->dumper)
		pcap_dump_close(p->dumper); /* closes p->mem */
	else if (p->mem)
		fclose(p->mem);
	if (p->dead)
		pcap_close(p->dead);
	if (p->fd >= 0)
		close(p->fd);
	free(p->buf);
	sink_free(s);
}

static const struct sink_ops pcap_ops = {
	.name = "pcap",
	.packet = pcap_packet,
	.flush = pcap_flush,
	.destroy = pcap_destroy,
};

bool sink_pcap_done(const struct sink *s)
{
	return s && s->ops == &pcap_ops && ((struct pcap_priv *)s->priv)->done;
}

int sink_pcap_get_stats(const struct sink *s, struct sink_pcap_stats *st)
{
	const struct pcap_priv *p;

	if (!s || s->ops != &pcap_ops)
		return -EINVAL;
	p = s->priv;
	*st = p->st;
	st->bytes = p->st.rotated_bytes + p->file_off + p->len;
	return 0;
}

struct sink *sink_pcap_new(const char *path, __u32 snaplen)
{
	return sink_pcap_new_rotating(path, snaplen, NULL);
}

struct sink *sink_pcap_new_rotating(const char *path, __u32 snaplen,
				   const struct rotate_opts *ro)
{
	cookie_io_functions_t io = {.write = pcap_mem_write, .close = pcap_mem_close};
	struct pcap_priv *p;
	struct sink *s;
	off_t at;
	int err;

	s = sink_alloc(&pcap_ops, sizeof(*p));
	if (!s)
		return NULL;
	p = s->priv;
	p->fd = -1;
	p->path = !strcmp(path, "-") ? "stdout" : path;
	if (ro && rotate_enabled(ro)) {
		/* options were checked (rotate_check_opts) before anything was opened; the
		 * file is made once its header is known, below */
		p->rotating = true;
	} else if (!strcmp(path, "-")) {
		p->fd = dup(STDOUT_FILENO);
		if (p->fd < 0) {
			err = -errno;
			pr_warn("cannot write -w - to stdout: %s\n", strerror(-err));
			goto err_free;
		}
	} else {
		p->fd = sinks_open_file("-w", path);
		if (p->fd < 0) {
			err = p->fd;
			goto err_free;
		}
	}
	/* -w - to a file: the grain counts from where it is written */
	at = p->fd >= 0 ? lseek(p->fd, 0, SEEK_CUR) : 0;
	p->file_off = at > 0 ? (__u64)at : 0;
	p->cap = PCAP_SINK_GRAIN + PCAP_RECORD_HDR + PCAP_SNAPLEN;
	p->buf = malloc(p->cap);
	if (!p->buf) {
		err = -ENOMEM;
		goto err_free;
	}
	/* unbuffered: every fwrite of libpcap's reaches the buffer at once */
	p->mem = fopencookie(p, "w", io);
	if (!p->mem || setvbuf(p->mem, NULL, _IONBF, 0)) {
		err = -ENOMEM;
		goto err_free;
	}
	p->dead = pcap_open_dead_with_tstamp_precision(
	    DLT_EN10MB, snaplen ? (int)snaplen : PCAP_SNAPLEN, PCAP_TSTAMP_PRECISION_MICRO);
	if (!p->dead) {
		err = -ENOMEM;
		goto err_free;
	}
	p->dumper = pcap_dump_fopen(p->dead, p->mem);
	if (!p->dumper) {
		err = -EIO;
		pr_warn("cannot write a pcap header for %s: %s\n", path, pcap_geterr(p->dead));
		goto err_free;
	}
	/* the file header, on its own: a capture killed before its first packet leaves a file
	 * that reads as empty; kept for the files rotation opens */
	if (p->len != PCAP_FILE_HDR) {
		err = -EIO;
		pr_warn("cannot write a pcap header for %s: %zu bytes\n", path, p->len);
		goto err_free;
	}
	memcpy(p->hdr, p->buf, PCAP_FILE_HDR);
	if (p->rotating) {
		time_t now = time(NULL);

		p->len = 0;
		rotate_init(&p->rot, path, ro, now);
		err = rotate_resume(&p->rot, now);
		if (err) {
			pr_warn("-w %s: cannot read its directory to find earlier files: %s\n",
				path, strerror(-err));
			goto err_free;
		}
		err = pcap_open_current(p, now);
	} else {
		err = pcap_out_header(p);
	}
	if (err)
		goto err_free;
	return s;

err_free:
	s->failed = err; /* nothing more to write at destroy */
	pcap_destroy(s);
	errno = -err;
	return NULL;
}
