/*
 * Which handlers each listener role serves. The one place that names handlers: the
 * connection code finds them through the route tables built here, once, at start-up.
 * A new endpoint is a route added in its handler's file and, for a new handler file,
 * one call here.
 */
#ifndef KA_HANDLERS_H
#define KA_HANDLERS_H

struct ka_server;

/* Fills srv->routes from srv->cfg: the /_demo/ endpoints (--demo) and the document root
 * on the public listeners, the admin pages on --admin. Returns 0, or -1 when a table is
 * full (a message has gone to stderr). */
int ka_handlers_build(struct ka_server *srv);

#endif
