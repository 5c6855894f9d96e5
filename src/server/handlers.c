/*
 * The route tables of each listener role (handlers.h).
 */
#include "server/handlers.h"

#include <stdio.h>

#include "server/admin.h"
#include "server/demo.h"
#include "server/proxy.h"
#include "server/server.h"
#include "server/static_file.h"

int ka_handlers_build(struct ka_server *srv)
{
	struct ka_routes *pub = &srv->routes[KA_ROLE_PUBLIC];

	if ((srv->cfg.demo && ka_demo_add_routes(pub) < 0) || ka_proxy_add_routes(pub, srv) < 0 ||
	    ka_static_add_routes(pub, &srv->root) < 0 ||
	    ka_admin_add_routes(&srv->routes[KA_ROLE_ADMIN]) < 0) {
		fprintf(stderr, "kahttpd: too many routes (at most %d per listener)\n", KA_MAX_ROUTES);
		return -1;
	}
	return 0;
}
