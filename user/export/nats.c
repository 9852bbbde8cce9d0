// SPDX-License-Identifier: GPL-2.0
/* export: see nats.h for the contract, spool.h for what is on disk. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "cmd/session.h"
#include "export/nats.h"
#include "export/natslib.h"
#include "export/spool.h"
#include "log.h"

#define EXPORT_DEFAULT_WINDOW 4096
#define EXPORT_DEFAULT_TIMEOUT_MS 5000
#define EXPORT_DEFAULT_DRAIN_MS 10000
#define EXPORT_RETRY_NS 1000000000ull
#define EXPORT_ID_MAX 160
#define EXPORT_BATCH 64		/* messages made under the lock and then sent without it */
#define EXPORT_IDLE_NS 20000000ull	/* the publisher's sleep with nothing to send */
#define EXPORT_NAP_NS 2000000ull	/* ... and while records keep coming */
#define EXPORT_STAGE_MAX (4u << 20)	/* records handed over and not yet spooled, bytes */

static const char *const kind_names[EXPORT_KINDS] = { "streams", "http", "stats" };

/* A message on its way: its spool seq, and how it settled. */
enum { SLOT_SENT, SLOT_ACKED, SLOT_FAILED };
struct export_slot {
	__u64 seq;
	int state;
};

struct exporter {
	struct export_opts o;
	char host[64];
	char subject[EXPORT_KINDS][256];
	natsOptions *nopts;
	natsConnection *nc;
	jsCtx *js;
	struct spool *sp;

	/*
	 * The capture thread's hand-over, under smu: records given to export_record and not
	 * yet in the spool (each: u8 kind, u32 length, the text). The publisher takes them
	 * all at once (swapping stage and spare) and spools them, so the capture thread
	 * neither waits for the spool, the publisher or the acks, nor wakes the publisher
	 * for every record. Lock order: mu, then smu.
	 */
	pthread_mutex_t smu;
	pthread_cond_t cv;		/* wakes the publisher: records came, or stop */
	char *stage;
	size_t stage_len, stage_cap;
	__u32 fresh;			/* records in stage */
	bool stop, kick;
	bool idle;			/* the publisher sent all there was: wake it per record */

	/* shared by the publisher thread, libnats' threads and the stats, under mu */
	pthread_mutex_t mu;
	pthread_t thread;
	bool started;
	char *spare;			/* the publisher's: the stage it took */
	size_t spare_len, spare_cap;
	char *bbuf;			/* the publisher's: a batch of records copied out */
	size_t bcap;
	bool read_warned;
	bool fail_warned;		/* a failed publish was said since the last ack */
	struct export_slot *ring;	/* in flight, in seq order: ring[head .. head+n) */
	__u32 cap, head, n;
	__u32 unsettled;		/* slots still SLOT_SENT */
	bool failed;			/* a publish failed: rewind once the window is empty */
	bool reconnected;		/* the connection came back: rewind */
	__u64 acked, duplicates, nfailed, reconnects;
	bool warned_stream;

	__u64 records, published, spooled;
	__u64 fail_ns;
	int append_err;
	bool down_warned;		/* the capture thread's */
};

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

void export_opts_init(struct export_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->prefix = "xdp-sniff";
	o->stream = "XDP_SNIFF";
	o->spool_max = SPOOL_DEFAULT_MAX;
	o->max_payload = 64 << 10;
	o->window = EXPORT_DEFAULT_WINDOW;
	o->timeout_ms = EXPORT_DEFAULT_TIMEOUT_MS;
	o->drain_ms = EXPORT_DEFAULT_DRAIN_MS;
}

static int export_usage(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "xdp-sniff %s: ", cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see xdp-sniff %s --help)\n", cmd);
	return 2;
}

/* A subject token: letters, digits, '-' and '_' only (no '.', '*', '>' or blanks). */
static bool subject_token_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

/* A prefix: subject tokens joined by dots. */
static bool subject_prefix_ok(const char *s)
{
	char buf[200], *tok, *save;

	if (strlen(s) >= sizeof(buf) || !*s || s[strlen(s) - 1] == '.')
		return false;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
		if (!subject_token_ok(tok))
			return false;
	return s[0] != '.' && !strstr(s, "..");
}

