/*
 * kaprobe's parts and what they share: the checks (checks.c) and their results, the
 * benchmark (bench.c) and its runs, the kernel's TIME_WAIT count (tcpdiag.c), and the
 * two ways of printing either, a table or JSON (report.c). main.c reads the command
 * line and calls these; every part runs on one core event loop (client.h).
 */
#ifndef KP_PROBE_H
#define KP_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "probe/client.h"

/* ---- the checks ---------------------------------------------------------------------------- */

enum kp_check {
	KP_PERSISTENT_HTTP11,
	KP_HTTP10_KEEPALIVE,
	KP_HTTP10_DEFAULT_CLOSE,
	KP_CONNECTION_CLOSE,
	KP_KEEP_ALIVE_HEADER,
	KP_IDLE_TIMEOUT,
	KP_MAX_REQUESTS,
	KP_PIPELINING,
	KP_TLS_RESUMPTION,  /* https only */
	KP_CHECK_COUNT
};

/* "persistent_http11", ...: a check's own name. kp_check_lookup gives the check that a
 * --only name selects, the check's own or a JSON key it fills; -1 for an unknown name. */
const char *kp_check_name(enum kp_check id);
int kp_check_lookup(const char *name, size_t len);

struct kp_probe_opts {
	unsigned only;          /* bit (1 << check) for each check to run */
	int64_t max_wait_ms;    /* --max-wait: longest wait for an idle close */
	int64_t timeout_ms;     /* --timeout: longest wait for one response */
	int64_t max_requests;   /* --max-requests */
};

/* How long a server may take to close after a response that should end the
 * connection (HTTP/1.0 without keep-alive, Connection: close) and still count as
 * having closed "after the response": real servers close within milliseconds; a
 * server that waits longer is holding the connection open. */
#define KP_PROMPT_CLOSE_MS 1000

#define KP_TEXT_MAX 512
#define KP_EVIDENCE_MAX 640

struct kp_results {
	bool ran[KP_CHECK_COUNT];
	char evidence[KP_CHECK_COUNT][KP_EVIDENCE_MAX];

	bool persistent_http11;
	bool http10_keepalive;
	bool http10_default_close;
	bool connection_close_honored;

	bool has_keep_alive_header;
	char keep_alive_header[KP_TEXT_MAX];  /* the value, as sent */
	int64_t advertised_timeout_s;         /* -1: null */
	int64_t advertised_max;               /* -1: null */

	bool idle_answered;                   /* the idle check got its response */
	bool idle_closed_by_server;           /* false: open at --max-wait (or not run) */
	double idle_timeout_s;
	bool idle_rst;                        /* the server's close was a reset */

	bool max_requests_known;              /* false: more than --max-requests */
	int64_t max_requests;
	bool max_requests_signalled;

	bool pipelining;

	bool server_seen;                     /* a first response arrived */
	bool has_server;
	char server[KP_TEXT_MAX];

	unsigned responses;                   /* responses received by all checks */

	/* https: the first connection whose handshake completed and was answered. */
	bool tls_seen;
	struct kp_tls_info tls;
	double tls_handshake_ms;

	/* tls_resumption: a second connection offered the first one's session. */
	bool tls_resumption_known;
	bool tls_resumed;
	bool tls_ticket;                      /* the offered session was a ticket */
	bool has_ticket_lifetime;
	int64_t ticket_lifetime_s;
};

/* Runs the selected checks concurrently on one loop. Returns 0 when every check ran;
 * 1 when the server could not be reached or did not speak HTTP (fatal says why). */
int kp_probe_run(const struct kp_target *t, const struct kp_probe_opts *opts,
                 struct kp_results *res, char *fatal, size_t fatal_len);

/* ---- the benchmark ---------------------------------------------------------------------------- */

struct kp_bench_opts {
	int64_t requests;       /* per run */
	int64_t concurrency;
	int64_t timeout_ms;     /* one response, or one close after a response */
	int64_t time_limit_ms;  /* per run */
};

struct kp_bench_run {
	bool keepalive;               /* persistent connections, else one per request */
	int64_t requests;             /* answered */
	int64_t errors;               /* failed: connect error, reset, timeout, bad response */
	int64_t issued;
	int64_t connections_opened;   /* connect() calls that succeeded */
	int64_t local_ports;          /* distinct local ports among them: a 4-tuple used twice
	                               * leaves one TIME_WAIT, the second SYN replaces the first */
	int64_t time_wait;            /* TIME_WAIT sockets of this run's connections; -1: unknown */
	int64_t time_wait_overflow;   /* kp_time_wait_overflows() growth during the run */
	double seconds;
	double requests_per_s;
	double p50_ms, p90_ms, p99_ms;
	int64_t tls_resumed;          /* https: handshakes that resumed the offered session */
	bool timed_out;               /* --time-limit cut the run short */
	bool not_http;                /* a first response failed to parse */
	bool tls_failed;              /* a handshake failed before any response: stopped */
	char first_error[256];
};

struct kp_bench_result {
	struct kp_bench_run keepalive;
	struct kp_bench_run new_connection;  /* for https a full handshake each time */
	struct kp_bench_run resumed;         /* https only: each new connection resumes */
	bool has_resumed;
	bool is_tls;
};

/* The runs in order: keep-alive, new connection, and for https new connection with
 * resumption. Returns 0, or 1 when the server could not be reached, failed TLS or did
 * not speak HTTP (fatal says why). */
int kp_bench_run_all(const struct kp_target *t, const struct kp_bench_opts *opts,
                     struct kp_bench_result *r, char *fatal, size_t fatal_len);

/* ---- TIME_WAIT from the kernel ----------------------------------------------------------------- */

/* Counts sockets in TIME_WAIT between the server's address:port and any local port
 * marked in ports (a 65536-bit map of the client ports a run used), on either side:
 * ours when we closed first, the server's when it did and it runs on this host. Asks
 * the kernel with a NETLINK_SOCK_DIAG dump. Returns the count or -errno. */
int64_t kp_time_wait_count(const struct sockaddr_storage *server, const uint8_t *ports);

/* The kernel's count of TIME_WAIT sockets it did not create because its table
 * (net.ipv4.tcp_max_tw_buckets) was full, host-wide (TcpExt TCPTimeWaitOverflow); -1
 * when unknown. A run during which it grows leaves fewer TIME_WAIT sockets than it
 * caused, and the table says so. */
int64_t kp_time_wait_overflows(void);

/* ---- output ------------------------------------------------------------------------------------ */

void kp_report_probe_table(FILE *out, const struct kp_target *t, const struct kp_results *r);
void kp_report_probe_json(FILE *out, const struct kp_results *r);
void kp_report_bench_table(FILE *out, const struct kp_target *t, const struct kp_bench_opts *o,
                           const struct kp_bench_result *r);
void kp_report_bench_json(FILE *out, const struct kp_bench_result *r);

#endif
