/*
 * The reverse proxy's connections to its backends, and the pool that keeps them
 * between requests: one pool per backend per worker, most recently used first (LIFO),
 * so that cold connections age out. Reusing a pooled connection races the backend's
 * own idle timer, and a request sent as the backend closes is lost; the pool avoids
 * the race instead of retrying after it:
 *   - told: a backend's "Keep-Alive: timeout=N" retires its connections before N
 *     seconds of idleness (N - 1 s, at least N / 2), and "max=M" after M more requests;
 *   - learned: when it says nothing, the shortest idle time after which it closed a
 *     pooled connection becomes its estimate, and connections retire before it;
 *   - watched: an idle connection's FIN, reset or stray bytes close it at once, and one
 *     look before reuse catches what the events have not reported yet;
 *   - young enough: a request that may not be retried goes only on a connection whose
 *     idle age is below half the backend's timeout (0.5 s while nothing is known).
 * The rules themselves are pure functions (ka_upstream_idle_limit, _may_reuse), tested
 * alone in tests/unit/test_upstream.c.
 */
#ifndef KA_UPSTREAM_H
#define KA_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/loop.h"
#include "core/timer.h"
#include "server/config.h"
#include "server/server.h"
#include "server/stats.h"

struct ka_worker;

/* Why a proxied request failed: the causes /status counts, each with its status. */
enum ka_up_failure {
	KA_UP_REFUSED,          /* 502: no backend accepted a connection */
	KA_UP_RESET,            /* 502: reset before the response was complete */
	KA_UP_CLOSED,           /* 502: closed before the response head */
	KA_UP_INVALID,          /* 502: not a valid HTTP/1.x response */
	KA_UP_CONNECT_TIMEOUT,  /* 504: --upstream-connect-timeout */
	KA_UP_TIMEOUT,          /* 504: --upstream-timeout */
	KA_UP_FAILURES
};

const char *ka_up_failure_name(enum ka_up_failure f);

/* What the pool counts per backend; one writer (its worker), as ka_stats. */
struct ka_upstream_stats {
	ka_counter open, idle;       /* gauges */
	ka_counter connects, reuses;
	ka_counter retired_told, retired_learned, retired_max;
	ka_counter closed_idle;      /* the backend closed a pooled connection */
	ka_counter stale_failures;   /* a reused connection failed before any response byte */
	ka_counter retries;
	ka_counter failures[KA_UP_FAILURES];
};

/* One backend, as one worker sees it. */
struct ka_upstream {
	const struct ka_backend *be;
	struct ka_worker *w;
	struct ka_upconn *idle_head, *idle_tail;  /* head: most recently used */
	unsigned n_idle;
	int64_t down_until;    /* loop ms: refused or timed out, skipped until then */
	int64_t told_ms;       /* Keep-Alive: timeout= last heard, ms; -1 none */
	int64_t learned_ms;    /* shortest idle time it closed after, ms; -1 none */
	struct ka_upstream_stats stats;
};

/* A connection to a backend. Busy, its owner (a proxied exchange) gets its events and
 * its timer; idle, the pool does. */
struct ka_upconn {
	struct ka_io io;
	struct ka_upstream *up;
	struct ka_upconn *prev, *next;  /* in the idle list */
	struct ka_timer timer;
	struct ka_grave grave;         /* closed: freed at the end of the loop pass */
	void (*on_event)(struct ka_upconn *u, uint32_t events);  /* busy: the owner's */
	void (*on_timer)(struct ka_upconn *u);
	void *owner;
	int64_t idle_since;    /* loop ms it went idle */
	int64_t max_left;      /* requests the backend will still take; -1 unknown */
	uint64_t id;
	uint32_t requests;     /* exchanges begun on it */
	bool connected, readable, writable, idle;
	bool surplus;          /* pooled beyond --upstream-keepalive: for a moment only */
};

/* ---- the rules (pure) ----------------------------------------------------------------- */

/* How long (ms) a connection may stay pooled: before the told timeout, else before the
 * learned one, with a margin of 1 s but never under half; 4 s while nothing is known.
 * configured (--upstream-idle-timeout, ms, or KA_UPSTREAM_IDLE_AUTO) caps it. */
int64_t ka_upstream_idle_limit(int64_t told_ms, int64_t learned_ms, int64_t configured);

/* Whether a connection idle for age_ms may carry a request: below the idle limit; and
 * a request that cannot be retried only below half the backend's told or learned
 * timeout (below 0.5 s while nothing is known). */
bool ka_upstream_may_reuse(int64_t age_ms, bool retryable, int64_t told_ms,
                           int64_t learned_ms, int64_t configured);

/* ---- the pool ------------------------------------------------------------------------- */

void ka_upstream_init(struct ka_upstream *up, const struct ka_backend *be, struct ka_worker *w);

/* The most recently used pooled connection that may carry this request (watched idle
 * connections the backend has closed are dropped on the way), or NULL. */
struct ka_upconn *ka_upstream_take(struct ka_upstream *up, bool retryable);

/* A new connection to the backend, its connect under way (or done). NULL with errno
 * when even that failed (ECONNREFUSED may come at once on loopback). */
struct ka_upconn *ka_upstream_connect(struct ka_upstream *up);

/* The exchange on u is complete and the backend keeps the connection: pool it (or
 * retire it, when max= said this was its last request or the pool is full). */
void ka_upstream_put(struct ka_upconn *u);

/* Closes u (busy or idle); why goes to the trace. Its memory stays until the end of
 * the loop pass: an event of the same pass may still name it (and is ignored). */
void ka_upstream_close(struct ka_upconn *u, const char *why);

/* The backend's Keep-Alive parameters on a response on u (-1 when absent). */
void ka_upstream_told(struct ka_upconn *u, int64_t timeout_s, int64_t max);

/* (Re)arms u's timer at loop time at; ka_upstream_timer_stop disarms it. */
void ka_upstream_timer(struct ka_upconn *u, int64_t at);
void ka_upstream_timer_stop(struct ka_upconn *u);

#endif