int export_parse_opt(struct export_opts *o, int opt, const char *arg, const char *cmd)
{
	__u64 v;

	switch (opt) {
	case OPT_NATS:
		/* user:password@ or token@ in a URL would sit in ps and in the unit file */
		if (strchr(arg, '@'))
			return export_usage(cmd,
					    "--nats '%s': no credentials in the URL (give "
					    "--nats-creds or --nats-token-file)",
					    "...");
		o->urls = arg;
		return 0;
	case OPT_NATS_SUBJECT:
		if (!subject_prefix_ok(arg))
			return export_usage(cmd, "bad --nats-subject '%s' (tokens of letters, "
						 "digits, - and _ joined by dots)", arg);
		o->prefix = arg;
		return 0;
	case OPT_NATS_STREAM:
		if (!subject_token_ok(arg) || strlen(arg) > 64)
			return export_usage(cmd, "bad --nats-stream '%s' (letters, digits, - and _)",
					    arg);
		o->stream = arg;
		return 0;
	case OPT_NATS_CREATE_STREAM:
		o->create_replicas = 1;
		if (arg) {
			if (parse_size(arg, 5, &v) || !v)
				return export_usage(cmd, "bad --nats-create-stream '%s' (replicas, 1 "
							 "to 5)", arg);
			o->create_replicas = (int)v;
		}
		return 0;
	case OPT_NATS_STREAM_MAX_BYTES:
		if (parse_size(arg, 1ull << 50, &v))
			return export_usage(cmd, "bad --nats-stream-max-bytes '%s'", arg);
		o->stream_max_bytes = v;
		return 0;
	case OPT_NATS_STREAM_MAX_AGE:
		if (parse_size(arg, 100ull * 365 * 86400, &v))
			return export_usage(cmd, "bad --nats-stream-max-age '%s' (seconds)", arg);
		o->stream_max_age_s = v;
		return 0;
	case OPT_NATS_CREDS:
		o->creds = arg;
		return 0;
	case OPT_NATS_TOKEN_FILE:
		o->token_file = arg;
		return 0;
	case OPT_NATS_TLS_CA:
		o->tls_ca = arg;
		return 0;
	case OPT_NATS_TLS_CERT:
		o->tls_cert = arg;
		return 0;
	case OPT_NATS_TLS_KEY:
		o->tls_key = arg;
		return 0;
	case OPT_NATS_PAYLOAD:
		o->payload = true;
		return 0;
	case OPT_NATS_MAX_PAYLOAD:
		if (parse_size(arg, 16ull << 20, &v))
			return export_usage(cmd, "bad --nats-max-payload '%s' (up to 16M)", arg);
		o->max_payload = v;
		return 0;
	case OPT_NATS_WINDOW:
		if (parse_size(arg, 1 << 20, &v) || !v)
			return export_usage(cmd, "bad --nats-window '%s' (1 to 1M)", arg);
		o->window = (__u32)v;
		return 0;
	case OPT_NATS_TIMEOUT:
		if (parse_size(arg, 600000, &v) || v < 10)
			return export_usage(cmd, "bad --nats-timeout '%s' (10 to 600000 ms)", arg);
		o->timeout_ms = (__u32)v;
		return 0;
	case OPT_NATS_DRAIN:
		if (parse_size(arg, 3600000, &v))
			return export_usage(cmd, "bad --nats-drain '%s' (0 to 3600000 ms)", arg);
		o->drain_ms = (__u32)v;
		return 0;
	case OPT_HOST_ID:
		if (!subject_token_ok(arg) || strlen(arg) > 63)
			return export_usage(cmd, "bad --host-id '%s' (up to 63 letters, digits, - "
						 "and _)", arg);
		o->host_id = arg;
		return 0;
	case OPT_SPOOL_DIR:
		o->spool_dir = arg;
		return 0;
	case OPT_SPOOL_MAX:
		if (parse_size(arg, 1ull << 44, &v) || v < (64 << 10))
			return export_usage(cmd, "bad --spool-max '%s' (64K and up)", arg);
		o->spool_max = v;
		return 0;
	}
	return 1;
}

/* The hostname with every character a subject cannot carry made '_'. */
static void export_host(struct exporter *e)
{
	char h[256] = "";

	if (e->o.host_id) {
		snprintf(e->host, sizeof(e->host), "%s", e->o.host_id);
		return;
	}
	if (gethostname(h, sizeof(h) - 1) || !*h)
		strcpy(h, "localhost");
	snprintf(e->host, sizeof(e->host), "%s", h);
	for (char *p = e->host; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			*p = '_';
}

/* The text libnats gives for its last error, or its status text. */
static const char *nats_err(natsStatus s)
{
	natsStatus ls;
	const char *t = nats_GetLastError(&ls);

	return t && *t ? t : natsStatus_GetText(s);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	(void)closure;
	(void)nc;
	pr_debug("nats: disconnected\n");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	struct exporter *e = closure;
	(void)nc;

	pthread_mutex_lock(&e->mu);
	e->reconnected = true;
	e->reconnects++;
	pthread_mutex_unlock(&e->mu);
	pr_debug("nats: reconnected\n");
}

static void on_connected(natsConnection *nc, void *closure)
{
	struct exporter *e = closure;
	(void)nc;

	pthread_mutex_lock(&e->mu);
	e->reconnected = true;
	pthread_mutex_unlock(&e->mu);
	pr_info("nats: connected; publishing what the spool holds\n");
}

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
			   void *closure)
{
	(void)nc;
	(void)sub;
	(void)closure;
	pr_debug("nats: %s\n", natsStatus_GetText(err));
}

