/* SPDX-License-Identifier: GPL-2.0 */
/*
 * privs: least privilege for `load`. Once attached and with its outputs
 * open, the process keeps no effective capability while it parses packets;
 * only those it needs to detach at the end stay permitted, and are raised
 * again just for that. With -Z USER it also becomes USER, as tcpdump does.
 * Last, a seccomp allow-list confines the steady state and the exit path to
 * the system calls they make (see privs.c and SECURITY.md).
 */
#ifndef XS_PRIVS_H
#define XS_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

/* The -Z user, looked up once before anything is attached or opened. */
struct privs_user {
	const char *name;	/* as given; the caller's string */
	uid_t uid;
	gid_t gid;		/* the primary group: the only one kept */
};

/* Does the process hold CAP_BPF (or CAP_SYS_ADMIN)? */
bool privs_have_bpf(void);
/* Looks user up in the password database. Returns 0, -ENOENT for no such user, or -errno of
 * the lookup; prints nothing (the caller words the usage error). */
int privs_lookup_user(const char *name, struct privs_user *u);
/*
 * Drops to steady state: no effective capability; switches to user when not NULL;
 * then installs the seccomp allow-list unless privs_set_seccomp(false) was called.
 */
int privs_drop(const struct privs_user *user);
/* Whether privs_drop() installs the seccomp filter (on unless told otherwise). */
void privs_set_seccomp(bool on);
/*
 * On a thread made before privs_drop() (the ring's reader, the --metrics server), after it:
 * capabilities, the no-new-privileges bit and a seccomp filter belong to each thread, so
 * privs_drop() on the main thread left this one as it was. It drops every capability (it
 * never detaches) and installs the same allow-list; privs_confine_server_thread() adds
 * accepting connections (the --metrics server's). Returns 0 or -errno (said).
 */
int privs_confine_thread(void);
int privs_confine_server_thread(void);
/* Raises the detach capabilities again (no-op when they are gone). */
void privs_raise(void);
/* Back to no effective capability, once detached. */
void privs_lower(void);

#endif
