// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sinks/sink.h"

const char *stream_state_name(enum stream_state s)
{
	switch (s) {
	case STREAM_OPEN:
		return "open";
	case STREAM_CLOSED:
		return "closed";
	case STREAM_RESET:
		return "reset";
	case STREAM_TIMEOUT:
		return "timeout";
	case STREAM_EVICTED:
		return "evicted";
	}
	return "unknown";
}

static int sinks_put(struct sink_set *set, struct sink *s, bool borrowed)
{
	if (set->n >= SINK_MAX)
		return -ENOSPC;
	s->idx = set->n;
	s->failed = 0;
	s->borrowed = borrowed;
	set->v[set->n++] = s;
	return 0;
}

int sinks_add(struct sink_set *set, struct sink *s)
{
	int err;

	if (!s || !s->ops || !s->ops->destroy)
		return -EINVAL;
	err = sinks_put(set, s, false);
	if (err)
		s->ops->destroy(s);
	return err;
}

int sinks_add_borrowed(struct sink_set *set, struct sink *s)
{
	if (!s || !s->ops)
		return -EINVAL;
	return sinks_put(set, s, true);
}

int sinks_have_stream_sinks(const struct sink_set *set)
{
	int i;

	for (i = 0; i < set->n; i++)
		if (set->v[i]->ops->stream_open || set->v[i]->ops->stream_data ||
		    set->v[i]->ops->stream_close)
			return 1;
	return 0;
}

static mode_t sink_file_mode = SINK_DEFAULT_FILE_MODE;

void sinks_set_file_mode(mode_t mode)
{
	sink_file_mode = mode & 0777;
}

mode_t sinks_file_mode(void)
{
	return sink_file_mode;
}

mode_t sinks_dir_mode(void)
{
	mode_t m = 0700 | (sink_file_mode & 0066);

	if (m & 0040)
		m |= 0010;
	if (m & 0004)
		m |= 0001;
	return m;
}

static const char *owner_name;
static uid_t owner_uid;
static gid_t owner_gid;

void sinks_set_owner(const char *name, uid_t uid, gid_t gid)
{
	owner_name = name;
	owner_uid = uid;
	owner_gid = gid;
}

/* Can the -Z user make files in a directory of this mode and owner (ACLs aside)? */
static bool owner_can_write(const struct stat *sb)
{
	if (sb->st_uid == owner_uid)
		return (sb->st_mode & 0300) == 0300;
	if (sb->st_gid == owner_gid)
		return (sb->st_mode & 0030) == 0030;
	return (sb->st_mode & 0003) == 0003;
}

/* A failing sink is reported once, then left alone: the other outputs go on. A sink that
 * already said why, naming its file, is not reported twice. */
static void sink_fail(struct sink *s, int err)
{
	s->failed = err ? err : -EIO;
	if (!s->reported)
		pr_warn("output %s failed: %s; it is switched off, the other outputs go on\n",
			s->ops->name, strerror(-s->failed));
}

#define SINKS_EACH(set, call)                                                                  \
	({                                                                                     \
		int __live = 0, __i;                                                           \
		for (__i = 0; __i < (set)->n; __i++) {                                         \
			struct sink *s = (set)->v[__i];                                        \
			int __err;                                                             \
			if (s->failed)                                                         \
				continue;                                                      \
			__err = (call);                                                        \
			if (__err < 0)                                                         \
				sink_fail(s, __err);                                           \
			else                                                                   \
				__live++;                                                      \
		}                                                                              \
		__live;                                                                        \
	})

int sinks_packet(struct sink_set *set, const struct xs_segment *seg)
{
	return SINKS_EACH(set, s->ops->packet ? s->ops->packet(s, seg) : 0);
}

int sinks_stream_open(struct sink_set *set, struct stream *st)
{
	return SINKS_EACH(set, s->ops->stream_open ? s->ops->stream_open(s, st) : 0);
}

int sinks_stream_data(struct sink_set *set, struct stream *st, int dir, __u64 off,
		      const __u8 *buf, size_t len)
{
	return SINKS_EACH(set, s->ops->stream_data ? s->ops->stream_data(s, st, dir, off, buf, len)
						   : 0);
}

int sinks_stream_gap(struct sink_set *set, struct stream *st, int dir, __u64 off, __u64 len)
{
	return SINKS_EACH(set, s->ops->stream_gap ? s->ops->stream_gap(s, st, dir, off, len) : 0);
}

