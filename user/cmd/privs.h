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

/* Does the process hold CAP_BPF (or CAP_SYS_ADMIN)? */
bool privs_have_bpf(void);
/*
 * Drops to steady state: no effective capability; switches to user when not NULL;
 * then installs the seccomp allow-list unless privs_set_seccomp(false) was called.
 */
int privs_drop(const char *user);
/* Whether privs_drop() installs the seccomp filter (on unless told otherwise). */
void privs_set_seccomp(bool on);
/* Raises the detach capabilities again (no-op when they are gone). */
void privs_raise(void);
/* Back to no effective capability, once detached. */
void privs_lower(void);

#endif
