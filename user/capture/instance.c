// SPDX-License-Identifier: GPL-2.0
/*
 * The pinned instance: the maps a load pins under XS_PIN_ROOT/IFACE and what it attached,
 * read by status, changed by filter, removed by unload or by the next load.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#include "capture/capture_priv.h"
#include "log.h"
#include "xdp_sniff.skel.h"

int instance_ensure_bpffs(void)
{
	struct statfs st;

	if (!statfs("/sys/fs/bpf", &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	mkdir("/sys/fs/bpf", 0755);
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		int err = -errno;

		pr_warn("bpffs is not mounted at /sys/fs/bpf and mounting it failed: %s "
			"(run as root, or mount -t bpf bpf /sys/fs/bpf)\n",
			strerror(-err));
		return err;
	}
	return 0;
}

static void pin_path(char *buf, size_t size, const char *ifname, const char *name)
{
	if (name)
		snprintf(buf, size, "%s/%s/%s", XS_PIN_ROOT, ifname, name);
	else
		snprintf(buf, size, "%s/%s", XS_PIN_ROOT, ifname);
}

static const char *const pinned_maps[] = {
	"counters",    "instance",    "filter_gen",  "filter_state",
	"filter_v4_0", "filter_v4_1", "filter_v6_0", "filter_v6_1",
	/* the expression's (include/xdp_sniff/expr.h): `filter expr` loads into them */
	"filter_expr", "expr_scratch", "expr_xdp",    "expr_tc",
};
#define PINNED_EXPR_FIRST 8

int instance_pin(struct capture *c)
{
	char path[PATH_MAX];
	size_t i;
	int err;

	if (mkdir(XS_PIN_ROOT, 0700) && errno != EEXIST)
		return -errno;
	pin_path(path, sizeof(path), c->ifname, NULL);
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	for (i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(capture_obj(c), pinned_maps[i]);

		pin_path(path, sizeof(path), c->ifname, pinned_maps[i]);
		unlink(path);
		/* the AF_XDP transport's object has no expression maps */
		if (!m && i >= PINNED_EXPR_FIRST)
			continue;
		err = m ? bpf_map__pin(m, path) : -ENOENT;
		if (err)
			return err;
	}
	c->pinned = true;
	return 0;
}

void instance_unpin(const char *ifname)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++) {
		pin_path(path, sizeof(path), ifname, pinned_maps[i]);
		unlink(path);
	}
	pin_path(path, sizeof(path), ifname, NULL);
	rmdir(path);
	rmdir(XS_PIN_ROOT);
}

int instance_write(struct capture *c)
{
	struct xs_instance inst = {
		.version = XS_INSTANCE_VERSION,
		.pid = getpid(),
		.ifindex = c->ifindex,
		.snaplen = c->opts.snaplen,
		.ring_size = c->opts.ring_size,
		.xdp_mode = c->xdp_mode,
	};
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), zero = 0;
	struct timespec now;

	/* started_ns is wall-clock time (status prints it as UTC), not the records' clock */
	clock_gettime(CLOCK_REALTIME, &now);
	inst.started_ns = (__u64)now.tv_sec * 1000000000ULL + now.tv_nsec;
	snprintf(inst.ifname, sizeof(inst.ifname), "%s", c->ifname);
	if (c->xdp_on) {
		inst.flags |= XS_INST_INGRESS;
		inst.xdp_prog_id = xdp_program__id(c->xdp_prog);
		if (c->dispatcher)
			inst.flags |= XS_INST_DISPATCHER;
	}
	if (c->loopback)
		inst.flags |= XS_INST_LOOPBACK;
	if (c->ops->instance)
		c->ops->instance(c, &inst);
	if (c->tc_on) {
		inst.flags |= XS_INST_EGRESS;
		if (!bpf_obj_get_info_by_fd(bpf_program__fd(c->skel->progs.tc_sniff), &info, &len))
			inst.tc_prog_id = info.id;
	}
	if (bpf_map_update_elem(bpf_object__find_map_fd_by_name(capture_obj(c), "instance"), &zero, &inst,
				BPF_ANY))
		return -errno;
	return 0;
}

static int pinned_fd(const char *ifname, const char *name)
{
	char path[PATH_MAX];

	pin_path(path, sizeof(path), ifname, name);
	return bpf_obj_get(path);
}

static bool pid_is_sniffer(__u32 pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return !strncmp(comm, "xdp-sniff", 9);
}

static bool xdp_prog_attached(int ifindex, __u32 id)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p = NULL;
	bool found = false;

	if (libxdp_get_error(mp) || !mp)
		return false;
	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		found = p && xdp_program__id(p) == id;
	} else {
		while ((p = xdp_multiprog__next_prog(p, mp)))
			if (xdp_program__id(p) == id)
				found = true;
	}
	xdp_multiprog__close(mp);
	return found;
}

static void close_filter_maps(struct filter_maps *m)
{
	int i;

	if (m->gen >= 0)
		close(m->gen);
	if (m->state >= 0)
		close(m->state);
	for (i = 0; i < XS_FILTER_GENS; i++) {
		if (m->v4[i] >= 0)
			close(m->v4[i]);
		if (m->v6[i] >= 0)
			close(m->v6[i]);
	}
	if (!m->has_expr)
		return;
	close(m->expr_text);
	close(m->expr_scratch);
	close(m->counters);
	for (i = 0; i < XS_DIR_MAX; i++)
		close(m->expr_progs[i]);
	m->has_expr = false;
}

