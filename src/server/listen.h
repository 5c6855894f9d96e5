/*
 * The listening sockets: one per worker for every --listen and --tls-listen address
 * (SO_REUSEPORT: the kernel spreads clients across the workers' queues), bound here or
 * taken from systemd or from the kahttpd we upgrade (process.h), and the --admin
 * socket. Each set is a "slot" of struct ka_server (listen_fds, public_tls,
 * public_text); slots are only ever added, a removed listener leaves its slot empty.
 */
#ifndef KA_LISTEN_H
#define KA_LISTEN_H

#include <stdio.h>

#include "server/config.h"
#include "server/process.h"

struct ka_server;

/* The options every accepted socket inherits from its listening socket. */
int ka_listen_set_options(int fd, const struct ka_config *cfg);

/* The public listeners of srv->cfg, given sockets first; exits with a message (code 1,
 * or 2 for an HTTPS socket without a certificate) on failure. Prints one "listening
 * on" line each. */
void ka_listen_bind(struct ka_server *srv, struct ka_inherited_set *inh);
/* The --admin socket, a given one first; exits with a message on failure. */
void ka_listen_bind_admin(struct ka_server *srv, struct ka_inherited_set *inh);
/* Closes the given sockets that nothing took. */
void ka_listen_close_unused(struct ka_inherited_set *inh);

/* ---- reload ---------------------------------------------------------------------------- */

/* What a reload changes in the listeners: sockets bound for the new addresses, and the
 * slots whose address the new configuration no longer has. */
struct ka_listen_new {
	bool tls;
	const char *text;  /* the new configuration's --listen text */
	int *fds;          /* one per worker */
};

struct ka_listen_plan {
	struct ka_listen_new added[KA_MAX_LISTENERS * 2];
	unsigned n_added;
	bool remove[4 * KA_MAX_LISTENERS];
};

/* Binds what next adds (nothing else changes yet); 0, or -1 with a message to err and
 * nothing left bound. */
int ka_listen_reload_prepare(struct ka_server *srv, const struct ka_config *next,
                             struct ka_listen_plan *plan, FILE *err);
/* Publishes the plan to the workers (they act on it when woken with KA_WAKE_RELOAD),
 * prints a "listening on" line per added listener, and sets next's socket options on
 * the listening sockets that stay. */
void ka_listen_reload_commit(struct ka_server *srv, const struct ka_config *next,
                             struct ka_listen_plan *plan);
/* Closes what a plan that is not committed bound. */
void ka_listen_plan_free(const struct ka_server *srv, struct ka_listen_plan *plan);

#endif
