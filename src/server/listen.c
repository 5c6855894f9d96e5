/*
 * The listening sockets (listen.h): bound here, or taken from systemd or from the
 * process we upgrade, one set per worker, and changed by a reload.
 */
#include "server/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>

#include "core/sockopt.h"
#include "server/server.h"

#define BACKLOG 4096

/* A port that someone else holds would be silently shared under SO_REUSEPORT (if the
 * holder also set it): try it once without, so that "address in use" is reported. */
static int check_port_free(const struct ka_listen *l)
{
	int fd = ka_sock_listen((const struct sockaddr *)&l->addr, l->addr_len, false, 1);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* Options set on a listening socket are copied by the kernel to every socket accepted
 * from it (the child socket is cloned from the listener), and the keepalive timer of
 * the child is started at once. Setting them here saves five setsockopt calls per
 * accepted connection; test_tcp_keepalive checks that they reach accepted sockets. */
int ka_listen_set_options(int fd, const struct ka_config *cfg)
{
	const struct ka_tcp_keepalive *k = &cfg->tcp_keepalive;
	int err;

	/* Without a low-water mark a slow reader can have megabytes queued in the socket,
	 * and writability returns only once much of it drained: longer than --io-timeout
	 * for a client that reads slowly but steadily. With it, we write (and so see
	 * progress) every time 128 KiB have gone. */
	if ((err = ka_sock_set_notsent_lowat(fd, 128 * 1024)) ||
	    (err = ka_sock_set_nodelay(fd)) ||
	    (err = ka_sock_set_tcp_keepalive(fd, k->idle, k->intvl, k->cnt)))
		return err;
	return cfg->tcp_user_timeout ? ka_sock_set_user_timeout(fd, cfg->tcp_user_timeout) : 0;
}

/* The listening line of a socket, and its port for the TIME_WAIT count. */
static void announce(struct ka_server *srv, unsigned slot, int fd)
{
	struct sockaddr_storage bound;
	socklen_t bound_len;
	char text[KA_ADDR_TEXT_MAX] = "?";

	if (ka_sock_local_addr(fd, &bound, &bound_len) == 0) {
		ka_sock_addr_text((struct sockaddr *)&bound, text, sizeof(text));
		srv->ports[slot] = ntohs(bound.ss_family == AF_INET6
		                             ? ((struct sockaddr_in6 *)&bound)->sin6_port
		                             : ((struct sockaddr_in *)&bound)->sin_port);
	}
	printf("kahttpd: listening on %s://%s\n", srv->public_tls[slot] ? "https" : "http", text);
}

/* A new slot of public sockets, -1 in every worker; exits when there are too many. */
static unsigned add_slot(struct ka_server *srv, bool tls, const char *text)
{
	unsigned slot = srv->n_public++;

	if (slot == KA_MAX_PUBLIC) {
		fprintf(stderr, "kahttpd: too many listening sockets (at most %d per worker)\n",
		        KA_MAX_PUBLIC);
		exit(1);
	}
	srv->public_tls[slot] = tls;
	srv->public_text[slot] = text;
	for (unsigned k = 0; k < srv->n_workers; k++)
		srv->listen_fds[k][slot] = -1;
	return slot;
}

/* Worker k's descriptor of a socket we were given: the socket itself for the first,
 * a duplicate for the others, so that each worker closes its own. */
static int share_fd(int fd, unsigned k)
{
	int dup_fd = k ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : fd;

	if (dup_fd < 0) {
		perror("kahttpd: dup");
		exit(1);
	}
	return dup_fd;
}

/* Binds one socket per worker for listener l; exits with a message on failure. */
/* Binds one socket per worker for listener l into fds[]; 0, or -errno with a message
 * to err (and nothing left open). */
static int bind_set(const struct ka_server *srv, const struct ka_config *cfg,
                    const struct ka_listen *l, bool tls, int *fds, FILE *err)
{
	struct sockaddr_storage bound;
	socklen_t bound_len;
	int rc = check_port_free(l);
	unsigned k;

	for (k = 0; rc == 0 && k < srv->n_workers; k++) {
		/* Worker 0's socket resolves port 0; the others bind the port it got. */
		const struct sockaddr *a = k ? (struct sockaddr *)&bound
		                             : (const struct sockaddr *)&l->addr;
		int fd = ka_sock_listen(a, k ? bound_len : l->addr_len, true, BACKLOG);

		fds[k] = fd;
		if (fd < 0)
			rc = fd;
		else if (!(rc = ka_listen_set_options(fd, cfg)) && k == 0)
			rc = ka_sock_local_addr(fd, &bound, &bound_len);
	}
	if (rc) {
		fprintf(err, "kahttpd: --%s %s: %s\n", tls ? "tls-listen" : "listen", l->text,
		        strerror(-rc));
		for (unsigned j = 0; j < k; j++)
			if (fds[j] >= 0)
				close(fds[j]);
	}
	return rc;
}

/* Binds listener l at start; exits with a message on failure. */
static void bind_one(struct ka_server *srv, const struct ka_listen *l, bool tls)
{
	unsigned slot = add_slot(srv, tls, l->text);
	int fds[srv->n_workers];

	if (bind_set(srv, &srv->cfg, l, tls, fds, stderr) < 0)
		exit(1);
	for (unsigned k = 0; k < srv->n_workers; k++)
		srv->listen_fds[k][slot] = fds[k];
	announce(srv, slot, fds[0]);
}

/* Listener l's sockets from the process we upgrade: as many as it had workers. Ours
 * share them round: with fewer workers than sockets, the extra ones get slots of their
 * own, each accepted from by one worker. false when none was handed on for l. */
static bool adopt_one(struct ka_server *srv, struct ka_inherited_set *inh,
                      const struct ka_listen *l, bool tls)
{
	int fds[KA_MAX_INHERITED];
	unsigned m = 0, n = srv->n_workers, slot;

	for (unsigned i = 0; i < inh->n; i++) {
		struct ka_inherited *s = &inh->v[i];

		if (!s->used && s->role == KA_ROLE_PUBLIC && s->tls == tls &&
		    strcmp(s->text, l->text) == 0) {
			s->used = true;
			fds[m++] = s->fd;
		}
	}
	if (m == 0)
		return false;
	slot = add_slot(srv, tls, l->text);
	for (unsigned k = 0; k < n; k++)
		srv->listen_fds[k][slot] = k < m ? fds[k] : share_fd(fds[k % m], 1);
	for (unsigned j = n; j < m; j++) {
		unsigned extra = add_slot(srv, tls, l->text);

		srv->listen_fds[j % n][extra] = fds[j];
	}
	for (unsigned j = 0; j < m; j++)
		if (ka_listen_set_options(fds[j], &srv->cfg) < 0)
			perror("kahttpd: listening socket options");
	announce(srv, slot, fds[0]);
	return true;
}

/* The public listeners, HTTP then HTTPS: sockets systemd (or an upgraded process that
 * had them from systemd) gave replace the configured addresses of their kind; sockets
 * an upgraded process bound are matched to our configuration by their --listen text;
 * the rest are bound here. Given sockets that match nothing (a listener no longer
 * configured) are closed. Exits with a message on failure. */
void ka_listen_bind(struct ka_server *srv, struct ka_inherited_set *inh)
{
	const struct ka_config *cfg = &srv->cfg;

	srv->listen_fds = calloc(srv->n_workers, sizeof(*srv->listen_fds));
	if (!srv->listen_fds) {
		perror("kahttpd");
		exit(1);
	}
	for (int tls = 0; tls <= 1; tls++) {
		const struct ka_listen *ls = tls ? cfg->tls_listen : cfg->listen;
		unsigned n = tls ? cfg->n_tls_listen : cfg->n_listen;
		bool given = false;

		for (unsigned i = 0; i < inh->n; i++) {
			struct ka_inherited *s = &inh->v[i];
			unsigned slot;

			if (s->used || s->role != KA_ROLE_PUBLIC || s->tls != tls || s->text[0])
				continue;
			s->used = given = true;
			slot = add_slot(srv, tls, "");
			for (unsigned k = 0; k < srv->n_workers; k++)
				srv->listen_fds[k][slot] = share_fd(s->fd, k);
			if (ka_listen_set_options(s->fd, cfg) < 0)
				perror("kahttpd: listening socket options");
			announce(srv, slot, s->fd);
		}
		for (unsigned i = 0; !given && i < n; i++)
			if (!adopt_one(srv, inh, &ls[i], tls))
				bind_one(srv, &ls[i], tls);
	}
	bool https = false;

	for (unsigned i = 0; i < srv->n_public; i++)
		https |= srv->public_tls[i];
	if (https && !srv->tls) {
		fprintf(stderr, "kahttpd: an HTTPS socket was given: needs a certificate "
		        "(--tls-cert FILE --tls-key FILE)\n");
		exit(2);
	}
}

/* --admin: one socket, served by its own worker, never by the public listeners; a
 * given one comes first. */
void ka_listen_bind_admin(struct ka_server *srv, struct ka_inherited_set *inh)
{
	const struct ka_listen *l = &srv->cfg.admin;
	struct sockaddr_storage bound;
	socklen_t bound_len;
	char text[KA_ADDR_TEXT_MAX];
	int err = 0;

	srv->admin_fd = -1;
	srv->admin_text = l->text;
	for (unsigned i = 0; i < inh->n && srv->admin_fd < 0; i++) {
		struct ka_inherited *s = &inh->v[i];

		if (!s->used && s->role == KA_ROLE_ADMIN &&
		    (!s->text[0] || strcmp(s->text, l->text) == 0)) {
			s->used = true;
			srv->admin_fd = s->fd;
			if (!s->text[0])
				srv->admin_text = "";
		}
	}
	if (srv->admin_fd < 0 && !l->text[0])
		return;
	if (srv->admin_fd < 0) {
		err = check_port_free(l);
		if (!err && (err = ka_sock_listen((const struct sockaddr *)&l->addr, l->addr_len,
		                                  false, 64)) >= 0)
			srv->admin_fd = err;
	}
	if (err >= 0)
		err = ka_sock_local_addr(srv->admin_fd, &bound, &bound_len);
	if (err < 0) {
		fprintf(stderr, "kahttpd: --admin %s: %s\n", l->text, strerror(-err));
		exit(1);
	}
	ka_sock_addr_text((struct sockaddr *)&bound, text, sizeof(text));
	printf("kahttpd: admin on http://%s\n", text);
}

/* Given sockets that nothing took: listeners the new configuration no longer has. */
void ka_listen_close_unused(struct ka_inherited_set *inh)
{
	for (unsigned i = 0; i < inh->n; i++)
		if (!inh->v[i].used)
			close(inh->v[i].fd);
}


/* ---- reload ----------------------------------------------------------------------------- */

/* Whether a slot in use serves listener (tls, text). */
static bool slot_serves(const struct ka_server *srv, unsigned i, bool tls, const char *text)
{
	return !atomic_load(&srv->public_removed[i]) && srv->public_tls[i] == tls &&
	       strcmp(srv->public_text[i], text) == 0;
}

/* Whether systemd (or an upgraded process that had them from systemd) gave the
 * sockets of this kind: then the configuration's addresses of that kind do not apply. */
static bool kind_given(const struct ka_server *srv, bool tls)
{
	for (unsigned i = 0; i < srv->n_public; i++)
		if (srv->public_tls[i] == tls && !srv->public_text[i][0])
			return true;
	return false;
}

int ka_listen_reload_prepare(struct ka_server *srv, const struct ka_config *next,
                             struct ka_listen_plan *plan, FILE *err)
{
	memset(plan, 0, sizeof(*plan));
	for (int tls = 0; tls <= 1; tls++) {
		const struct ka_listen *ls = tls ? next->tls_listen : next->listen;
		unsigned n = tls ? next->n_tls_listen : next->n_listen;

		if (kind_given(srv, tls))
			continue;
		for (unsigned i = 0; i < srv->n_public; i++) {
			bool wanted = false;

			for (unsigned j = 0; j < n; j++)
				wanted |= strcmp(ls[j].text, srv->public_text[i]) == 0;
			if (srv->public_tls[i] == tls && !wanted)
				plan->remove[i] = true;
		}
		for (unsigned j = 0; j < n; j++) {
			bool have = false;
			struct ka_listen_new *add;

			for (unsigned i = 0; i < srv->n_public; i++)
				have |= slot_serves(srv, i, tls, ls[j].text);
			if (have)
				continue;
			if (srv->n_public + plan->n_added == KA_MAX_PUBLIC) {
				fprintf(err, "kahttpd: --%s %s: too many listening sockets over the "
				        "reloads (at most %d); upgrade (SIGUSR2) to start afresh\n",
				        tls ? "tls-listen" : "listen", ls[j].text, KA_MAX_PUBLIC);
				ka_listen_plan_free(srv, plan);
				return -1;
			}
			add = &plan->added[plan->n_added];
			add->tls = tls;
			add->text = ls[j].text;
			add->fds = malloc(srv->n_workers * sizeof(*add->fds));
			if (!add->fds || bind_set(srv, next, &ls[j], tls, add->fds, err) < 0) {
				free(add->fds);
				add->fds = NULL;
				ka_listen_plan_free(srv, plan);
				return -1;
			}
			plan->n_added++;
		}
	}
	return 0;
}

void ka_listen_reload_commit(struct ka_server *srv, const struct ka_config *next,
                             struct ka_listen_plan *plan)
{
	pthread_mutex_lock(&srv->listen_lock);
	for (unsigned a = 0; a < plan->n_added; a++) {
		struct ka_listen_new *add = &plan->added[a];
		unsigned slot = add_slot(srv, add->tls, add->text);

		for (unsigned k = 0; k < srv->n_workers; k++)
			srv->listen_fds[k][slot] = add->fds[k];
		announce(srv, slot, add->fds[0]);
		free(add->fds);
		add->fds = NULL;
	}
	plan->n_added = 0;
	for (unsigned i = 0; i < srv->n_public; i++) {
		if (plan->remove[i]) {
			atomic_store(&srv->public_removed[i], true);
			continue;
		}
		/* TCP keepalive and the rest, as the new configuration says, for every socket
		 * accepted from now on. */
		for (unsigned k = 0; k < srv->n_workers; k++)
			if (srv->listen_fds[k][i] >= 0 && !atomic_load(&srv->public_removed[i]) &&
			    ka_listen_set_options(srv->listen_fds[k][i], next) < 0)
				perror("kahttpd: reload: listening socket options");
	}
	pthread_mutex_unlock(&srv->listen_lock);
	fflush(stdout);
}

void ka_listen_plan_free(const struct ka_server *srv, struct ka_listen_plan *plan)
{
	for (unsigned a = 0; a < plan->n_added; a++) {
		for (unsigned k = 0; plan->added[a].fds && k < srv->n_workers; k++)
			close(plan->added[a].fds[k]);
		free(plan->added[a].fds);
	}
	plan->n_added = 0;
}