/* The seq at the end of a Nats-Msg-Id HOST-EPOCH-RUN-SEQ. */
static bool msg_seq(natsMsg *msg, __u64 *seq)
{
	const char *id = NULL, *dash;

	if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK || !id)
		return false;
	dash = strrchr(id, '-');
	if (!dash)
		return false;
	*seq = strtoull(dash + 1, NULL, 10);
	return true;
}

/* The slot of seq in the ring (slots are in increasing seq order), or NULL. */
static struct export_slot *ring_find(struct exporter *e, __u64 seq)
{
	__u32 lo = 0, hi = e->n;

	while (lo < hi) {
		__u32 mid = lo + (hi - lo) / 2;
		struct export_slot *s = &e->ring[(e->head + mid) % e->cap];

		if (s->seq == seq)
			return s;
		if (s->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* libnats' thread: a PubAck or a failure for one message. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct exporter *e = closure;
	struct export_slot *slot;
	__u64 seq;
	(void)js;

	pthread_mutex_lock(&e->mu);
	/* an answer for a slot already settled (a copy sent after a rewind answered first)
	 * changes nothing */
	if (!msg_seq(msg, &seq) || !(slot = ring_find(e, seq)) || slot->state != SLOT_SENT)
		goto unlock;
	e->unsettled--;
	/* stored: in our stream, at a sequence (a duplicate names the original's) */
	if (pa && pa->Stream && !strcmp(pa->Stream, e->o.stream) && pa->Sequence) {
		slot->state = SLOT_ACKED;
		e->fail_warned = false;
		/* a full window waits for its oldest: wake the publisher once that one is in */
		if (e->n == e->cap && slot == &e->ring[e->head]) {
			pthread_mutex_lock(&e->smu);
			if (!e->kick) {
				e->kick = true;
				pthread_cond_signal(&e->cv);
			}
			pthread_mutex_unlock(&e->smu);
		}
		e->acked++;
		if (pa->Duplicate)
			e->duplicates++;
	} else {
		if (pa && !e->warned_stream) {
			e->warned_stream = true;
			pr_warn("nats: PubAck from stream %s, not %s (do two streams take %s.>?)\n",
				pa->Stream ? pa->Stream : "?", e->o.stream, e->o.prefix);
		}
		slot->state = SLOT_FAILED;
		e->failed = true;
		e->nfailed++;
		if (pae && !e->fail_warned) {
			/* once until publishing works again: a missing stream, a full one, ... */
			e->fail_warned = true;
			pr_warn("nats: publishing to stream %s failed: %s (error %d); retrying, the "
				"records wait in the spool\n", e->o.stream,
				pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err),
				(int)pae->ErrCode);
		}
	}
unlock:
	pthread_mutex_unlock(&e->mu);
	natsMsg_Destroy(msg);
}

/* Reads a token file: its first line, without the newline. The caller wipes and frees it. */
static int read_token(const char *path, char **out)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -EIO : -ENODATA;
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	*out = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return *out ? 0 : -ENOMEM;
}

