// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sinks/retain.h"

/* One finished stream: up to two names, NUL-separated in one allocation. */
struct retain_entry {
	struct retain_entry *next;
	__u64 bytes;
	__u64 mtime_ns;		/* files found at start: the order among them */
	int n;
	char names[];
};

struct retain {
	int dirfd;
	__u64 max;
	struct retain_entry *head, *tail;	/* oldest first */
	struct retain_stats st;
	bool warned_over;
};

static struct retain_entry *entry_new(const char *const *names, int n, __u64 bytes)
{
	struct retain_entry *e;
	size_t len = 0, off = 0;

	for (int i = 0; i < n; i++)
		len += strlen(names[i]) + 1;
	e = calloc(1, sizeof(*e) + len);
	if (!e)
		return NULL;
	for (int i = 0; i < n; i++) {
		size_t l = strlen(names[i]) + 1;

		memcpy(e->names + off, names[i], l);
		off += l;
	}
	e->n = n;
	e->bytes = bytes;
	return e;
}

static void entry_append(struct retain *r, struct retain_entry *e)
{
	if (r->tail)
		r->tail->next = e;
	else
		r->head = e;
	r->tail = e;
}

static int cmp_mtime(const void *a, const void *b)
{
	const struct retain_entry *x = *(struct retain_entry *const *)a;
	const struct retain_entry *y = *(struct retain_entry *const *)b;

	if (x->mtime_ns != y->mtime_ns)
		return x->mtime_ns < y->mtime_ns ? -1 : 1;
	return strcmp(x->names, y->names);
}

/* The files already there: finished streams of earlier runs, one entry each, oldest first. */
static int scan(struct retain *r)
{
	struct retain_entry **found = NULL, **grown, *e;
	size_t n = 0, cap = 0;
	struct dirent *de;
	struct stat sb;
	int fd, err = 0;
	DIR *d;

	fd = openat(r->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	while ((de = readdir(d))) {
		const char *name = de->d_name;

		if (fstatat(r->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) || !S_ISREG(sb.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			grown = realloc(found, cap * sizeof(*found));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			found = grown;
		}
		e = entry_new(&name, 1, sb.st_size);
		if (!e) {
			err = -ENOMEM;
			break;
		}
		e->mtime_ns = (__u64)sb.st_mtim.tv_sec * 1000000000ull + sb.st_mtim.tv_nsec;
		found[n++] = e;
	}
	closedir(d);
	if (!err) {
		if (n)
			qsort(found, n, sizeof(*found), cmp_mtime);
		for (size_t i = 0; i < n; i++) {
			entry_append(r, found[i]);
			r->st.bytes += found[i]->bytes;
		}
	} else {
		for (size_t i = 0; i < n; i++)
			free(found[i]);
	}
	free(found);
	return err;
}

struct retain *retain_new(int dirfd, __u64 max_bytes)
{
	struct retain *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return NULL;
	r->dirfd = dirfd;
	r->max = max_bytes;
	err = scan(r);
	if (err) {
		retain_free(r);
		errno = -err;
		return NULL;
	}
	return r;
}

void retain_written(struct retain *r, __u64 bytes)
{
	r->st.bytes += bytes;
}

int retain_finished(struct retain *r, const char *const *names, int n, __u64 bytes)
{
	struct retain_entry *e = entry_new(names, n, bytes);

	if (!e)
		return -ENOMEM;
	entry_append(r, e);
	return 0;
}

int retain_enforce(struct retain *r)
{
	int deleted = 0;

	while (r->st.bytes > r->max && r->head) {
		struct retain_entry *e = r->head;
		const char *name = e->names;

		for (int i = 0; i < e->n; i++, name += strlen(name) + 1) {
			if (unlinkat(r->dirfd, name, 0) && errno != ENOENT)
				return -errno;
			r->st.files_deleted++;
		}
		r->head = e->next;
		if (!r->head)
			r->tail = NULL;
		r->st.bytes -= e->bytes < r->st.bytes ? e->bytes : r->st.bytes;
		r->st.bytes_deleted += e->bytes;
		r->st.streams_deleted++;
		deleted++;
		free(e);
	}
	if (r->st.bytes > r->max) {
		r->st.over_cap++;
		if (!r->warned_over) {
			pr_warn("-o: streams still open hold more than --max-output-bytes; "
				"they are kept, finished ones are deleted as they end\n");
			r->warned_over = true;
		}
	}
	return deleted;
}

void retain_get_stats(const struct retain *r, struct retain_stats *out)
{
	*out = r->st;
}

void retain_free(struct retain *r)
{
	struct retain_entry *e, *next;

	if (!r)
		return;
	for (e = r->head; e; e = next) {
		next = e->next;
		free(e);
	}
	free(r);
}
