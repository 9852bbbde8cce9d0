// SPDX-License-Identifier: GPL-2.0
/* xdp-sniff load IFACE: attach, capture until SIGINT/SIGTERM, detach; SIGHUP reopens the
 * logs. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "log.h"
#include "cmd/privs.h"
#include "cmd/session.h"

/* How long records may wait on the ring when the kernel does not wake the reader (it wakes
 * it once an eighth of the ring is full): the latency bound of a quiet capture. */
#define POLL_MS 50

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t stats_wanted;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void on_usr1(int sig)
{
	(void)sig;
	stats_wanted = 1;
}

/* SIGHUP: the logs are reopened by the loop, between two records (sinks_reopen_logs) */
static volatile sig_atomic_t reopen_wanted;

static void on_hup(int sig)
{
	(void)sig;
	reopen_wanted = 1;
}

static const struct session_cmd_info load_info = {
	.name = "load",
	.cmd = SESSION_LOAD,
	.usage = "usage: xdp-sniff load IFACE [filter] [output] [options]\n\n"
		 "Attaches to IFACE (XDP on ingress, tc on egress) and captures until SIGINT or\n"
		 "SIGTERM. SIGHUP reopens --json-log, --http-log and --tls-log (logrotate);\n"
		 "SIGUSR1 prints the counters.\n",
	.epilogue = "On a terminal, a status line on stderr is rewritten once a second.\n",
};

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Parse: the options into o, the interface into o->cap.ifname. Returns SESSION_ARGS_*. */
static int load_parse(struct session_opts *o, int argc, char **argv)
{
	int r;

	session_opts_init(o, SESSION_LOAD);
	r = session_parse_args(o, &load_info, argc, argv);
	if (r)
		return r;
	r = session_check_operands(o, "load", "interface", argc, argv);
	if (r)
		return r;
	o->cap.ifname = argv[optind];
	return SESSION_ARGS_OK;
}

/* Validate: what options say together, decided before anything is opened. Returns
 * SESSION_ARGS_OK or SESSION_ARGS_USAGE (said). */
static int load_validate(struct session_opts *o, struct privs_user *zuser)
{
	int err;

	/* AF_XDP takes ingress frames only: a mirror port or a tap sends nothing */
	if (o->cap.transport == CAPTURE_AFXDP) {
		if (o->cap.dirs && o->cap.dirs != CAPTURE_IN)
			return session_usage_error("load", "--transport afxdp captures ingress only: "
							   "--direction must be in");
		if (o->cap.max_stream_bytes)
			return session_usage_error("load", "--max-stream-bytes is not available with "
							   "--transport afxdp");
		o->cap.dirs = CAPTURE_IN;
	} else if (o->cap.consume_all || o->cap.force) {
		return session_usage_error("load", "--%s goes with --transport afxdp",
					   o->cap.consume_all ? "consume-all" : "force");
	}
	if (!o->cap.dirs)
		o->cap.dirs = CAPTURE_BOTH;
	/* the ring reader's queue, alongside --memcap: by default a quarter of it, at most 256M */
	if (o->cap.queue_size == SESSION_QUEUE_AUTO)
		o->cap.queue_size = o->memcap / 4 < (256ULL << 20)
					    ? (o->memcap / 4 > (2ULL << 20) ? o->memcap / 4 : 2ULL << 20)
					    : 256ULL << 20;
	if (o->cap.skips && (!o->http || o->http_bodies))
		return session_usage_error("load", "--no-bodies goes with --http and not with "
						   "--http-bodies");
	if (session_check_outputs(o, "load"))
		return SESSION_ARGS_USAGE;
	/* like every other option, before anything is attached */
	if (o->user && (err = privs_lookup_user(o->user, zuser))) {
		fprintf(stderr, "xdp-sniff load: %s '%s' for -Z%s%s (see xdp-sniff load --help)\n",
			err == -ENOENT ? "no user" : "cannot look up user", o->user,
			err == -ENOENT ? "" : ": ", err == -ENOENT ? "" : strerror(-err));
		return SESSION_ARGS_USAGE;
	}
	privs_set_seccomp(!o->no_seccomp);
	session_note_filter(o);
	return SESSION_ARGS_OK;
}

/*
 * Before attaching: `status` shows the capture running as soon as it is attached, and a signal
 * sent then must stop it cleanly, not kill it.
 */
static void load_signals(void)
{
	struct sigaction sa = {};

	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	/* a closed stdout is an output error (reported, that output switched off), not death */
	signal(SIGPIPE, SIG_IGN);
}

/* Attach: the programs on the interface, the ring (or AF_XDP sockets) read into s. */
static int load_attach(struct session *s, struct session_opts *o)
{
	s->cap = capture_live_open(&o->cap, session_segment, s);
	if (!s->cap)
		return -errno ?: -EINVAL;
	pr_info("capturing on %s: %s\n", o->cap.ifname, capture_describe(s->cap));
	return session_capture_opened(s, o->cap.ifname, NULL);
}