int export_nats_options(const struct export_opts *o, natsOptions **out)
{
	char *urls = NULL, *tok, *save, *list[32];
	int n = 0, err = -EKEYREJECTED;
	natsOptions *no = NULL;
	natsStatus s;

	if (natslib_open())
		return -EKEYREJECTED;
	if (natsOptions_Create(&no) != NATS_OK)
		return -ENOMEM;
	urls = strdup(o->urls);
	if (!urls) {
		err = -ENOMEM;
		goto out;
	}
	for (tok = strtok_r(urls, ",", &save); tok && n < 32; tok = strtok_r(NULL, ",", &save))
		list[n++] = tok;
	s = n ? natsOptions_SetServers(no, (const char **)list, n) : NATS_INVALID_ARG;
	if (s != NATS_OK) {
		pr_warn("nats: bad URL in '%s': %s\n", o->urls, nats_err(s));
		goto out;
	}
	natsOptions_SetTimeout(no, 2000);
	natsOptions_SetName(no, "xdp-sniff");
	if (o->creds) {
		s = natsOptions_SetUserCredentialsFromFiles(no, o->creds, NULL);
		if (s != NATS_OK || access(o->creds, R_OK)) {
			pr_warn("nats: cannot use --nats-creds %s: %s\n", o->creds,
				s != NATS_OK ? nats_err(s) : strerror(errno));
			goto out;
		}
	}
	if (o->token_file) {
		char *token = NULL;
		int e2 = read_token(o->token_file, &token);

		if (e2) {
			pr_warn("nats: cannot read --nats-token-file %s: %s\n", o->token_file,
				strerror(-e2));
			goto out;
		}
		s = natsOptions_SetToken(no, token);
		explicit_bzero(token, strlen(token));
		free(token);
		if (s != NATS_OK) {
			pr_warn("nats: cannot use the token of %s\n", o->token_file);
			goto out;
		}
	}
	if (o->tls_ca || o->tls_cert || o->tls_key) {
		if (!o->tls_cert != !o->tls_key) {
			pr_warn("nats: --nats-tls-cert and --nats-tls-key go together\n");
			goto out;
		}
		s = natsOptions_SetSecure(no, true);
		if (s == NATS_OK && o->tls_ca)
			s = natsOptions_LoadCATrustedCertificates(no, o->tls_ca);
		if (s == NATS_OK && o->tls_cert)
			s = natsOptions_LoadCertificatesChain(no, o->tls_cert, o->tls_key);
		if (s != NATS_OK) {
			pr_warn("nats: TLS setup failed: %s (check --nats-tls-ca/-cert/-key)\n",
				nats_err(s));
			goto out;
		}
	}
	*out = no;
	no = NULL;
	err = 0;
out:
	natsOptions_Destroy(no);
	free(urls);
	return err;
}

/* The exporter's options: the connection's, plus reconnecting forever and its callbacks. */
static int export_options(struct exporter *e)
{
	int err = export_nats_options(&e->o, &e->nopts);

	if (err)
		return err;
	natsOptions_SetMaxReconnect(e->nopts, -1);
	natsOptions_SetReconnectWait(e->nopts, 250);
	natsOptions_SetPingInterval(e->nopts, 2000);
	natsOptions_SetMaxPingsOut(e->nopts, 2);
	natsOptions_SetDisconnectedCB(e->nopts, on_disconnected, e);
	natsOptions_SetReconnectedCB(e->nopts, on_reconnected, e);
	natsOptions_SetErrorHandler(e->nopts, on_async_error, e);
	return 0;
}

/* The stream exists (or is made); -EKEYREJECTED after one line when it cannot be had. */
static int export_check_stream(struct exporter *e)
{
	const struct export_opts *o = &e->o;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	jsStreamConfig cfg;
	char subj[260];
	const char *subjects[1] = { subj };
	natsStatus s;

	s = js_GetStreamInfo(&si, e->js, o->stream, NULL, &jerr);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	if (s != NATS_NOT_FOUND) {
		pr_warn("nats: cannot look up stream %s: %s\n", o->stream, nats_err(s));
		return -EKEYREJECTED;
	}
	if (!o->create_replicas) {
		pr_warn("nats: stream %s does not exist (create it, or give "
			"--nats-create-stream)\n", o->stream);
		return -EKEYREJECTED;
	}
	snprintf(subj, sizeof(subj), "%s.>", o->prefix);
	jsStreamConfig_Init(&cfg);
	cfg.Name = o->stream;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Replicas = o->create_replicas;
	if (o->stream_max_bytes)
		cfg.MaxBytes = (int64_t)o->stream_max_bytes;
	if (o->stream_max_age_s)
		cfg.MaxAge = (int64_t)o->stream_max_age_s * 1000000000ll;
	s = js_AddStream(&si, e->js, &cfg, NULL, &jerr);
	if (s != NATS_OK) {
		pr_warn("nats: cannot create stream %s with %d replicas: %s\n", o->stream,
			o->create_replicas, nats_err(s));
		return -EKEYREJECTED;
	}
	jsStreamInfo_Destroy(si);
	pr_info("nats: created stream %s (%s, %d replicas)\n", o->stream, subj,
		o->create_replicas);
	return 0;
}