/* Called for failed sinks too, so that they can free what they hold for the stream. */
int sinks_stream_close(struct sink_set *set, struct stream *st)
{
	int live = 0, i;

	for (i = 0; i < set->n; i++) {
		struct sink *s = set->v[i];
		int err;

		if (!s->ops->stream_close)
			continue;
		err = s->ops->stream_close(s, st);
		if (s->failed)
			continue;
		if (err < 0)
			sink_fail(s, err);
		else
			live++;
	}
	return live;
}

struct sink *sink_alloc(const struct sink_ops *ops, size_t priv_size)
{
	struct sink *s = calloc(1, sizeof(*s));

	if (s)
		s->priv = calloc(1, priv_size);
	if (!s || !s->priv) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->ops = ops;
	return s;
}

void sink_free(struct sink *s)
{
	if (!s)
		return;
	free(s->priv);
	free(s);
}

int sinks_flush(struct sink_set *set)
{
	return SINKS_EACH(set, s->ops->flush ? s->ops->flush(s) : 0);
}

void sink_destroy(struct sink *s)
{
	if (s)
		s->ops->destroy(s);
}

int sinks_status(const struct sink_set *set, int *live)
{
	int i, n = 0, err = 0;

	for (i = 0; i < set->n; i++) {
		int f = set->v[i]->failed;

		if (!f)
			n++;
		else if (!err || (err == -EPIPE && f != -EPIPE))
			err = f;
	}
	if (live)
		*live = n;
	return err;
}

void sinks_destroy(struct sink_set *set)
{
	int i;

	for (i = 0; i < set->n; i++) {
		/* sinks_add took only sinks with a destroy */
		if (!set->v[i]->borrowed)
			set->v[i]->ops->destroy(set->v[i]);
		set->v[i] = NULL;
	}
	set->n = 0;
}

/* Opens dir without following a symbolic link at its last component (a trailing slash would
 * make open follow it, so trailing slashes are dropped), creating it if missing, and checks
 * that it can be written. what names it in messages. Returns the fd, or -errno; the path as
 * opened goes to *out_path when out_path is not NULL. */
/* open(2) of an output file with flags on top of write-only, no symlink, close-on-exec;
 * handed to the -Z user. */
