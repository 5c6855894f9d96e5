/*
 * SIGHUP: the configuration read again (--config, then the command line, which still
 * wins), checked whole, and put in force for what comes next (reload.c).
 */
#ifndef KA_RELOAD_H
#define KA_RELOAD_H

#include <stdbool.h>

struct ka_server;

/* Before the workers start: the configuration at start is the one in force. */
void ka_reload_init(struct ka_server *srv);

/* Loads the configuration from argv again. Everything is checked before anything
 * changes: a configuration that fails (a bad value, a certificate that does not load,
 * an address that cannot be bound, an access log that cannot be opened) changes
 * nothing, and its error, with file name and line number, goes to stderr and /status.
 * A good one is published to the workers (KA_WAKE_RELOAD). Whether it was. */
bool ka_reload(struct ka_server *srv, int argc, char **argv);

/* At exit: the configurations and certificates that reloads replaced. */
void ka_reload_free(struct ka_server *srv);

#endif