static int export_connect(struct exporter *e)
{
	jsOptions jo;
	natsStatus s;
	bool reachable = true;

	s = natsConnection_Connect(&e->nc, e->nopts);
	if (s == NATS_NO_SERVER || s == NATS_TIMEOUT || s == NATS_IO_ERROR) {
		/* nobody there yet: keep trying in the background, spool meanwhile */
		reachable = false;
		e->down_warned = true;	/* this is the one warning */
		pr_warn("nats: no server reachable at %s (%s); spooling to %s until one is\n",
			e->o.urls, nats_err(s), e->o.spool_dir);
		natsOptions_SetRetryOnFailedConnect(e->nopts, true, on_connected, e);
		s = natsConnection_Connect(&e->nc, e->nopts);
		if (s == NATS_NOT_YET_CONNECTED)
			s = NATS_OK;
	}
	if (s != NATS_OK) {
		pr_warn("nats: cannot connect to %s: %s\n", e->o.urls, nats_err(s));
		return -EKEYREJECTED;
	}
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = (int64_t)e->o.window + 16;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = e;
	jo.Wait = e->o.timeout_ms;
	s = natsConnection_JetStream(&e->js, e->nc, &jo);
	if (s != NATS_OK) {
		pr_warn("nats: no JetStream context: %s\n", nats_err(s));
		return -ENOMEM;
	}
	return reachable ? export_check_stream(e) : 0;
}

static void *export_thread(void *arg);

int export_open(struct exporter **out, const struct export_opts *o)
{
	struct spool_opts so = {};
	pthread_condattr_t ca;
	struct exporter *e;
	char dflt[300];
	int err;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	pthread_mutex_init(&e->mu, NULL);
	pthread_mutex_init(&e->smu, NULL);
	/* the publisher's waits are timed on CLOCK_MONOTONIC: a condition on the default
	 * (realtime) clock took every such deadline as long past, and the thread spun */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cv, &ca);
	pthread_condattr_destroy(&ca);
	e->o = *o;
	if (!e->o.spool_dir) {
		snprintf(dflt, sizeof(dflt), "/var/lib/xdp-sniff/spool/%s",
			 o->iface ? o->iface : "default");
		e->o.spool_dir = dflt;
	}
	export_host(e);
	for (int k = 0; k < EXPORT_KINDS; k++)
		snprintf(e->subject[k], sizeof(e->subject[k]), "%s.%s.%s", e->o.prefix,
			 kind_names[k], e->host);
	e->cap = e->o.window;
	e->ring = calloc(e->cap, sizeof(*e->ring));
	if (!e->ring) {
		err = -ENOMEM;
		goto fail;
	}
	err = export_options(e);
	if (err)
		goto fail;
	so.dir = e->o.spool_dir;
	so.max_bytes = e->o.spool_max;
	err = spool_open(&e->sp, &so);
	if (err) {
		pr_warn("nats: cannot use spool directory %s: %s (give --spool-dir)\n",
			e->o.spool_dir, strerror(-err));
		goto fail;
	}
	err = export_connect(e);
	if (err)
		goto fail;
	{
		struct spool_stats st;

		spool_get_stats(e->sp, &st);
		if (st.pending)
			pr_info("nats: %llu records left in %s by an earlier run go first\n",
				(unsigned long long)st.pending, e->o.spool_dir);
	}
	e->o.spool_dir = NULL;	/* may point at dflt */
	/* started now, before load drops privileges and installs seccomp: its threads (and
	 * the ones libnats starts from it) keep the right to start threads */
	err = pthread_create(&e->thread, NULL, export_thread, e);
	if (err) {
		err = -err;
		goto fail;
	}
	e->started = true;
	*out = e;
	return 0;
fail:
	e->o.spool_dir = NULL;
	export_close(e, false);
	return err;
}

/* Acks in: the spool lets go of everything acknowledged in a row from the oldest. Under mu. */
static void export_collect(struct exporter *e)
{
	__u64 through = 0;

	while (e->n && e->ring[e->head].state == SLOT_ACKED) {
		through = e->ring[e->head].seq;
		e->head = (e->head + 1) % e->cap;
		e->n--;
	}
	if (through)
		spool_ack(e->sp, through);
}

