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
#include "server/static_file.h"

struct ka_server;
struct ka_worker;

struct ka_listener {
	struct ka_io io;
	struct ka_worker *w;
};

/* Links every live connection of a worker, for shutdown. */
struct ka_link {
	struct ka_link *prev, *next;
};

struct ka_worker {
	struct ka_server *srv;
	const struct ka_config *cfg;
	unsigned index;
	pthread_t thread;
	struct ka_loop loop;
	struct ka_io wake;  /* eventfd: the main thread asks us to stop */
	struct ka_listener listeners[KA_MAX_LISTENERS];
	unsigned n_listeners;

	/* One FIFO per timeout kind: every entry of a list shares its timeout. */
	struct ka_fifo header_q;  /* --header-timeout: request head incomplete */
	struct ka_fifo idle_q;    /* --keepalive-timeout: between requests */
	struct ka_fifo io_q;      /* --io-timeout: body read or response write stalled */
	struct ka_fifo linger_q;  /* 2 s of lingering close */
	struct ka_fifo life_q;    /* --keepalive-time: connection lifetime */
	struct ka_fifo drain_q;   /* --shutdown-timeout, armed once at shutdown */
	struct ka_fifo_node drain_node;

	struct ka_pool bufs;       /* read and write buffers */
	struct ka_pool exchanges;  /* per-request state */
	struct ka_link conns;      /* every live connection */
	struct ka_link closed;     /* closed this iteration, freed at its end */
	uint64_t nconns;
	bool draining;
	uint64_t cut;              /* connections cut by the shutdown timeout */

	char date[32];      /* Date header value, refreshed once a second */
	int64_t date_wall;
	char discard[16384];  /* lingering close and body discard read into this */
};

struct ka_server {
	struct ka_config cfg;
	struct ka_static_root root;
	size_t buf_size;
	/* The listening sockets main() bound, one set per worker. */
	int (*listen_fds)[KA_MAX_LISTENERS];
	unsigned n_workers;
	struct ka_worker *workers;
	atomic_uint_fast64_t next_conn_id;
};

int ka_worker_init(struct ka_worker *w, struct ka_server *srv, unsigned index);
void *ka_worker_main(void *arg);
/* Called from the main thread: ask a worker to drain and stop. */
void ka_worker_stop(struct ka_worker *w);
void ka_worker_destroy(struct ka_worker *w);

/* Refreshes w->date when the wall-clock second has changed. */
void ka_worker_update_date(struct ka_worker *w);

#endif