static int open_output(const char *what, const char *path, int flags)
{
	struct stat sb;
	int fd, err;

	/* never follow a symlink planted where the output goes */
	fd = open(path, ((flags & O_ACCMODE) ? 0 : O_WRONLY) | O_NOFOLLOW | O_CLOEXEC | flags,
		  sinks_file_mode());
	if (fd < 0) {
		err = -errno;
		pr_warn("cannot create %s %s: %s%s\n", what, path, strerror(-err),
			err == -ELOOP ? " (it is a symlink; refusing to follow it)" : "");
		return err;
	}
	/* tcpdump -Z opens its files as the user: the same owner, though opened before; a file
	 * created after the switch (a -w rotation) is the user's already */
	if (owner_name && (fstat(fd, &sb) || sb.st_uid != owner_uid || sb.st_gid != owner_gid) &&
	    fchown(fd, owner_uid, owner_gid)) {
		err = -errno;
		pr_warn("failed to give %s %s to user %s (-Z): %s\n", what, path, owner_name,
			strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

/* The logs sinks_reopen_logs() opens again: those opened with a path, until closed. */
#define SINKS_MAX_LOGS 8
static struct sinks_log {
	FILE *f;
	const char *what;
	char *path;
} sinks_logs[SINKS_MAX_LOGS];
int sinks_open_file(const char *what, const char *path)
{
	return open_output(what, path, O_CREAT | O_TRUNC);
}

/*
 * A log a run before this one wrote (a restart after a crash, a second run with the same
 * path) is continued, not truncated: its lines stay. What follows its last newline, a line
 * that a kill of a writer other than ours (the OOM killer of a whole cgroup, a copy cut
 * short) left unfinished, is cut off first, so that the file holds whole lines only. Said
 * in one line when it happens. Leaves the offset at the end. 0 or -errno.
 */
static int log_continue(const char *what, const char *path, int fd)
{
	char buf[4096];
	struct stat sb;
	off_t end, at;
	ssize_t n;
	int i;

	/* a pipe, a terminal, /dev/null: nothing to continue */
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode))
		return 0;
	end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return -errno;
	for (at = end; at > 0; at -= n) {
		n = at < (off_t)sizeof(buf) ? (ssize_t)at : (ssize_t)sizeof(buf);
		if (pread(fd, buf, (size_t)n, at - n) != n)
			return -EIO;
		for (i = (int)n - 1; i >= 0 && buf[i] != '\n'; i--)
			;
		if (i >= 0) {
			at = at - n + i + 1;
			break;
		}
	}
	if (at < 0)
		at = 0;
	if (at == end)
		return 0;
	if (ftruncate(fd, at) || lseek(fd, at, SEEK_SET) < 0)
		return -errno;
	pr_warn("%s %s ended inside a line: its last %lld bytes were cut off (whole lines "
		"only); the new records follow\n",
		what, path, (long long)(end - at));
	return 0;
}

FILE *sinks_open_log(const char *what, const char *path)
{
	struct sinks_log *l = NULL;
	FILE *f;
	int i, fd, err;

	if (!path || !strcmp(path, "-"))
		return stdout;
	for (i = 0; i < SINKS_MAX_LOGS && !l; i++)
		if (!sinks_logs[i].f)
			l = &sinks_logs[i];
	if (!l) {
		pr_warn("cannot open %s %s: more than %d logs\n", what, path, SINKS_MAX_LOGS);
		errno = EMFILE;
		return NULL;
	}
	l->path = strdup(path);
	if (!l->path) {
		errno = ENOMEM;
		return NULL;
	}
	/* read too: log_continue() looks for the last newline */
	fd = open_output(what, path, O_RDWR | O_CREAT);
	if (fd < 0) {
		err = -fd;
		goto err_free;
	}
	err = log_continue(what, path, fd);
	if (err) {
		pr_warn("cannot continue %s %s: %s\n", what, path, strerror(-err));
		close(fd);
		err = -err;
		goto err_free;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = errno;
		close(fd);
		goto err_free;
	}
	l->f = f;
	l->what = what;
	return f;

err_free:
	free(l->path);
	l->path = NULL;
	errno = err;
	return NULL;
}

void sinks_close_log(FILE *f)
{
	int i;

	if (!f)
		return;
	if (f == stdout) {
		fflush(f);
		return;
	}
	for (i = 0; i < SINKS_MAX_LOGS; i++) {
		if (sinks_logs[i].f != f)
			continue;
		free(sinks_logs[i].path);
		memset(&sinks_logs[i], 0, sizeof(sinks_logs[i]));
	}
	fclose(f);
}

/* One log: its path opened again (no O_TRUNC: a file logrotate made with `create`, or one
 * that was not moved, is appended to) in the place of the fd under l->f. No fchown: once
 * -Z switched users, the file is made by that user already. 0 or -errno, said. */
static int sinks_reopen_log(struct sinks_log *l)
{
	int fd, err, old = fileno(l->f);

	/* empty between lines (sinks_write_line); a failure here is that log's, said later */
	fflush(l->f);
	fd = open(l->path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, sinks_file_mode());
	if (fd < 0) {
		err = -errno;
		goto err;
	}
	if (lseek(fd, 0, SEEK_END) < 0 || dup3(fd, old, O_CLOEXEC) < 0) {
		err = -errno;
		close(fd);
		goto err;
	}
	close(fd);
	return 0;

err:
	pr_warn("cannot reopen %s %s: %s%s; it goes on writing to the file it had (the next "
		"SIGHUP tries again)\n",
		l->what, l->path, strerror(-err),
		err == -ELOOP ? " (it is a symlink; refusing to follow it)" : "");
	return err;
}

int sinks_reopen_logs(void)
{
	int i, failed = 0;

	for (i = 0; i < SINKS_MAX_LOGS; i++)
		if (sinks_logs[i].f && sinks_reopen_log(&sinks_logs[i]))
			failed++;
	return failed;
}

int sinks_open_dir(const char *what, const char *dir, char **out_path)
{
	size_t n = strlen(dir);
	char *path;
	struct stat sb;
	bool made = true;
	int fd, err;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	path = strndup(dir, n);
	if (!path)
		return -ENOMEM;
	if (mkdir(path, sinks_dir_mode())) {
		err = -errno;
		if (err != -EEXIST) {
			pr_warn("failed to create %s %s: %s\n", what, dir, strerror(-err));
			goto err_free_path;
		}
		made = false;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		if (!lstat(path, &sb) && S_ISLNK(sb.st_mode)) {
			err = -ELOOP;
			pr_warn("%s %s is a symbolic link; give the directory it points to\n", what,
				dir);
		} else {
			pr_warn("failed to open %s %s: %s\n", what, dir, strerror(-err));
		}
		goto err_free_path;
	}
	if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS)) {
		err = -errno;
		pr_warn("cannot write to %s %s: %s\n", what, dir, strerror(-err));
		goto err_close;
	}
	if (owner_name && made && fchown(fd, owner_uid, owner_gid)) {
		err = -errno;
		pr_warn("failed to give %s %s to user %s (-Z): %s\n", what, dir, owner_name,
			strerror(-err));
		goto err_close;
	}
	if (owner_name && !made && (fstat(fd, &sb) || !owner_can_write(&sb))) {
		err = -EACCES;
		pr_warn("user %s (-Z) cannot write to %s %s: give it to that user (chown), or "
			"name a directory that does not exist yet\n",
			owner_name, what, dir);
		goto err_close;
	}
	if (out_path)
		*out_path = path;
	else
		free(path);
	return fd;