static bool export_connected(struct exporter *e)
{
	return e->nc && natsConnection_Status(e->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* The message of one spooled record; NULL when out of memory. */
static natsMsg *export_msg(struct exporter *e, const struct spool_rec *r)
{
	char id[EXPORT_ID_MAX + 1];
	int k = r->kind < EXPORT_KINDS ? r->kind : 0;
	natsMsg *m = NULL;
	natsStatus s;

	memcpy(id, r->id, r->id_len);
	id[r->id_len] = 0;
	s = natsMsg_Create(&m, e->subject[k], NULL, r->data, (int)r->len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Xdp-Sniff-Host", e->host);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Xdp-Sniff-Interface", e->o.iface ? e->o.iface : "");
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Xdp-Sniff-Kind", kind_names[k]);
	if (s != NATS_OK) {
		natsMsg_Destroy(m);
		return NULL;
	}
	return m;
}

/*
 * The publisher thread's round, under mu: acks in, a rewind after a failure or a reconnect
 * once what is in flight has settled, then records out while the window has room. mu is let
 * go around each batch of publishes, so acks come in meanwhile. True when there is nothing to
 * send for now: every record in the spool went out, or the broker is not there (false: the
 * window is full, or a batch was cut short).
 */
static bool export_pump(struct exporter *e)
{
	struct spool_rec r;
	jsPubOptions po;
	natsMsg *m;
	natsStatus s = NATS_OK;
	int err = 0;

	export_collect(e);
	if (e->failed || e->reconnected) {
		__u64 now = mono_ns();

		if (!e->fail_ns)
			e->fail_ns = now;
		/* in flight settles: acked, or failed by its timeout; a failure waits a second */
		if (!e->unsettled && (e->reconnected || now - e->fail_ns >= EXPORT_RETRY_NS)) {
			/* from the first record not acknowledged; what was acked after it is
			 * sent again and comes back flagged duplicate */
			e->failed = e->reconnected = false;
			e->fail_ns = 0;
			e->head = e->n = 0;
			spool_rewind(e->sp);
		}
	}
	if (e->fail_ns || !e->js || !export_connected(e))
		return true;
	jsPubOptions_Init(&po);
	po.MaxWait = e->o.timeout_ms;
	po.ExpectStream = e->o.stream;
	while (e->n < e->cap && !e->failed) {
		struct spool_rec batch[EXPORT_BATCH];
		size_t used = 0;
		int nb = 0, i;

		/* a batch of records copied out of the spool under mu, then made into messages
		 * and sent with mu let go: the capture thread and the acks wait for a copy,
		 * not for libnats */
		while (nb < EXPORT_BATCH && e->n < e->cap) {
			err = spool_next(e->sp, &r);
			if (err) {
				if (err != -ENOENT && !e->read_warned) {
					e->read_warned = true;
					pr_warn("nats: cannot read the spool: %s\n", strerror(-err));
				}
				break;
			}
			if (used + r.id_len + r.len > e->bcap) {
				size_t cap = e->bcap ? e->bcap : 256 << 10;
				char *nbuf;

				while (cap < used + r.id_len + r.len)
					cap *= 2;
				nbuf = realloc(e->bbuf, cap);
				if (!nbuf) {
					err = -ENOMEM;
					break;
				}
				/* the copies so far moved with the buffer */
				for (int k = 0; k < nb; k++) {
					batch[k].id = nbuf + (batch[k].id - e->bbuf);
					batch[k].data = nbuf + ((const char *)batch[k].data - e->bbuf);
				}
				e->bbuf = nbuf;
				e->bcap = cap;
			}
			batch[nb] = r;
			batch[nb].id = memcpy(e->bbuf + used, r.id, r.id_len);
			used += r.id_len;
			batch[nb].data = memcpy(e->bbuf + used, r.data, r.len);
			used += r.len;
			e->ring[(e->head + e->n) % e->cap] = (struct export_slot){ .seq = r.seq };
			e->n++;
			e->unsettled++;
			nb++;
		}
		if (err == -ENOMEM) {
			/* the record that got no copy is sent again by the rewind after what is
			 * in flight has settled, as after a failed publish */
			e->failed = true;
			e->nfailed++;
		}
		if (!nb)
			break;
		pthread_mutex_unlock(&e->mu);
		for (i = 0; i < nb; i++) {
			m = export_msg(e, &batch[i]);
			if (!m) {
				s = NATS_NO_MEMORY;
				break;
			}
			s = js_PublishMsgAsync(e->js, &m, &po);
			natsMsg_Destroy(m);
			if (s != NATS_OK)
				break;
		}
		pthread_mutex_lock(&e->mu);
		e->published += (__u64)i;
		if (i < nb) {
			/* batch[i..] never went: no ack will come for them; they are the newest in
			 * the ring */
			e->n -= (__u32)(nb - i);
			e->unsettled -= (__u32)(nb - i);
			e->failed = true;
			e->nfailed++;
			pr_debug("nats: publish failed: %s\n", nats_err(s));
			break;
		}
		if (err)
			break;
	}
	return err == -ENOENT;
}

/* Spools one record, its id made from the seq the spool gives it. Under mu. */
static int export_spool_one(struct exporter *e, enum export_kind kind, const char *text,
			    size_t len)
{
	char id[EXPORT_ID_MAX];
	__u64 seq;
	int n, err;

	e->records++;
	seq = spool_next_seq(e->sp);
	n = snprintf(id, sizeof(id), "%s-%016llx-%u-%llu", e->host,
		     (unsigned long long)spool_epoch(e->sp), spool_run(e->sp),
		     (unsigned long long)seq);
	err = spool_append(e->sp, (__u8)kind, id, (size_t)n, text, len, mono_ns(), &seq);
	if (err) {
		if (!e->append_err)
			pr_warn("nats: cannot spool a %s record: %s (records are being lost)\n",
				kind_names[kind], strerror(-err));
		e->append_err = err;
	} else if (e->fail_ns || e->failed || !export_connected(e)) {
		/* it waits in the spool for the broker */
		e->spooled++;
	}
	return err;
}

/* Spools the records of a stage buffer, in order. Under mu. */
static void export_spool_staged(struct exporter *e, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		__u32 n;

		memcpy(&n, buf + off + 1, sizeof(n));
		export_spool_one(e, (enum export_kind)buf[off], buf + off + 5, n);
		off += 5 + n;
	}
}

/* Takes what the capture thread handed over and spools it; true when there was any. Under
 * mu (so that nothing given later can be spooled before it: see export_record's overflow). */
static bool export_take_stage(struct exporter *e)
{
	size_t cap, taken;
	char *b;

	pthread_mutex_lock(&e->smu);
	b = e->stage;
	cap = e->stage_cap;
	e->stage = e->spare;
	e->stage_cap = e->spare_cap;
	e->spare = b;
	e->spare_cap = cap;
	e->spare_len = e->stage_len;
	e->stage_len = 0;
	e->fresh = 0;
	pthread_mutex_unlock(&e->smu);
	export_spool_staged(e, e->spare, e->spare_len);
	taken = e->spare_len;
	e->spare_len = 0;
	return taken;
}

/*
 * The publisher: libnats is only ever called from here (and its own threads), never from
 * the capture thread, which may run under seccomp without the right to start threads. Each
 * round spools what was handed over, then publishes.
 */
static void *export_thread(void *arg)
{
	struct exporter *e = arg;
	struct timespec ts;
	__u64 wait_ns;
	bool idle, took;

	for (;;) {
		pthread_mutex_lock(&e->mu);
		took = export_take_stage(e);
		idle = export_pump(e) && !took;
		spool_tick(e->sp, mono_ns());
		pthread_mutex_unlock(&e->mu);

		pthread_mutex_lock(&e->smu);
		if (e->stop) {
			pthread_mutex_unlock(&e->smu);
			break;
		}
		/* idle (no record came this round, nothing to send): the next record wakes us
		 * at once. Busy (records kept coming, or the window is full): a short nap
		 * gathers a batch, cut short when EXPORT_BATCH records are in (or, with the
		 * window full, by the oldest one's ack), instead of a wake-up a record. */
		e->idle = idle && !e->stage_len;
		wait_ns = e->idle ? EXPORT_IDLE_NS : EXPORT_NAP_NS;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)wait_ns;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!e->kick)
			pthread_cond_timedwait(&e->cv, &e->smu, &ts);
		e->kick = false;
		pthread_mutex_unlock(&e->smu);
	}
	nats_ReleaseThreadMemory();
	return NULL;
}

