/*
 * The reverse proxy: --proxy PREFIX=URL[,URL...] as route-table handlers. Requests
 * under PREFIX go to the backends round-robin, over HTTP/1.1 connections kept in a
 * pool per backend per worker (upstream.h). Both bodies stream with bounded buffers;
 * hop-by-hop fields stay on their hop; a broken backend response is a 502 and never
 * reaches the client as a response of its own; a WebSocket upgrade becomes a tunnel.
 */
#ifndef KA_PROXY_H
#define KA_PROXY_H

#include <stdint.h>

#include "server/route.h"
#include "server/upstream.h"

struct ka_server;

/* Adds a route per --proxy prefix of cfg to t (at start, and at a reload that changed
 * them); the backends join the registry, whose pools every worker keeps. -1 when t or
 * the registry is full, or memory ran out. */
struct ka_config;
int ka_proxy_add_routes(struct ka_routes *t, struct ka_server *srv,
                        const struct ka_config *cfg);
void ka_proxy_free(struct ka_server *srv);

/* One backend's figures, summed over the workers, for /status and /metrics. */
struct ka_upstream_figures {
	const char *backend;        /* HOST:PORT */
	uint64_t open, idle, connects, reuses;
	uint64_t retired_told, retired_learned, retired_max, closed_idle;
	uint64_t stale_failures, retries;
	uint64_t failures[KA_UP_FAILURES];
	int64_t told_ms, learned_ms;  /* the shortest any worker knows; -1 none */
};

/* The number of backends (over all prefixes), and the figures of backend i. */
unsigned ka_proxy_backends(const struct ka_server *srv);
void ka_proxy_figures(const struct ka_server *srv, unsigned i, struct ka_upstream_figures *f);

#endif
