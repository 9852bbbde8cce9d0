// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sinks/rotate.h"

int rotate_parse_count(const char *arg, __u64 max, __u64 *out)
{
	unsigned long long v;
	char *end;

	if (!arg || *arg < '0' || *arg > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end || v == 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

bool rotate_enabled(const struct rotate_opts *o)
{
	return o->size || o->seconds;
}

/* Does the pattern hold a strftime conversion (a % that is not "%%")? */
static bool has_conversion(const char *s)
{
	for (; (s = strchr(s, '%')); s += 2) {
		if (s[1] == '\0')
			return false;
		if (s[1] != '%')
			return true;
	}
	return false;
}

int rotate_check_opts(const char *base, const struct rotate_opts *o, const char **why)
{
	if (!rotate_enabled(o) && !o->count)
		return 0;
	if (!base || !strcmp(base, "-")) {
		*why = "-C, -G and -W need -w FILE (they cannot rotate standard output)";
		return -EINVAL;
	}
	if (!rotate_enabled(o)) {
		*why = "-W needs -C SIZE (a ring of COUNT files) or -G SECONDS (stop after COUNT "
		       "files)";
		return -EINVAL;
	}
	if (o->seconds && o->count && !o->size && !has_conversion(base)) {
		*why = "-G with -W needs a strftime(3) pattern in -w FILE (e.g. cap-%Y%m%d-%H%M%S.pcap), "
		       "or every period would overwrite the one file";
		return -EINVAL;
	}
	return 0;
}

/* tcpdump's width of the appended number: the digits of COUNT-1 (0 for -W 1). */
static int count_digits(__u32 count)
{
	int d = 0;

	for (count = count ? count - 1 : 0; count; count /= 10)
		d++;
	return d;
}

void rotate_init(struct rotate *r, const char *base, const struct rotate_opts *o, time_t now)
{
	memset(r, 0, sizeof(*r));
	r->base = base;
	r->o = *o;
	/* tcpdump pads the number only in a ring; -G -W names have no number */
	r->digits = o->count && o->size ? count_digits(o->count) : 0;
	r->opened = now;
}

int rotate_name(const struct rotate *r, time_t now, char *buf, size_t size)
{
	char stem[4096];
	const char *name = r->base;
	struct tm tm;
	int n;

	if (r->o.seconds) {
		/* strftime returns 0 both for an empty result and for no room */
		if (!localtime_r(&now, &tm))
			return -EINVAL;
		if (!strftime(stem, sizeof(stem), r->base, &tm))
			return -ENAMETOOLONG;
		name = stem;
	}
	/* tcpdump's first file of -C alone has no number, nor has any of -G alone (unless
	 * its name was taken: rotate_taken()) */
	if (r->size_count == 0 && r->digits == 0)
		n = snprintf(buf, size, "%s", name);
	else
		n = snprintf(buf, size, "%s%0*u", name, r->digits, r->size_count);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

bool rotate_is_ring(const struct rotate *r)
{
	return r->o.size && r->o.count;
}

int rotate_taken(struct rotate *r)
{
	if (rotate_is_ring(r) || r->size_count == UINT_MAX)
		return -EOVERFLOW;
	r->size_count++;
	return 0;
}

/* The number a directory entry carries after prefix: -1 when it is not one of our names.
 * A ring's have exactly digits digits below count; others none (FILE: 0) or a number
 * without leading zeros, as tcpdump writes them. */
static long long entry_number(const struct rotate *r, const char *name, const char *prefix,
			      size_t plen)
{
	const char *d = name + plen;
	unsigned long long v = 0;
	size_t n = strlen(d);

	if (strncmp(name, prefix, plen))
		return -1;
	if (!n)
		return r->digits == 0 ? 0 : -1;
	if (rotate_is_ring(r) ? n != (size_t)r->digits : d[0] == '0' || n > 10)
		return -1;
	for (; *d; d++) {
		if (*d < '0' || *d > '9')
			return -1;
		v = v * 10 + (unsigned long long)(*d - '0');
	}
	if (v >= UINT_MAX || (rotate_is_ring(r) && v >= r->o.count))
		return -1;
	return (long long)v;
}

/*
 * A file system's timestamps are coarse (a few ms): ring members written within one tick tie
 * on newest. Ties are consecutive in ring order, so the newest is the one whose successor is
 * not among them (at most RING_TIES looked at; past that, the highest number).
 */
#define RING_TIES 64
static long long ring_newest(const struct rotate *r, DIR *d, const char *prefix,
			     struct timespec newest)
{
	long long tied[RING_TIES], num, best = -1;
	struct dirent *e;
	struct stat sb;
	int n = 0, i, j;

	rewinddir(d);
	while ((e = readdir(d))) {
		num = entry_number(r, e->d_name, prefix, strlen(prefix));
		if (num < 0 || fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) ||
		    sb.st_mtim.tv_sec != newest.tv_sec || sb.st_mtim.tv_nsec != newest.tv_nsec)
			continue;
		if (num > best)
			best = num;
		if (n < RING_TIES)
			tied[n++] = num;
	}
	if (n == RING_TIES)
		return best;
	for (i = 0; i < n; i++) {
		for (j = 0; j < n && tied[j] != (tied[i] + 1) % r->o.count; j++)
			;
		if (j == n)
			return tied[i];
	}
	return best;
}

int rotate_resume(struct rotate *r, time_t now)
{
	char path[PATH_MAX], dir[PATH_MAX];
	struct timespec newest = {0};
	long long best = -1, num;
	const char *prefix;
	struct dirent *e;
	struct stat sb;
	off_t best_size = 0;
	__u32 saved = r->size_count;
	DIR *d;
	int err;

	/* the name without a number: what every file of this period starts with */
	r->size_count = 0;
	err = rotate_name(r, now, path, sizeof(path));
	r->size_count = saved;
	if (err)
		return err;
	if (r->digits) {
		/* a ring's name carries its number: take it off */
		path[strlen(path) - (size_t)r->digits] = '\0';
	}
	prefix = strrchr(path, '/');
	if (prefix) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(prefix - path) ?: 1, path);
		prefix++;
	} else {
		snprintf(dir, sizeof(dir), ".");
		prefix = path;
	}
	d = opendir(dir);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	while ((e = readdir(d))) {
		num = entry_number(r, e->d_name, prefix, strlen(prefix));
		if (num < 0 || fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW))
			continue;
		if (rotate_is_ring(r)) {
			if (best < 0 || sb.st_mtim.tv_sec > newest.tv_sec ||
			    (sb.st_mtim.tv_sec == newest.tv_sec &&
			     sb.st_mtim.tv_nsec > newest.tv_nsec)) {
				best = num;
				newest = sb.st_mtim;
			}
		} else if (num > best) {
			best = num;
			/* what is not a regular file cannot be reused either */
			best_size = S_ISREG(sb.st_mode) ? sb.st_size : 1;
		}
	}
	if (rotate_is_ring(r) && best >= 0)
		best = ring_newest(r, d, prefix, newest);
	closedir(d);
	if (best < 0)
		return 0;
	if (rotate_is_ring(r))
		r->size_count = (__u32)((best + 1) % r->o.count);
	else
		r->size_count = (__u32)(best_size ? best + 1 : best);
	return 0;
}

enum rotate_action rotate_before_write(struct rotate *r, __u64 cur_size, time_t now)
{
	/* a time boundary first: it starts a fresh file, which cancels a size boundary */
	if (r->o.seconds && now - r->opened >= (time_t)r->o.seconds) {
		r->opened = now;
		r->files++;
		if (!r->o.size && r->o.count && r->files >= r->o.count)
			return ROTATE_STOP;
		r->size_count = 0;
		return ROTATE_NEXT;
	}
	if (r->o.size && cur_size > r->o.size) {
		r->size_count++;
		if (r->o.count && r->size_count >= r->o.count)
			r->size_count = 0;
		return ROTATE_NEXT;
	}
	return ROTATE_KEEP;
}
