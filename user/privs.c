// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <sys/capability.h>

#include "log.h"
#include "privs.h"

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

static int switch_user(const char *user)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		pr_warn("no user %s: %s\n", user, errno ? strerror(errno) : "not found");
		return -ENOENT;
	}
	/* keep the permitted set across setuid, so that detaching at exit still works */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) || setgid(pw->pw_gid) ||
	    setuid(pw->pw_uid)) {
		int err = -errno;

		pr_warn("failed to switch to user %s: %s\n", user, strerror(-err));
		return err;
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return 0;
}

int privs_drop(const char *user)
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
	if (err)
		pr_warn("failed to drop capabilities: %s\n", strerror(-err));
	return err;
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
