/*
 * What kahttpd counts: connections by state, accepts, requests, closes by reason and
 * by who closed first, and two histograms (requests per connection, connection
 * lifetime). Each worker owns one ka_stats and is its only writer, so an increment is
 * a relaxed load and store, not a locked instruction; the admin endpoint sums the
 * workers' figures with relaxed loads. Nothing here is on a shared cache line.
 */
#ifndef KA_STATS_H
#define KA_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum ka_conn_state {
	KA_CONN_HEAD,     /* reading a request head (or waiting for a new one's first byte) */
	KA_CONN_BODY,     /* reading a request body, for the handler or to discard it */
	KA_CONN_PROCESS,  /* a handler is working; no connection timer runs */
	KA_CONN_WRITE,    /* response bytes queued; a stream may add more */
	KA_CONN_IDLE,     /* keep-alive: between requests, holding no buffers */
	KA_CONN_LINGER,   /* write side shut down, discarding input before close */
	KA_CONN_STATES
};

/* Why a connection ended: exactly one per connection. */
enum ka_close_reason {
	KA_CLOSE_KEEPALIVE_TIMEOUT,
	KA_CLOSE_KEEPALIVE_REQUESTS,
	KA_CLOSE_KEEPALIVE_TIME,
	KA_CLOSE_CLIENT_CLOSE,
	KA_CLOSE_CONNECTION_CLOSE,
	KA_CLOSE_HEADER_TIMEOUT,
	KA_CLOSE_IO_TIMEOUT,
	KA_CLOSE_BAD_REQUEST,
	KA_CLOSE_TCP_KEEPALIVE,
	KA_CLOSE_EVICTED,
	KA_CLOSE_SHUTDOWN,
	KA_CLOSE_ERROR,
	KA_CLOSE_TLS_HANDSHAKE,  /* a TLS handshake failed or timed out */
	KA_CLOSE_REASONS
};

const char *ka_close_reason_name(enum ka_close_reason r);
/* As /connections reports it: reading, processing, writing, idle, lingering. */
const char *ka_conn_state_name(enum ka_conn_state s);

/* Why a TLS handshake failed: the kinds /status and /metrics count. */
enum ka_tls_fail {
	KA_TLS_FAIL_TIMEOUT,   /* not done within --tls-handshake-timeout */
	KA_TLS_FAIL_EOF,       /* the client closed during it */
	KA_TLS_FAIL_HTTP,      /* plain HTTP on an HTTPS port (answered 400) */
	KA_TLS_FAIL_ALPN,      /* ALPN offered without http/1.1 */
	KA_TLS_FAIL_VERSION,   /* no protocol version in common */
	KA_TLS_FAIL_PROTOCOL,  /* anything else the client sent wrong */
	KA_TLS_FAIL_ERROR,     /* a socket error */
	KA_TLS_FAILS
};

const char *ka_tls_fail_name(enum ka_tls_fail f);

/* Histogram buckets: upper bounds; the last bucket (+Inf) is implicit. */
#define KA_RPC_BUCKETS 7   /* requests per connection: 1 2 5 10 100 1000 +Inf */
#define KA_LIFE_BUCKETS 9  /* lifetime, s: 0.1 1 5 15 60 300 1800 3600 +Inf */
extern const uint64_t ka_rpc_bounds[KA_RPC_BUCKETS - 1];
extern const uint64_t ka_life_bounds_ms[KA_LIFE_BUCKETS - 1];

typedef _Atomic uint64_t ka_counter;

struct ka_stats {
	ka_counter accepted;
	ka_counter requests;
	ka_counter in_state[KA_CONN_STATES];  /* gauges: live connections per state */
	ka_counter closed[KA_CLOSE_REASONS];
	ka_counter closed_by_client;          /* the peer's FIN or RST came first */
	ka_counter rpc[KA_RPC_BUCKETS];       /* non-cumulative bucket counts */
	ka_counter rpc_sum;
	ka_counter life[KA_LIFE_BUCKETS];
	ka_counter life_sum_ms;
	/* HTTPS: handshakes completed, full or resumed, by version (1.2, 1.3); and failed,
	 * by kind (KA_TLS_FAIL_*). */
	ka_counter tls_full, tls_resumed;
	ka_counter tls_version[2];  /* [0] TLS 1.2, [1] TLS 1.3 */
	ka_counter tls_failed[KA_TLS_FAILS];
};

/* Single writer: a plain add, published with relaxed ordering. */
static inline void ka_stat_add(ka_counter *c, int64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (uint64_t)n,
	                      memory_order_relaxed);
}

static inline uint64_t ka_stat_get(const ka_counter *c)
{
	return atomic_load_explicit((ka_counter *)c, memory_order_relaxed);
}

/* Records a closed connection: its reason, who closed, and both histograms. */
void ka_stats_closed(struct ka_stats *s, enum ka_close_reason reason, int by_client,
                     uint64_t requests, int64_t lifetime_ms);

/* sum += each counter of add (both must be ka_stats). */
void ka_stats_sum(struct ka_stats *sum, const struct ka_stats *add);

#endif
