/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rotate: which file `-w FILE -C SIZE -G SECONDS -W COUNT` writes now, with tcpdump's
 * semantics and names, so that scripts written for tcpdump's files find ours:
 *
 *   -C alone        FILE, FILE1, FILE2, ...: a new file when the current one is larger
 *                   than SIZE million bytes, checked before each packet is written.
 *   -C and -W       a ring of COUNT files, numbered with as many digits as COUNT-1 has:
 *                   -W 3 gives FILE0, FILE1, FILE2, FILE0, ...
 *   -G              FILE is a strftime(3) pattern of local time; a new file when SECONDS
 *                   have passed since the current one was opened, checked before each
 *                   packet is written. With -C too, the size count restarts at 0 (and the
 *                   number is appended) in each new period.
 *   -G and -W       stop after COUNT files (when -C is not given).
 *   -W alone        refused (tcpdump ignores it without a word).
 *
 * Beyond tcpdump, nothing an earlier run wrote is overwritten but by a ring (a restart after
 * a crash keeps the crashed run's files): rotate_resume() picks the first number past the
 * files already there, and a name found taken by a file with data in it gets the next number
 * (rotate_taken()): FILE, FILE1, ... as -C numbers them. A ring (-C with -W) goes on after its
 * newest member, so that a restart overwrites the oldest file, as the ring would have next.
 *
 * The decision and the names live here, and the one look at the directory that
 * rotate_resume() takes at start; the writer opens, closes and writes.
 */
#ifndef XS_ROTATE_H
#define XS_ROTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <linux/types.h>

/* The largest -C (millions of bytes): tcpdump's bound, SIZE * 1000000 fits a signed 64-bit
 * byte count. */
#define ROTATE_MAX_SIZE_MB 9223372036854ULL
/* The largest -G (seconds) and -W (files): tcpdump reads both into an int. */
#define ROTATE_MAX_ARG 2147483647ULL

/* What the options say; zero for an option not given. */
struct rotate_opts {
	__u64 size;		/* -C, in bytes (millions of bytes as given) */
	__u32 seconds;		/* -G */
	__u32 count;		/* -W */
};

struct rotate {
	const char *base;	/* -w's FILE, borrowed */
	struct rotate_opts o;
	__u32 size_count;	/* tcpdump's Cflag_count: the number appended (0 and no
				 * digits: none); also counts taken names past (-G alone) */
	__u32 files;		/* files opened in -G periods (tcpdump's Gflag_count) */
	int digits;		/* width of the appended number: digits of COUNT-1 with -C
				 * and -W, else 0 */
	time_t opened;		/* when the current -G period began */
};

enum rotate_action {
	ROTATE_KEEP,		/* write to the current file */
	ROTATE_NEXT,		/* close it, open rotate_name()'s file, then write */
	ROTATE_STOP,		/* -G -W: COUNT files are done; stop the capture */
};

/*
 * Checks options as tcpdump would and more (0 and absurd values are refused); on error
 * returns -EINVAL with a one-line reason in why. -C must fit 64 bits in bytes; -W needs -C or
 * -G (tcpdump ignores it alone); -G with -W and no -C needs a strftime conversion in FILE, or
 * every period would overwrite the one file (tcpdump silently does).
 */
int rotate_check_opts(const char *base, const struct rotate_opts *o, const char **why);
/* Parses -C's millions of bytes, -G's seconds or -W's count: a whole number > 0 that fits.
 * Returns 0 or -EINVAL. */
int rotate_parse_count(const char *arg, __u64 max, __u64 *out);

/* Is rotation asked for at all (-C or -G)? */
bool rotate_enabled(const struct rotate_opts *o);
/* A ring (-C and -W): its files are reused by design, the one case where a file with data
 * in it is truncated. */
bool rotate_is_ring(const struct rotate *r);
void rotate_init(struct rotate *r, const char *base, const struct rotate_opts *o, time_t now);
/*
 * Before the first file: where an earlier run (one that crashed) left off, read from the
 * directory of the file rotate_name() gives at now. Not a ring: the number past the highest
 * FILEn there (FILE itself counts as 0; an empty one is reused: it holds nothing). A ring: the
 * member after the newest one there (by modification time). Nothing there: tcpdump's first
 * name. Returns 0 or -errno (the directory cannot be read; a missing one is not an error, the
 * open says it).
 */
int rotate_resume(struct rotate *r, time_t now);
/* The name rotate_name() gave is taken by a file with data in it (never for a ring): the next
 * number. Returns 0, or -EOVERFLOW when numbers have run out. */
int rotate_taken(struct rotate *r);
/* The name of the current file. Returns 0, or -ENAMETOOLONG when it does not fit size. */
int rotate_name(const struct rotate *r, time_t now, char *buf, size_t size);
/* Before writing a packet to a file of cur_size bytes at time now: what to do. ROTATE_NEXT
 * has already advanced the state, so rotate_name() then names the next file. */
enum rotate_action rotate_before_write(struct rotate *r, __u64 cur_size, time_t now);

#endif