/* Run: read the capture until a signal stops it or it fails. Returns the exit status. */
static int load_run(struct session *s, struct session_opts *o)
{
	__u64 last_tick = 0, last_json = 0;
	struct session_rate rate = {};
	bool status_line;
	int err, status = 0;

	/* a person watching gets a live line; a log file does not, nor a terminal that shows
	 * the packets too */
	status_line = session_status_line_wanted(o, STDOUT_FILENO, STDERR_FILENO);
	while (!stop_signal) {
		__u64 now;

		err = capture_live_poll(s->cap, POLL_MS);
		if (err < 0 && err != -EINTR) {
			pr_warn("reading the ring buffer failed: %s\n", strerror(-err));
			status = 1;
			break;
		}
		if (session_outputs_gone(s) || session_rotation_done(s))
			break;
		if (reopen_wanted) {
			reopen_wanted = 0;
			sinks_reopen_logs();
		}
		if (stats_wanted) {
			char when[40];

			stats_wanted = 0;
			/* in a log, this must not read like the summary at exit */
			sinks_iso_time(when, sizeof(when), now_ns());
			if (status_line)
				fputs("\n", stderr);
			fprintf(stderr, "counters at %s (SIGUSR1; the capture goes on):\n", when);
			session_print_stats(s, stderr);
		}
		now = now_ns();
		if (now - last_tick >= 1000000000ULL) {
			last_tick = now;
			if (s->flows)
				flow_table_expire(s->flows, now);
			sinks_flush(&s->sinks);
			session_publish_metrics(s);
			if (session_outputs_gone(s))
				break;
			if (status_line)
				session_print_status_line(s, stderr, &rate, now);
			err = capture_live_check(s->cap);
			if (err == -ENODEV)
				pr_warn("interface %s went away; stopping\n", o->cap.ifname);
			if (err) {
				status = 1;
				break;
			}
		}
		if (o->stats_interval_ns && now - last_json >= o->stats_interval_ns) {
			if (last_json)
				session_print_stats_json(s, stderr);
			last_json = now;
		}
	}
	if (status_line)
		fputs("\n", stderr);
	return status;
}

/* Finish: detach first, drain what is left on the ring, end the streams, count, close.
 * Returns status, or 1 when every output failed other than by its reader going away. */
static int load_finish(struct session *s, int status)
{
	int err;

	privs_raise();
	capture_detach(s->cap);
	/* the last records are written with no more privilege than the steady state had */
	privs_lower();
	capture_drain(s->cap);
	session_finish(s);
	/*
	 * Outputs whose readers went away (`load IF -w - | head`) end the capture as they end
	 * tcpdump's, with status 0 once nothing is left to write to; when every output failed
	 * otherwise (a full disk), data was lost: status 1. While one output goes on, the
	 * others' failures were reported and the capture is still a capture.
	 */
	err = session_outputs_failed(s);
	if (session_outputs_gone(s)) {
		if (err == -EPIPE) {
			pr_info("no output left (their readers closed the pipe); capture stopped\n");
		} else {
			pr_warn("no output left (every one failed); capture stopped\n");
			status = 1;
		}
	}
	if (log_level >= LOG_WARN)
		session_print_stats(s, stderr);
	capture_close(s->cap);
	s->cap = NULL;
	session_close(s);
	return status;
}

int cmd_load(int argc, char **argv)
{
	struct session_opts o;
	struct privs_user zuser;
	struct session s;
	int r;

	r = load_parse(&o, argc, argv);
	if (!r)
		r = load_validate(&o, &zuser);
	if (r)
		return r == SESSION_ARGS_DONE ? 0 : 2;
	if (geteuid() != 0 && !privs_have_bpf()) {
		pr_warn("load on %s needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (run as root)\n",
			o.cap.ifname);
		return 1;
	}
	load_signals();
	/* tcpdump -Z creates its outputs as the user: the directories made here are given to
	 * it, the files in them are created after the switch */
	if (o.user)
		sinks_set_owner(zuser.name, zuser.uid, zuser.gid);
	/* outputs first: one that cannot be opened stops load before anything is attached */
	o.nats.iface = o.cap.ifname;
	r = session_open(&s, &o);
	if (r)
		return r == -EKEYREJECTED || r == -EADDRINUSE ? 2 : 1;
	if (load_attach(&s, &o)) {
		session_close(&s);
		return 1;
	}
	/* drop privileges before the first packet is parsed */
	r = privs_drop(o.user ? &zuser : NULL) ? 1 : 0;
	/* the ring's reader thread (if any) drops as much and starts reading */
	if (!r && capture_live_start(s.cap, privs_confine_thread))
		r = 1;
	/* and --metrics' thread its own before it serves */
	if (!r && session_serve_metrics(&s, privs_confine_server_thread))
		r = 1;
	if (!r)
		r = load_run(&s, &o);
	return load_finish(&s, r);
}
