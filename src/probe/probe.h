/*
 * kaprobe's parts and what they share: the checks (checks*.c, check.h) and their
 * results, what to change (findings.c), the chain's demonstration and verdict
 * (chain.c), the benchmark (bench.c) and its runs, the kernel's TIME_WAIT count
 * (tcpdiag.c), and the ways of printing them: a table, JSON or Markdown (report.c;
 * chain and compare in report_multi.c). main.c reads the command line and calls
 * these; every part runs on one core event loop (client.h).
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
	KP_TCP_KEEPALIVE,   /* needs CAP_NET_RAW, else a null result */
	KP_CLOSE_RACE,
	KP_ADVERTISED,      /* advertised_vs_enforced */
	KP_LINGERING,
	KP_CHECK_COUNT
};

/* "persistent_http11", ...: a check's own name. kp_check_lookup gives the check that a
 * --only name selects, the check's own or a JSON key it fills; -1 for an unknown name. */
const char *kp_check_name(enum kp_check id);
int kp_check_lookup(const char *name, size_t len);
/* mask with the checks the selected ones build on (close_race on idle_timeout, ...). */
unsigned kp_check_needs(unsigned mask);

struct kp_probe_opts {
	unsigned only;          /* bit (1 << check) for each check to run */
	int64_t max_wait_ms;    /* --max-wait: longest wait for an idle close */
	int64_t timeout_ms;     /* --timeout: longest wait for one response */
	int64_t max_requests;   /* --max-requests */
	int64_t connections;    /* --connections: the most open at once */
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

	/* tcp_keepalive: the server's probes on an idle connection, seen by a packet socket. */
	bool tcpka_known;                     /* at least one probe came: not null */
	double tcpka_first_s;                 /* from the response to the first probe */
	bool has_tcpka_interval;              /* two probes or more */
	double tcpka_interval_s;
	bool has_tcpka_count;                 /* the server reset after its probes */
	int64_t tcpka_count;
	int64_t tcpka_probes;
	bool tcpka_unavailable;               /* no packet socket (CAP_NET_RAW) */
	bool tcpka_server_closed;             /* the server closed (FIN) before any probe */
	double tcpka_close_s;                 /* ... this long after the response */

	/* close_race: requests sent as the measured idle timer fires. */
	bool race_known;
	unsigned race_tries, race_answered, race_reset, race_closed;
	unsigned race_late;                   /* tries that found the server's close first */

	/* advertised_vs_enforced */
	enum { KP_ADV_UNKNOWN, KP_ADV_OK, KP_ADV_MORE, KP_ADV_NONE } advertised_verdict;

	/* lingering: the end after a response to Connection: close with a pipelined
	 * request behind it. */
	enum { KP_LINGER_UNKNOWN, KP_LINGER_FIN, KP_LINGER_RESET } lingering;

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

/* ---- findings: what to change ------------------------------------------------------------------ */

enum kp_severity { KP_INFO, KP_WARNING, KP_ERROR };

struct kp_finding {
	const char *check;            /* the check's name, or "chain" */
	enum kp_severity severity;
	char message[320];
};

#define KP_FINDINGS_MAX 24

struct kp_findings {
	struct kp_finding f[KP_FINDINGS_MAX];
	size_t n;
};

/* (findings.c) One line per problem the results show, in the operator's terms. */
void kp_findings_of(const struct kp_results *r, struct kp_findings *out);
void kp_finding_add(struct kp_findings *out, const char *check, enum kp_severity sev,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
const char *kp_severity_name(enum kp_severity s);
/* "75 s", "1 s", "2.5 s" */
const char *kp_seconds_text(double s, char *buf, size_t len);

/* ---- chain: a front before a backend ------------------------------------------------------------ */

struct kp_chain_opts {
	int64_t demonstrate;          /* --demonstrate N, 0: no demonstration */
	const char *method;           /* --method */
	int64_t timeout_ms;
};

struct kp_chain_demo {
	bool ran;
	char why_not[200];            /* when it could not run */
	unsigned requests, failures;
	unsigned status_5xx, reset, closed, timed_out, other_errors;
	double gap_min_s, gap_max_s;  /* the idle gaps used */
	double backend_timeout_s;
	char first_failure[200];
};

/* (chain.c) N requests through front, each after an idle gap scattered around the
 * backend's idle timeout. Returns 0, or 1 when the front could not be reached. */
int kp_chain_demonstrate(const struct kp_target *front, const struct kp_chain_opts *o,
                         double backend_timeout_s, struct kp_chain_demo *d, char *fatal,
                         size_t fatal_len);

enum kp_chain_verdict { KP_CHAIN_UNKNOWN, KP_CHAIN_OK, KP_CHAIN_FRONT_LONGER };

/* The ordering of the two idle timeouts, and the chain's findings (d may be NULL). */
enum kp_chain_verdict kp_chain_judge(const struct kp_results *front, const struct kp_results *back,
                                     double max_wait_s, const struct kp_chain_demo *d,
                                     struct kp_findings *out);

/* ---- output ------------------------------------------------------------------------------------ */

void kp_report_probe_table(FILE *out, const struct kp_target *t, const struct kp_results *r);
void kp_report_probe_json(FILE *out, const struct kp_results *r);
void kp_report_probe_markdown(FILE *out, const struct kp_target *t, const struct kp_results *r);
/* The short result of one check, as in the table's second column. */
void kp_report_result_text(const struct kp_results *r, enum kp_check id, char *buf, size_t len);
/* "what to change": the findings as lines, or as a Markdown list; heading: with the
 * section's heading first. */
void kp_report_findings(FILE *out, const struct kp_findings *f, bool markdown, bool heading);
void kp_report_findings_json(FILE *out, const struct kp_findings *f);
/* (report_multi.c) chain: both sides beside each other, the verdict, the
 * demonstration, what to change. compare: one column per server. */
enum kp_format { KP_TABLE, KP_JSON, KP_MARKDOWN };
void kp_report_chain(FILE *out, enum kp_format fmt, const struct kp_target *front,
                     const struct kp_target *back, const struct kp_results *fr,
                     const struct kp_results *br, enum kp_chain_verdict v,
                     const struct kp_chain_demo *d, const char *method,
                     const struct kp_findings *findings);
void kp_report_compare(FILE *out, enum kp_format fmt, const struct kp_target *const *t,
                       const struct kp_results *const *r, size_t n);
/* The probe's JSON object, indented by indent spaces, without a newline at its end. */
void kp_report_probe_json_object(FILE *out, const struct kp_results *r, int indent);
void kp_report_bench_table(FILE *out, const struct kp_target *t, const struct kp_bench_opts *o,
                           const struct kp_bench_result *r);
void kp_report_bench_json(FILE *out, const struct kp_bench_result *r);

#endif
