// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h>
#include <seccomp.h>
#include <sys/capability.h>

#include "log.h"
#include "cmd/privs.h"
#include "sinks/sink.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif

/* What detaching needs at exit: netlink (NET_ADMIN), program lookups by id (SYS_ADMIN, BPF),
 * removing the root-only pins (DAC_OVERRIDE once not root). */
static const cap_value_t keep[] = { CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON,
				    CAP_DAC_OVERRIDE };
#define N_KEEP (int)(sizeof(keep) / sizeof(keep[0]))

bool privs_have_bpf(void)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t bpf = CAP_CLEAR, admin = CAP_CLEAR;

	if (!caps)
		return false;
	cap_get_flag(caps, CAP_BPF, CAP_EFFECTIVE, &bpf);
	cap_get_flag(caps, CAP_SYS_ADMIN, CAP_EFFECTIVE, &admin);
	cap_free(caps);
	return bpf == CAP_SET || admin == CAP_SET;
}

int privs_lookup_user(const char *name, struct privs_user *u)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(name);
	if (!pw)
		return errno && errno != ENOENT && errno != ESRCH ? -errno : -ENOENT;
	u->name = name;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	return 0;
}

static int switch_user(const struct privs_user *u)
{
	/* keep the permitted set across setuid, so that detaching at exit still works */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) || setgid(u->gid) ||
	    setuid(u->uid)) {
		int err = -errno;

		pr_warn("failed to switch to user %s: %s\n", u->name, strerror(-err));
		return err;
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return 0;
}

/* gcc says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer) */
#if defined(__SANITIZE_ADDRESS__)
#define XS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XS_ASAN 1
#endif
#endif

static bool seccomp_wanted = true;

void privs_set_seccomp(bool on)
{
	seccomp_wanted = on;
}

/*
 * The seccomp allow-list of `load` once privs_drop() has run: the capture loop
 * (ring buffer over epoll, counters through bpf(), the interface check through an
 * ioctl), the sinks (files opened, written, timed and closed as streams come and
 * go; stdout; localtime and jansson's seed on first use), the SIGUSR1 report, and
 * the exit path (capabilities raised again, XDP and tc detached over rtnetlink,
 * libxdp's bpffs pins and lock, our pins unlinked). Found with strace -f during
 * captures with every output, with and without -Z (tests/e2e/test_privs.sh); the
 * file calls libxdp makes when it rebuilds its dispatcher at detach (lock, pins,
 * renames) are allowed too, though this kernel (no freplace) never takes that path.
 */
static const int allowed[] = {
	/* memory */
	SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	/* files: the -o tree, -w, stdout, libxdp's bpffs pins, our pins at exit */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(readv),
	SCMP_SYS(writev), SCMP_SYS(lseek), SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(close),
	SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(statfs),
	SCMP_SYS(fstatfs), SCMP_SYS(fcntl), SCMP_SYS(dup), SCMP_SYS(dup3), SCMP_SYS(fsync),
	SCMP_SYS(fdatasync), SCMP_SYS(ftruncate), SCMP_SYS(utimensat), SCMP_SYS(getdents64),
	SCMP_SYS(mkdir), SCMP_SYS(mkdirat), SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(rmdir),
	SCMP_SYS(flock), SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(rename),
	SCMP_SYS(renameat), SCMP_SYS(renameat2),
	/* the ring buffer, counters, detaching */
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(poll),
	SCMP_SYS(ppoll), SCMP_SYS(bpf), SCMP_SYS(bind), SCMP_SYS(getsockname),
	/* --nats: libnats closing its connection wakes its reader thread with shutdown(2) */
	SCMP_SYS(shutdown),
	SCMP_SYS(setsockopt), SCMP_SYS(getsockopt), SCMP_SYS(recvmsg), SCMP_SYS(recvfrom),
	/* privs_raise() */
	SCMP_SYS(capget), SCMP_SYS(capset),
	/* time, signals, identity, exit */
	SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep), SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall), SCMP_SYS(futex), SCMP_SYS(getrandom),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid),
	SCMP_SYS(getegid), SCMP_SYS(uname), SCMP_SYS(prlimit64), SCMP_SYS(exit),
	SCMP_SYS(exit_group),
#ifdef XS_ASAN
	/* LeakSanitizer stops the world at exit: a tracer task that ptraces this one */
	SCMP_SYS(clone), SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(prctl), SCMP_SYS(sched_yield),
	SCMP_SYS(getdents), SCMP_SYS(mprotect), SCMP_SYS(sigaltstack), SCMP_SYS(getppid),
	SCMP_SYS(sched_getaffinity),
