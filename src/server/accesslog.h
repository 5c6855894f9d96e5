/*
 * --access-log: one line per request in the combined log format, followed by what
 * only kahttpd knows: " conn=ID req=N persist=keep-alive|close dur_ms=D". Lines are
 * built in a per-worker buffer and written when it fills, once a second, and at exit:
 * no write(2) per request.
 */
#ifndef KA_ACCESSLOG_H
#define KA_ACCESSLOG_H

#include <stdbool.h>

#include "server/stats.h"

struct ka_conn;
struct ka_worker;
struct ka_server;
struct ka_config;

/* Opens the log named by the configuration; returns 0 or -errno. */
int ka_access_log_open(struct ka_server *srv);
void ka_access_log_close(struct ka_server *srv);

/* Per worker: allocates the buffer and arms the once-a-second flush; nothing for a
 * worker whose connections are not logged (the admin's). */
int ka_access_log_worker_init(struct ka_worker *w, bool logged);
/* After a reload (w->cfg is the new configuration): starts logging if --access-log is
 * now on, or writes out what is buffered and stops if it is now off. */
void ka_access_log_worker_reload(struct ka_worker *w, bool logged);
/* In the main thread, at a reload: opens next's --access-log (again, if the path is
 * the same: how logs are rotated) into *fd, without touching the one in use. 0 (*fd
 * is stdout for "-"), 1 when it is off (*fd is -1), or -errno. */
int ka_access_log_reopen(const struct ka_config *next, int *fd);
/* Puts fd in use (the old one is closed once no worker writes to it). */
void ka_access_log_swap(struct ka_server *srv, int fd);
/* Writes what the worker has gathered. */
void ka_access_log_flush(struct ka_worker *w);

/* The head is complete: remember what the line needs from it. */
void ka_access_log_request(struct ka_conn *c);
/* The response is complete: add its line. */
void ka_access_log_response(struct ka_conn *c);
/* The connection closes (for reason) with its request unanswered or its response cut
 * short: add the line, with what was sent. */
void ka_access_log_cut(struct ka_conn *c, enum ka_close_reason reason);

#endif
