// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	r->digits = o->count ? count_digits(o->count) : 0;
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
	/* the number appears with -C only: tcpdump's first file of -C alone has none */
	if (!r->o.size || (r->size_count == 0 && r->digits == 0))
		n = snprintf(buf, size, "%s", name);
	else
		n = snprintf(buf, size, "%s%0*u", name, r->digits, r->size_count);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
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