#endif
};
#define N_ALLOWED (int)(sizeof(allowed) / sizeof(allowed[0]))

/*
 * A system call off the list fails with EPERM (the code that made it reports the
 * failure as any other) and is logged by the kernel's audit (SECCOMP_FILTER_FLAG_LOG,
 * "type=1326" in dmesg or audit.log), rather than killing the process: a call
 * missing from the list on a rare path must not take the capture down with its
 * streams unflushed and its programs still attached. Running another program is
 * what an attacker who took over the process wants first: execve kills it.
 */
static int seccomp_install(bool serving)
{
	scmp_filter_ctx ctx;
	int i, err = 0;

	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return -ENOMEM;
	/* older kernels cannot log: the filter still works */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	for (i = 0; i < N_ALLOWED && !err; i++)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
	/* sockets: rtnetlink to detach, a datagram socket for if_nametoindex() */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				       SCMP_A0(SCMP_CMP_EQ, AF_NETLINK));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				       SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	/* netlink requests go to the kernel: sendto without a destination address only */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), 1,
				       SCMP_A4(SCMP_CMP_EQ, 0));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendmsg), 0);
	/* ioctl: the interface index, and stdio asking whether stdout is a terminal */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, SIOCGIFINDEX));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, TCGETS));
	/* abort() signals this process, and no other */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
#ifndef XS_ASAN
	/* the sinks' detached writes: a child sharing our memory, waited for (ASan allows any) */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				       SCMP_A0(SCMP_CMP_EQ, SINKS_DETACHED_CLONE));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(wait4), 0);
#endif
	/* the --metrics thread (privs_confine_thread) and no other: taking scrapes; the rest of
	 * serving (epoll, recvfrom, sendto without an address, setsockopt, shutdown, close) is
	 * on the list above */
	if (!err && serving)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(accept4), 0);
	if (!err && serving)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(accept), 0);
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(execve), 0);
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(execveat), 0);
	if (!err)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	return err;
}

int privs_drop(const struct privs_user *user)
{
	cap_t caps;
	int err = 0;

	if (user) {
		err = switch_user(user);
		if (err)
			return err;
	}
	caps = cap_init();
	if (!caps)
		return -errno;
	if (cap_set_flag(caps, CAP_PERMITTED, N_KEEP, keep, CAP_SET) || cap_set_proc(caps)) {
		/* a capability we never had cannot be kept: keep what there is, effective none */
		cap_clear(caps);
		if (cap_set_proc(caps))
			err = -errno;
	}
	cap_free(caps);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (err) {
		pr_warn("failed to drop capabilities: %s\n", strerror(-err));
		return err;
	}
	if (seccomp_wanted) {
		err = seccomp_install(false);
		if (err)
			pr_warn("failed to install the seccomp filter: %s (--no-seccomp runs "
				"without it)\n",
				strerror(-err));
	}
	return err;
}

/*
 * Capabilities and seccomp filters belong to a thread, not to the process: a thread started
 * before privs_drop() (the ring's reader, capture_live_start) keeps everything unless it
 * drops it itself. This empties all of the calling thread's capability sets (it detaches
 * nothing: the main thread does that) and installs the same allow-list on it.
 */
/* privs_confine_thread() and privs_confine_server_thread(): serving adds accepting */
static int confine_thread(bool serving)
{
	cap_t caps = cap_init();
	int err = 0;

	/* cap_init() is the empty set: this thread never detaches, it keeps nothing */
	if (!caps || cap_set_proc(caps))
		err = -errno;
	cap_free(caps);
	if (!err && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		err = -errno;
	if (!err && seccomp_wanted)
		err = seccomp_install(serving);
	if (err)
		pr_warn("failed to confine the %s thread: %s (--no-seccomp runs without the "
			"filter)\n",
			serving ? "--metrics" : "ring reader", strerror(-err));
	return err;
}

int privs_confine_thread(void)
{
	return confine_thread(false);
}

int privs_confine_server_thread(void)
{
	return confine_thread(true);
}

void privs_raise(void)
{
	cap_t caps = cap_get_proc();

	if (!caps)
		return;
	cap_set_flag(caps, CAP_EFFECTIVE, N_KEEP, keep, CAP_SET);
	cap_set_proc(caps);
	cap_free(caps);
}

void privs_lower(void)
{
	cap_t caps = cap_get_proc();

	if (!caps)
		return;
	cap_clear_flag(caps, CAP_EFFECTIVE);
	cap_set_proc(caps);
	cap_free(caps);
}
