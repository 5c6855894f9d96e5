/*
 * The process and its workers. main() builds one ka_server from the configuration,
 * binds the listeners (so errors and the real port are known before anything runs),
 * then starts N workers. Each worker owns an event loop, one SO_REUSEPORT socket per
 * listener, its timers, pools and connections; nothing on the request path is shared
 * between workers.
 */
#ifndef KA_SERVER_H
#define KA_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/loop.h"
#include "core/timer.h"
#include "server/config.h"
#include "server/route.h"
#include "server/static_file.h"
#include "server/stats.h"

struct ka_server;
struct ka_worker;
struct ka_proxies;

struct ka_listener {
	struct ka_io io;
	struct ka_worker *w;
	enum ka_role role;  /* what it serves: srv->routes[role] */
	bool tls;           /* HTTPS: its connections shake hands first (tls.h) */
};

/* The public listeners of a worker: --listen's, then --tls-listen's. */
#define KA_MAX_PUBLIC (2 * KA_MAX_LISTENERS)

/* Links every live connection of a worker, for shutdown. */
struct ka_link {
	struct ka_link *prev, *next;
};

struct ka_worker {
	struct ka_server *srv;
	const struct ka_config *cfg;
	unsigned index;     /* the request workers first; the admin worker, if any, last */
	uint64_t admin_ids;  /* admin connections are numbered apart: they count nowhere */
	pthread_t thread;
	struct ka_loop loop;
	struct ka_io wake;  /* eventfd: a doorbell; wake_flags says what for */
	atomic_uint wake_flags;   /* KA_WAKE_* */
	atomic_bool paused;       /* not accepting: max-connections reached, nothing idle */
	/* Eviction across workers: what this worker would evict first (ka_conn_evict_key,
	 * published after each loop pass), and evictions other workers asked of it. */
	_Atomic int64_t evict_key;
	atomic_uint_fast64_t evict_asked;
	atomic_uint_fast64_t *asked;  /* while paused: the count our request went to */
	bool accept_stalled;      /* not accepting: out of descriptors, until accept_retry */
	bool listening;           /* the listening sockets are in epoll */
	struct ka_timer accept_retry;
	int64_t accept_warned;    /* loop time of the last "accept: ..." message */
	struct ka_listener listeners[KA_MAX_PUBLIC];
	unsigned n_listeners;

	/* One FIFO per timeout kind: every entry of a list shares its timeout. */
	struct ka_fifo handshake_q;  /* --tls-handshake-timeout: TLS handshake incomplete */
	struct ka_fifo header_q;  /* --header-timeout: request head incomplete */
	struct ka_fifo idle_q;    /* --keepalive-timeout: between requests */
	struct ka_fifo io_q;      /* --io-timeout: body read or response write stalled */
	struct ka_fifo linger_q;  /* 2 s of lingering close */
	struct ka_fifo drain_q;   /* --shutdown-timeout, armed once at shutdown */
	struct ka_fifo_node drain_node;

	struct ka_file_cache files;  /* small static files, checked on every use */
	struct ka_pool bufs;       /* read and write buffers */
	struct ka_pool exchanges;  /* per-request state */
	struct ka_link conns;      /* every live connection */
	struct ka_link closed;     /* closed this iteration, freed at its end */
	uint64_t nconns;
	bool draining;
	uint64_t cut;              /* connections cut by the shutdown timeout */

	struct ka_stats stats;     /* this worker's figures; it is their only writer */
	pthread_mutex_t conns_lock;  /* held to link or unlink w->conns: the admin walks it */

	/* --access-log: lines gather here and leave in one write when the buffer fills,
	 * at least once a second (log_timer), and at exit. */
	char *log_buf;
	size_t log_len;
	struct ka_timer log_timer;
	char log_date[32];  /* "22/Nov/2026:03:07:01 +0000", refreshed once a second */
	int64_t log_date_wall;

	char date[32];      /* Date header value, refreshed once a second */
	int64_t date_wall;
	char discard[16384];  /* lingering close and body discard read into this */
};

struct ka_server {
	struct ka_config cfg;
	struct ka_static_root root;
	struct ka_routes routes[KA_ROLES];  /* what each listener role serves (main.c) */
	size_t buf_size;
	/* The listening sockets main() bound, one set per worker. */
	int (*listen_fds)[KA_MAX_PUBLIC];
	unsigned n_public;           /* listeners per worker: --listen's, then --tls-listen's */
	struct ka_tls *tls;          /* certificates and ticket keys; NULL without HTTPS */
	unsigned n_workers;          /* request workers; the admin worker comes after them */
	struct ka_worker *workers;
	atomic_uint_fast64_t next_conn_id;
	atomic_uint_fast64_t nconns;       /* open client connections, all workers */
	atomic_uint_fast64_t evict_wanted; /* idle connections paused workers need closed */
	int admin_fd;                /* -1 without --admin */
	uint16_t ports[KA_MAX_PUBLIC];  /* the public listeners' real ports */
	int64_t started;             /* CLOCK_MONOTONIC ms at start, for uptime */
	int log_fd;                  /* --access-log, -1 when off */
	struct ka_proxies *proxies;  /* --proxy: routes and per-worker pools (proxy.c) */
	pthread_mutex_t log_lock;    /* one worker's flush at a time, so lines never mix */
};

enum {
	KA_WAKE_STOP = 1,    /* drain and stop (SIGTERM, SIGINT) */
	KA_WAKE_EVICT = 2,   /* another worker is full: close an idle connection if you can */
	KA_WAKE_RESUME = 4,  /* a connection closed somewhere: accept again if there is room */
	KA_WAKE_QUIT = 8,    /* stop at once, writing out the access log (SIGQUIT) */
};

int ka_worker_init(struct ka_worker *w, struct ka_server *srv, unsigned index);
/* Rings w's doorbell with these KA_WAKE_* flags; any thread may call it. */
void ka_worker_wake(struct ka_worker *w, unsigned flags);
void *ka_worker_main(void *arg);
void ka_worker_destroy(struct ka_worker *w);

/* A worker's connection went idle or began lingering: if a client waits for room, it
 * can be evicted (done from the worker's doorbell, outside the connection's own
 * code). Nothing on the admin worker, which --max-connections does not cover. */
void ka_server_conn_evictable(struct ka_worker *w);
/* A worker's connection closed: count it, and let a paused worker accept again. */
void ka_server_conn_closed(struct ka_worker *w);

#endif
