/*
 * The route table: what each listener serves. A listener has a role (public or
 * admin), and each role a table built once at start-up (main.c): a path, exact or a
 * prefix, the methods taken there, and the handler. The connection code finds the
 * route for a request here and calls its handler through it, knowing none by name;
 * a method the route does not take is answered 405 with Allow before any handler
 * runs. Static files, each /_demo/ endpoint and each admin page are one entry each.
 */
#ifndef KA_ROUTE_H
#define KA_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/http_parse.h"

struct ka_conn;
struct ka_route;

enum ka_role { KA_ROLE_PUBLIC, KA_ROLE_ADMIN, KA_ROLES };

/* A set of methods: a bit per enum ka_http_method. */
#define KA_METHOD_BIT(m) (1u << (m))
#define KA_METHODS_GET_HEAD (KA_METHOD_BIT(KA_METHOD_GET) | KA_METHOD_BIT(KA_METHOD_HEAD))
#define KA_METHODS_ANY 0u

/* Answers the request on c (its head in c->ex->req): fills in a response and calls
 * ka_conn_respond, or goes on later (a timer, a stream, a body to read). */
typedef void ka_handler_fn(struct ka_conn *c, const struct ka_route *route);

struct ka_route {
	const char *path;      /* "/status"; a prefix ends where the match may go on */
	size_t path_len;
	bool prefix;           /* path is a prefix of the request's path, not all of it */
	bool reads_body;       /* the handler reads the request body (ka_conn_read_body or
	                        * ka_conn_stream_body); for the others, the connection
	                        * discards it */
	bool streams_body;     /* ...in pieces: --max-body-size does not apply */
	unsigned methods;      /* KA_METHOD_BIT set; KA_METHODS_ANY takes every method */
	const char *allow;     /* the Allow header of the 405 for other methods */
	ka_handler_fn *serve;
	const void *data;      /* the handler's own configuration (a document root...) */
};

#define KA_MAX_ROUTES 96

struct ka_routes {
	struct ka_route v[KA_MAX_ROUTES];
	unsigned n;
};

/* Adds r to t; -1 when the table is full. Order does not matter: exact paths are
 * tried before prefixes, and longer prefixes before shorter ones. */
int ka_routes_add(struct ka_routes *t, const struct ka_route *r);

/* The route for a request path, or NULL when none matches. */
const struct ka_route *ka_routes_find(const struct ka_routes *t, struct ka_str path);

/* Whether route takes this method. */
static inline bool ka_route_allows(const struct ka_route *r, enum ka_http_method m)
{
	return r->methods == KA_METHODS_ANY || (r->methods & KA_METHOD_BIT(m));
}

#endif
