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

/* The public listening sockets of a worker: --listen's, then --tls-listen's, and room
 * for the extra sockets an upgrade may hand us when the old process had more workers
 * (each is accepted from by one of ours: a socket no one accepts from would hold its
 * clients in its queue for ever). */
#define KA_MAX_PUBLIC (4 * KA_MAX_LISTENERS)

/* Something closed during a loop pass and freed at its end, once no event of the pass
 * can still point at it (a backend connection of the proxy). */
struct ka_grave {
	struct ka_grave *next;
	void *block;  /* what free() gets */
};

/* Links every live connection of a worker, for shutdown. */
struct ka_link {
	struct ka_link *prev, *next;
};

struct ka_worker {
	struct ka_server *srv;
	const struct ka_config *cfg;
	const struct ka_routes *routes[KA_ROLES];  /* what each listener role serves now */
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
	struct ka_grave *graves;   /* other things closed this iteration (ka_grave) */
	uint64_t nconns;
	bool draining;
	bool handing_over;         /* the drain of KA_WAKE_HANDOVER: idle connections wait */
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

/* What the last SIGHUP did, for /status. */
struct ka_reload_status {
	pthread_mutex_t lock;
	uint64_t reloads;      /* configurations loaded by SIGHUP */
	uint64_t failed;       /* SIGHUPs whose configuration did not load */
	bool ok;               /* the last one loaded (true before any) */
	char error[512];       /* its first error ("FILE:LINE: name: ..."), "" when ok */
};

/* A public route table a reload built, kept until exit (handlers.c). */
struct ka_route_table {
	struct ka_route_table *next;
	struct ka_routes t;
};

struct ka_server {
	struct ka_config cfg;  /* as loaded at start; what a reload cannot change is read here */
	/* The configuration in force: cfg at start, a new immutable one after each good
	 * SIGHUP. Workers take it (w->cfg) when woken with KA_WAKE_RELOAD; the ones it
	 * replaced stay allocated until exit, as a worker may still be reading one. */
	const struct ka_config *_Atomic live;
	struct ka_reload_status reload;
	/* A reload removed slot i: each worker accepts what waits in its socket, closes
	 * it, and answers its connections' next requests with Connection: close. */
	_Atomic bool public_removed[KA_MAX_PUBLIC];
	pthread_mutex_t listen_lock;  /* listen_fds, n_public and the slots, while a reload
	                               * adds slots and workers close removed ones */
	struct ka_static_root root;
	struct ka_routes routes[KA_ROLES];  /* what each listener role serves (main.c) */
	/* The public routes in force: routes[KA_ROLE_PUBLIC], or what the last reload that
	 * changed --proxy built; each worker takes it with the configuration (w->routes). */
	const struct ka_routes *_Atomic live_routes;
	struct ka_route_table *old_routes;
	size_t buf_size;
	/* The listening sockets main() bound or was given, one set per worker; -1 where a
	 * worker has none in that slot. */
	int (*listen_fds)[KA_MAX_PUBLIC];
	unsigned n_public;           /* slots per worker */
	bool public_tls[KA_MAX_PUBLIC];       /* slot i serves HTTPS */
	const char *public_text[KA_MAX_PUBLIC];  /* the --listen text it was bound for, "" when
	                                          * systemd gave it (handed on at an upgrade) */
	/* Certificates and ticket keys; NULL without HTTPS. A reload swaps in new ones for
	 * later handshakes; the old ones stay until exit, as their connections use them. */
	struct ka_tls *_Atomic tls;
	unsigned n_workers;          /* request workers; the admin worker comes after them */
	struct ka_worker *workers;
	atomic_uint_fast64_t next_conn_id;
	atomic_uint_fast64_t nconns;       /* open client connections, all workers */
	atomic_uint_fast64_t evict_wanted; /* idle connections paused workers need closed */
	atomic_bool fds_shared;      /* a child of ours may hold copies of our descriptors */
	atomic_bool unhealthy;       /* /healthz says 503: a drain or an upgrade has begun */
	int admin_fd;                /* -1 without --admin */
	const char *admin_text;      /* its --admin text, "" when systemd gave it */
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
	KA_WAKE_RELOAD = 32,    /* take srv->live, and the listeners a reload added or removed */
	KA_WAKE_HANDOVER = 16,  /* drain after a binary upgrade: idle connections stay open
	                         * for their next request (answered with close) or until
	                         * their idle timeout */
};

int ka_worker_init(struct ka_worker *w, struct ka_server *srv, unsigned index);
/* Rings w's doorbell with these KA_WAKE_* flags; any thread may call it. */
void ka_worker_wake(struct ka_worker *w, unsigned flags);
void *ka_worker_main(void *arg);
/* Closes every connection of w (at exit, before the proxy's pools go). */
void ka_worker_close_conns(struct ka_worker *w);
void ka_worker_destroy(struct ka_worker *w);

/* A worker's connection went idle or began lingering: if a client waits for room, it
 * can be evicted (done from the worker's doorbell, outside the connection's own
 * code). Nothing on the admin worker, which --max-connections does not cover. */
void ka_server_conn_evictable(struct ka_worker *w);
/* A worker's connection closed: count it, and let a paused worker accept again. */
void ka_server_conn_closed(struct ka_worker *w);

#endif
