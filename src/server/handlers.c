/*
 * The route tables of each listener role (handlers.h).
 */
#include "server/handlers.h"

#include <stdio.h>
#include <stdlib.h>

#include "server/admin.h"
#include "server/demo.h"
#include "server/proxy.h"
#include "server/server.h"
#include "server/static_file.h"

/* The public listeners' routes for cfg: /_demo/, --proxy prefixes, the document root. */
static int build_public(struct ka_server *srv, const struct ka_config *cfg,
                        struct ka_routes *t)
{
	return (cfg->demo && ka_demo_add_routes(t) < 0) || ka_proxy_add_routes(t, srv, cfg) < 0 ||
	       ka_static_add_routes(t, &srv->root) < 0 ? -1 : 0;
}

int ka_handlers_build(struct ka_server *srv)
{
	if (build_public(srv, &srv->cfg, &srv->routes[KA_ROLE_PUBLIC]) < 0 ||
	    ka_admin_add_routes(&srv->routes[KA_ROLE_ADMIN]) < 0) {
		fprintf(stderr, "kahttpd: too many routes (at most %d per listener), or out of "
		                "memory\n", KA_MAX_ROUTES);
		return -1;
	}
	atomic_store(&srv->live_routes, &srv->routes[KA_ROLE_PUBLIC]);
	return 0;
}

const struct ka_routes *ka_handlers_rebuild(struct ka_server *srv, const struct ka_config *cfg,
                                            FILE *err)
{
	struct ka_route_table *rt = calloc(1, sizeof(*rt));

	/* --demo and --root do not reload: the same as at start, with cfg's proxies. */
	if (!rt || build_public(srv, cfg, &rt->t) < 0) {
		fprintf(err, "kahttpd: --proxy: too many routes (at most %d per listener), too "
		             "many backends, or out of memory\n", KA_MAX_ROUTES);
		free(rt);
		return NULL;
	}
	rt->next = srv->old_routes;
	srv->old_routes = rt;
	return &rt->t;
}

void ka_handlers_free(struct ka_server *srv)
{
	while (srv->old_routes) {
		struct ka_route_table *rt = srv->old_routes;

		srv->old_routes = rt->next;
		free(rt);
	}
}
