/* SPDX-License-Identifier: GPL-2.0 */
/*
 * privs: least privilege for `load`. Once attached and with its outputs
 * open, the process keeps no effective capability while it parses packets;
 * only those it needs to detach at the end stay permitted, and are raised
 * again just for that. With -Z USER it also becomes USER, as tcpdump does.
 */
#ifndef XS_PRIVS_H
#define XS_PRIVS_H

#include <stdbool.h>

/* Does the process hold CAP_BPF (or CAP_SYS_ADMIN)? */
bool privs_have_bpf(void);
/* Drops to steady state: no effective capability; switches to user when not NULL. */
int privs_drop(const char *user);
/* Raises the detach capabilities again (no-op when they are gone). */
void privs_raise(void);

#endif
