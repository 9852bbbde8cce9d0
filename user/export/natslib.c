// SPDX-License-Identifier: GPL-2.0
/* natslib: see natslib.h. */
#define NATSLIB_IMPL
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include "export/natslib.h"
#include "log.h"

struct natslib natslib;
static pthread_mutex_t natslib_mu = PTHREAD_MUTEX_INITIALIZER;
static int natslib_state;	/* 0 not tried, 1 open, -ENOENT failed */

int natslib_open(void)
{
	void *h;
	const char *missing = NULL;

	pthread_mutex_lock(&natslib_mu);
	if (natslib_state)
		goto out;
	natslib_state = -ENOENT;
	h = dlopen(NATSLIB_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		pr_warn("nats: cannot load %s: %s (install libnats3.4: scripts/deps.sh)\n",
			NATSLIB_SONAME, dlerror());
		goto out;
	}
#define NATSLIB_SYM(f)                                                                         \
	natslib.f = (__typeof__(natslib.f))dlsym(h, #f);                                       \
	if (!natslib.f && !missing)                                                            \
		missing = #f;
	NATSLIB_FUNCS(NATSLIB_SYM)
#undef NATSLIB_SYM
	if (missing) {
		pr_warn("nats: %s has no %s (a libnats older than 3.4?)\n", NATSLIB_SONAME,
			missing);
		dlclose(h);
		goto out;
	}
	natslib_state = 1;
out:
	pthread_mutex_unlock(&natslib_mu);
	return natslib_state < 0 ? natslib_state : 0;
}