/* The expression's pinned maps, when the instance has them (has_expr says). */
static void open_expr_maps(const char *ifname, struct filter_maps *m)
{
	int fds[5], i;

	fds[0] = pinned_fd(ifname, "filter_expr");
	fds[1] = pinned_fd(ifname, "expr_scratch");
	fds[2] = pinned_fd(ifname, "counters");
	fds[3] = pinned_fd(ifname, "expr_xdp");
	fds[4] = pinned_fd(ifname, "expr_tc");
	for (i = 0; i < 5; i++) {
		if (fds[i] < 0) {
			for (i = 0; i < 5; i++)
				if (fds[i] >= 0)
					close(fds[i]);
			return;
		}
	}
	m->expr_text = fds[0];
	m->expr_scratch = fds[1];
	m->counters = fds[2];
	m->expr_progs[0] = fds[3];
	m->expr_progs[1] = fds[4];
	m->has_expr = true;
}

/* Opens the pinned filter maps of ifname; -ENOENT when one is missing. */
static int open_filter_maps(const char *ifname, struct filter_maps *m)
{
	m->gen = pinned_fd(ifname, "filter_gen");
	m->state = pinned_fd(ifname, "filter_state");
	m->v4[0] = pinned_fd(ifname, "filter_v4_0");
	m->v4[1] = pinned_fd(ifname, "filter_v4_1");
	m->v6[0] = pinned_fd(ifname, "filter_v6_0");
	m->v6[1] = pinned_fd(ifname, "filter_v6_1");
	m->has_expr = false;
	m->expr_no_tc = false;
	open_expr_maps(ifname, m);
	if (m->gen < 0 || m->state < 0 || m->v4[0] < 0 || m->v4[1] < 0 || m->v6[0] < 0 ||
	    m->v6[1] < 0) {
		close_filter_maps(m);
		return -ENOENT;
	}
	return 0;
}

int instance_read(const char *ifname, struct instance_view *v)
{
	struct filter_maps fm;
	int fd_inst, fd_cnt = -1;
	__u32 zero = 0;
	int err;

	memset(v, 0, sizeof(*v));
	fd_inst = pinned_fd(ifname, "instance");
	if (fd_inst < 0)
		return -ENOENT;
	if (bpf_map_lookup_elem(fd_inst, &zero, &v->inst)) {
		err = -errno;
		goto out;
	}
	fd_cnt = pinned_fd(ifname, "counters");
	err = fd_cnt < 0 ? -ENOENT : open_filter_maps(ifname, &fm);
	if (err)
		goto out;
	err = capture_read_counters(fd_cnt, v->counters);
	if (!err)
		err = filter_read(&v->filter, &fm);
	close_filter_maps(&fm);
	v->pid_alive = v->inst.pid && (!kill(v->inst.pid, 0) || errno == EPERM) &&
		       pid_is_sniffer(v->inst.pid);
	if (v->inst.flags & XS_INST_INGRESS)
		v->xdp_attached = xdp_prog_attached(v->inst.ifindex, v->inst.xdp_prog_id);
	if (v->inst.flags & XS_INST_EGRESS)
		v->tc_attached = v->inst.tc_prog_id && capture_tc_query(v->inst.ifindex) == v->inst.tc_prog_id;
out:
	close(fd_inst);
	if (fd_cnt >= 0)
		close(fd_cnt);
	return err;
}

int instance_filter_update(const char *ifname, int (*edit)(struct xs_filter *f, void *arg),
			   void *arg, struct xs_filter *result)
{
	char path[PATH_MAX];
	struct filter_maps fm;
	int dfd, err;

	pin_path(path, sizeof(path), ifname, NULL);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -ENOENT;
	/* one writer at a time: the generation not in force is filled, then flipped */
	if (flock(dfd, LOCK_EX)) {
		err = -errno;
		close(dfd);
		return err;
	}
	err = open_filter_maps(ifname, &fm);
	if (err)
		goto out;
	err = filter_read(result, &fm);
	if (!err)
		err = edit(result, arg);
	/* edit said there is nothing to change (list) */
	if (err > 0)
		err = 0;
	else if (!err)
		err = filter_apply(result, &fm);
	close_filter_maps(&fm);
	/* a packet that read the old generation just before the flip may still be judged by
	 * it: the next writer must not start rewriting it at once */
	usleep(10000);
out:
	flock(dfd, LOCK_UN);
	close(dfd);
	return err;
}

int instance_list(char names[][16], int max)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir(XS_PIN_ROOT);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= 16)
			continue;
		snprintf(names[n++], 16, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

int instance_remove(const char *ifname)
{
	struct instance_view v;
	int err;

	err = instance_read(ifname, &v);
	if (err)
		return err;
	if (v.xdp_attached) {
		struct xdp_program *p = xdp_program__from_id(v.inst.xdp_prog_id);

		if (!libxdp_get_error(p) && p) {
			err = xdp_program__detach(p, v.inst.ifindex, v.inst.xdp_mode, 0);
			if (err)
				pr_warn("failed to detach XDP program %u from %s: %s\n",
					v.inst.xdp_prog_id, ifname, strerror(-err));
			xdp_program__close(p);
		}
	}
	if (v.tc_attached)
		capture_tc_detach(v.inst.ifindex);
	instance_unpin(ifname);
	return err;
}
