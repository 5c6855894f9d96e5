/*
 * What the checks share, inside kaprobe: a check in progress (struct run), the probe
 * that runs them all on one loop (struct probe), a check's callbacks (struct check),
 * and the steps every check takes (send a request, leave evidence, finish). checks.c
 * holds the first eight checks and the dispatch; checks_wire.c the two that read the
 * wire (tcp_keepalive through a packet socket, lingering); checks_race.c the two that
 * build on the measured idle timeout (close_race, advertised_vs_enforced).
 */
#ifndef KP_CHECK_H
#define KP_CHECK_H

#include "probe/probe.h"

struct probe;
struct kp_pktwatch;
struct race;

/* One check in progress. */
struct run {
	struct probe *p;
	enum kp_check id;
	struct kp_conn *conn;
	bool started;
	bool done;
	bool awaiting_close;       /* the last response ended the connection: wait for it */
	unsigned answered;         /* complete responses on conn */
	int64_t t_last_done_us;    /* when the last response's last byte was read */
	char first[200];           /* summary of the first response */
	char last[200];            /* summary of the last response */
	struct kp_tls_session *session;  /* tls_resumption: the first connection's */
	bool second;               /* tls_resumption: on the connection that offers it */
	double first_handshake_ms; /* tls_resumption: the full handshake's time */
	struct kp_pktwatch *watch; /* tcp_keepalive: the packet socket */
	struct kp_pktwatch *watch_closed;  /* ... once closed, until the probe ends */
	struct race *race;         /* close_race: its tries */
};

struct probe {
	struct kp_net net;
	const struct kp_target *t;
	const struct kp_probe_opts *o;
	struct kp_results *res;
	struct run runs[KP_CHECK_COUNT];
	unsigned only;             /* the checks to run, with those they need */
	unsigned pending;
	unsigned extra_open;       /* connections open outside runs[].conn (close_race) */
	bool pumping;              /* kp_probe_pump is on the stack */
	bool failed;
	char *fatal;
	size_t fatal_len;
};

/* The most names a check answers to in --only: its own, then the JSON keys it fills. */
#define CHECK_NAMES 4

struct check {
	const char *names[CHECK_NAMES];  /* names[0] is the check's own */
	unsigned needs;                  /* bits of the checks that must finish first; a
	                                  * check that needs others has no connection */
	void (*start)(struct run *r);
	void (*response)(struct run *r, const struct kp_response *resp);
	void (*closed)(struct run *r, const struct kp_conn *c);
	void (*timer)(struct run *r);
	void (*connected)(struct run *r);  /* may be NULL */
};

/* The callbacks of every run's connection (checks.c). */
extern const struct kp_conn_ops kp_run_ops;

void kp_run_evidence(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kp_run_finish(struct run *r);
void kp_run_send(struct run *r, const char *method, int minor, const char *extra);
const char *kp_run_close_text(const struct run *r, const struct kp_conn *c, char *out, size_t len);
bool kp_run_closed_unanswered(struct run *r, const struct kp_conn *c);
bool kp_run_timeout_unanswered(struct run *r);
void kp_probe_fatal(struct probe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Starts the checks that wait for a free connection (--connections) or for the checks
 * they need, and lets close_race open more tries. */
void kp_probe_pump(struct probe *p);
/* Connections open now, by every check. */
unsigned kp_probe_open(const struct probe *p);

/* checks_wire.c */
void kp_tcpka_start(struct run *r);
void kp_tcpka_connected(struct run *r);
void kp_tcpka_response(struct run *r, const struct kp_response *resp);
void kp_tcpka_closed(struct run *r, const struct kp_conn *c);
void kp_tcpka_timer(struct run *r);
void kp_tcpka_cleanup(struct run *r);
void kp_linger_start(struct run *r);
void kp_linger_response(struct run *r, const struct kp_response *resp);
void kp_linger_closed(struct run *r, const struct kp_conn *c);
void kp_linger_timer(struct run *r);

/* checks_race.c */
void kp_race_start(struct run *r);
void kp_race_pump(struct run *r);
void kp_race_cleanup(struct run *r);
void kp_advertised_start(struct run *r);
/* Neither has a connection of its own: these callbacks are never called. */
void kp_noconn_response(struct run *r, const struct kp_response *resp);
void kp_noconn_closed(struct run *r, const struct kp_conn *c);
void kp_noconn_timer(struct run *r);

#endif
