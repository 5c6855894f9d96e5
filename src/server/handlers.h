/*
 * Which handlers each listener role serves. The one place that names handlers: the
 * connection code finds them through the route tables built here, at start-up (and,
 * for the public listeners, again at a reload that changes --proxy).
 * A new endpoint is a route added in its handler's file and, for a new handler file,
 * one call here.
 */
#ifndef KA_HANDLERS_H
#define KA_HANDLERS_H

#include <stdio.h>

struct ka_config;
struct ka_routes;
struct ka_server;

/* Fills srv->routes from srv->cfg: the /_demo/ endpoints (--demo) and the document root
 * on the public listeners, the admin pages on --admin. Returns 0, or -1 when a table is
 * full (a message has gone to stderr). */
int ka_handlers_build(struct ka_server *srv);

/* A reload changed --proxy: the public listeners' routes for cfg (the demo and the
 * document root as at start), kept until exit (ka_handlers_free); NULL, with a message
 * to err, when a table is full. */
const struct ka_routes *ka_handlers_rebuild(struct ka_server *srv, const struct ka_config *cfg,
                                            FILE *err);
void ka_handlers_free(struct ka_server *srv);

#endif