/*
 * Hands the record to the publisher, which spools it within EXPORT_NAP_NS (at once when it
 * was idle) and before it publishes it. A stage grown past EXPORT_STAGE_MAX (the publisher
 * is behind) is spooled here instead, so memory stays bounded.
 */
int export_record(struct exporter *e, enum export_kind kind, const char *text, size_t len)
{
	size_t need = 5 + len;
	__u32 n32 = (__u32)len;
	int err = 0;

	pthread_mutex_lock(&e->smu);
	if (e->stage_len + need > e->stage_cap && e->stage_len + need <= EXPORT_STAGE_MAX) {
		size_t cap = e->stage_cap ? e->stage_cap : 64 << 10;
		char *b;

		while (cap < e->stage_len + need)
			cap *= 2;
		b = realloc(e->stage, cap);
		if (b) {
			e->stage = b;
			e->stage_cap = cap;
		}
	}
	if (e->stage_len + need > e->stage_cap) {
		/* the publisher is behind (or no memory): spool the stage and this record
		 * here, in order, under mu as the publisher does */
		pthread_mutex_unlock(&e->smu);
		pthread_mutex_lock(&e->mu);
		pthread_mutex_lock(&e->smu);
		export_spool_staged(e, e->stage, e->stage_len);
		e->stage_len = 0;
		err = export_spool_one(e, kind, text, len);
		pthread_mutex_unlock(&e->mu);
	} else {
		e->stage[e->stage_len] = (char)kind;
		memcpy(e->stage + e->stage_len + 1, &n32, sizeof(n32));
		memcpy(e->stage + e->stage_len + 5, text, len);
		e->stage_len += need;
	}
	e->fresh++;
	if ((e->idle || e->fresh >= EXPORT_BATCH) && !e->kick) {
		e->kick = true;
		pthread_cond_signal(&e->cv);
	}
	pthread_mutex_unlock(&e->smu);
	return err;
}

