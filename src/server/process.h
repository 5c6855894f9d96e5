/*
 * The process around the workers: its pid file, the user it runs as, the listening
 * sockets it was given instead of binding them (by systemd's socket activation or by
 * the kahttpd it upgrades), and the binary upgrade that hands them on. Listening
 * sockets outlive the process that made them, as in nginx: an upgrade never binds new
 * ones, so no client waiting in an accept queue is lost.
 */
#ifndef KA_PROCESS_H
#define KA_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "server/route.h"

/* ---- the pid file ------------------------------------------------------------------------ */

/* Writes our pid to path; 0 or -errno. It is remembered as the pid file to remove. */
int ka_pidfile_write(const char *path);
/* Removes the pid file if it still holds our pid (a newer process may own the name). */
void ka_pidfile_remove(void);
/* The binary upgrade's renames: path to path.oldbin (old = true) and back. */
void ka_pidfile_rename(bool old);

/* ---- the user ---------------------------------------------------------------------------- */

/* Looks user up now (so a wrong name fails before binding); 0, or -1 with a message
 * naming --user. */
int ka_user_check(const char *user);
/* Becomes user and its groups (after binding); nothing if we are that user already.
 * 0, or -1 with a message naming --user. */
int ka_user_become(const char *user);

/* ---- sockets given to us ----------------------------------------------------------------- */

/* A listening socket we did not bind. */
struct ka_inherited {
	int fd;
	enum ka_role role;
	bool tls;
	char text[48];   /* the --listen text it was bound for (an upgrade); "" from systemd */
	bool used;
};

#define KA_MAX_INHERITED 256

struct ka_inherited_set {
	struct ka_inherited v[KA_MAX_INHERITED];
	unsigned n;
	bool from_systemd;  /* LISTEN_FDS: these replace the configured listeners of a role */
};

/* Reads KAHTTPD_LISTEN_FDS (an upgrade) or LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES
 * (systemd) and removes them from the environment. 0, or -1 with a message. */
int ka_inherited_read(struct ka_inherited_set *set);

/* ---- binary upgrade ---------------------------------------------------------------------- */

/* Remembers how we were started (argv[0] as given, made absolute against the working
 * directory, and the arguments), for the re-exec. */
void ka_upgrade_init(int argc, char **argv);

/* One listening socket to hand on: its descriptor, what it serves, and the --listen
 * text it was configured with (the new process matches its own configuration by it). */
struct ka_handoff {
	int fd;
	enum ka_role role;
	bool tls;
	const char *text;
};

/* Starts the binary on disk as a new process that inherits these sockets; returns its
 * pid and sets *ready_fd to a pipe that yields one byte once it serves, or EOF if it
 * failed. -1 with a message on stderr. */
pid_t ka_upgrade_spawn(const struct ka_handoff *socks, unsigned n, int *ready_fd);

/* The path the upgrade executes, for messages. */
const char *ka_upgrade_exe(void);

/* In the new process: tells the old one we serve. false when we are not an upgrade's
 * new process. */
bool ka_upgrade_ready(void);

#endif
