/*
 * The --admin listener's pages (/, /status, /metrics, /connections), as the routes of
 * the admin role: read-only views of every request worker's figures and connections.
 */
#ifndef KA_ADMIN_H
#define KA_ADMIN_H

#include "server/route.h"

/* Adds the admin pages to t; -1 when it is full. They read the server through the
 * admin worker that serves them. */
int ka_admin_add_routes(struct ka_routes *t);

#endif