err_close:
	close(fd);
err_free_path:
	free(path);
	return err;
}

size_t sinks_whole_lines(const void *buf, size_t done)
{
	const char *nl = memrchr(buf, '\n', done);

	return nl ? (size_t)(nl - (const char *)buf) + 1 : 0;
}

int sinks_write_all(int fd, const void *buf, size_t n,
		    size_t (*whole)(const void *buf, size_t done))
{
	size_t done = 0, keep;
	ssize_t w;
	off_t at;
	int err;

	while (done < n) {
		w = write(fd, (const char *)buf + done, n - done);
		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		err = w < 0 ? -errno : -EIO;
		/* back to the end of the last whole unit (a pipe cannot be: ESPIPE) */
		keep = whole ? whole(buf, done) : 0;
		at = done > keep ? lseek(fd, 0, SEEK_CUR) : -1;
		if (at >= (off_t)(done - keep) && !ftruncate(fd, at - (off_t)(done - keep))) {
			lseek(fd, at - (off_t)(done - keep), SEEK_SET);
			done = keep;
		}
		sinks_count_written(done);
		return err;
	}
	sinks_count_written(n);
	return 0;
}

struct sinks_write_job {
	int fd;
	const void *buf;
	size_t n;
	size_t (*whole)(const void *buf, size_t done);
};

/* The child: its result is its exit status (-errno), which also holds where the child does
 * not share our memory (valgrind runs a vfork as a fork). Not instrumented by ASan: it runs
 * on a stack ASan does not know, and its _exit would make ASan warn on stderr. */
__attribute__((no_sanitize_address)) static int sinks_write_child(void *arg)
{
	struct sinks_write_job *j = arg;

	_exit(-sinks_write_all(j->fd, j->buf, j->n, j->whole) & 0xff);
}

int sinks_write_detached(int fd, const void *buf, size_t n,
			 size_t (*whole)(const void *buf, size_t done))
{
	/* the child's stack: one child at a time (we wait for it), from the capture thread */
	static __u8 stack[64 * 1024] __attribute__((aligned(16)));
	struct sinks_write_job job = {.fd = fd, .buf = buf, .n = n, .whole = whole};
	int status;
	pid_t pid;

	/* the parent sleeps until the child has exited: nothing else touches our memory */
	pid = clone(sinks_write_child, stack + sizeof(stack), SINKS_DETACHED_CLONE, &job);
	if (pid < 0)
		return sinks_write_all(fd, buf, n, whole);
	while (waitpid(pid, &status, __WALL) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (!WIFEXITED(status))
		return WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE ? -EPIPE : -EIO;
	return -WEXITSTATUS(status);
}

int sinks_write_line(FILE *f, const void *buf, size_t n)
{
	int fd = fileno(f);

	/* not ferror(f): another sink's failure on a shared stream is not this line's */
	errno = 0;
	if (fflush(f) == EOF)
		return errno ? -errno : -EIO;
	if (fd >= 0 && n >= 64 * 1024)
		return sinks_write_detached(fd, buf, n, sinks_whole_lines);
	if (fd >= 0)
		return sinks_write_all(fd, buf, n, sinks_whole_lines);
	if (fwrite(buf, 1, n, f) != n || fflush(f) == EOF || ferror(f))
		return errno ? -errno : -EIO;
	sinks_count_written(n);
	return 0;
}

/* Bytes the outputs wrote, from any thread (a detached write's child shares our memory). */
static __u64 bytes_written;

void sinks_count_written(__u64 n)
{
	__atomic_fetch_add(&bytes_written, n, __ATOMIC_RELAXED);
}

void sinks_get_stats(const struct sink_set *set, struct sinks_stats *out)
{
	int i;

	memset(out, 0, sizeof(*out));
	out->bytes_written = __atomic_load_n(&bytes_written, __ATOMIC_RELAXED);
	for (i = 0; i < set->n; i++) {
		if (set->v[i]->failed)
			out->failed++;
		else
			out->live++;
	}
}

void sinks_iso_time(char *buf, size_t size, __u64 ns)
{
	time_t sec = (time_t)(ns / 1000000000ULL);
	struct tm tm;
	size_t n;

	if (!gmtime_r(&sec, &tm))
		memset(&tm, 0, sizeof(tm));
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%06uZ", (unsigned int)(ns % 1000000000ULL / 1000));
}
