/* SPDX-License-Identifier: GPL-2.0 */
/* log: every diagnostic goes to stderr through here; data never does. */
#ifndef XS_LOG_H
#define XS_LOG_H

enum log_level {
	LOG_WARN = 0,
	LOG_INFO = 1,
	LOG_DEBUG = 2,
};

/* LOG_INFO by default; -q lowers it to LOG_WARN, -v raises it to LOG_DEBUG. */
extern int log_level;

void xs_log(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Routes libbpf's and libxdp's messages through xs_log (shown with -v). */
void log_setup_libs(void);

#define pr_warn(...) xs_log(LOG_WARN, __VA_ARGS__)
#define pr_info(...) xs_log(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) xs_log(LOG_DEBUG, __VA_ARGS__)

#endif