void export_tick(struct exporter *e)
{
	struct spool_stats st;
	bool up;

	if (!e)
		return;
	up = export_connected(e);
	pthread_mutex_lock(&e->mu);
	spool_get_stats(e->sp, &st);
	pthread_mutex_unlock(&e->mu);
	if (!up && !e->down_warned && st.pending) {
		pr_warn("nats: broker not reachable; %llu records spooled\n",
			(unsigned long long)st.pending);
		e->down_warned = true;
	} else if (up) {
		e->down_warned = false;
	}
}

void export_get_stats(struct exporter *e, struct export_stats *st)
{
	struct spool_stats ss = {};

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&e->mu);
	if (e->sp)
		spool_get_stats(e->sp, &ss);
	st->acked = e->acked;
	st->duplicates = e->duplicates;
	st->failed = e->nfailed;
	st->reconnects = e->reconnects;
	st->records = e->records;
	st->published = e->published;
	st->spooled = e->spooled;
	pthread_mutex_unlock(&e->mu);
	st->spool_bytes = ss.bytes;
	st->spool_pending = ss.pending;
	st->dropped = ss.dropped;
}

void export_print_stats(struct exporter *e, FILE *f)
{
	struct export_stats st;

	export_get_stats(e, &st);
	fprintf(f,
		"nats: %llu records, %llu published, %llu acknowledged, %llu duplicates, "
		"%llu failed, %llu spooled, %llu left in the spool (%llu bytes), %llu dropped "
		"for spool space, %llu reconnects\n",
		(unsigned long long)st.records, (unsigned long long)st.published,
		(unsigned long long)st.acked, (unsigned long long)st.duplicates,
		(unsigned long long)st.failed, (unsigned long long)st.spooled,
		(unsigned long long)st.spool_pending, (unsigned long long)st.spool_bytes,
		(unsigned long long)st.dropped, (unsigned long long)st.reconnects);
	fflush(f);
}

void export_close(struct exporter *e, bool summary)
{
	if (!e)
		return;
	if (e->started) {
		__u64 end = mono_ns() + (__u64)e->o.drain_ms * 1000000ull;
		struct spool_stats st;

		for (;;) {
			size_t staged;

			pthread_mutex_lock(&e->mu);
			spool_get_stats(e->sp, &st);
			pthread_mutex_lock(&e->smu);
			staged = e->stage_len;
			pthread_mutex_unlock(&e->smu);
			pthread_mutex_unlock(&e->mu);
			if ((!st.pending && !staged) || mono_ns() >= end)
				break;
			usleep(2000);
		}
		if (st.pending)
			pr_warn("nats: %llu records not acknowledged; they stay in the spool for "
				"the next run\n", (unsigned long long)st.pending);
		pthread_mutex_lock(&e->smu);
		e->stop = true;
		pthread_cond_signal(&e->cv);
		pthread_mutex_unlock(&e->smu);
		pthread_join(e->thread, NULL);
		/* what the publisher did not take waits in the spool for the next run */
		pthread_mutex_lock(&e->mu);
		export_spool_staged(e, e->stage, e->stage_len);
		e->stage_len = 0;
		pthread_mutex_unlock(&e->mu);
	}
	if (summary)
		export_print_stats(e, stderr);
	if (e->nc)
		natsConnection_Close(e->nc);
	if (e->js)
		jsCtx_Destroy(e->js);
	if (e->nc)
		natsConnection_Destroy(e->nc);
	if (e->nopts)
		natsOptions_Destroy(e->nopts);
	/* acks that came during the close are counted by the spool's mark */
	pthread_mutex_lock(&e->mu);
	if (e->sp)
		export_collect(e);
	pthread_mutex_unlock(&e->mu);
	spool_close(e->sp);
	/* what libnats keeps per thread (its last error) for the calling thread, which may
	 * be the main thread: it is never freed by a thread exit; then the library's own
	 * threads (timers, callbacks) are stopped, so that theirs is freed too. One exporter
	 * per process: libnats would start again if called after this. */
	if (e->nopts) {
		nats_ReleaseThreadMemory();
		nats_CloseAndWait(2000);
	}
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->smu);
	pthread_mutex_destroy(&e->mu);
	free(e->ring);
	free(e->bbuf);
	free(e->stage);
	free(e->spare);
	free(e);
}
