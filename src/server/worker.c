/*
 * A worker thread: its event loop, its share of the listening sockets, its timers
 * and pools, and the accept path. The main thread talks to a worker only through an
 * eventfd (stop) and reads nothing of its state; connection ids come from one atomic
 * counter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/sockopt.h"
#include "core/util.h"
#include "server/accesslog.h"
#include "server/conn.h"
#include "server/keepalive_policy.h"
#include "server/server.h"

/* Free blocks a pool keeps for reuse; beyond that they go back to malloc. */
#define POOL_KEEP 64
/* After accept4 ran out of descriptors or memory: how long before trying again. */
#define ACCEPT_RETRY_MS 100

/* The listening sockets are in epoll when neither reason to stop accepting holds. */
static void listeners_update(struct ka_worker *w)
{
	bool on = !atomic_load(&w->paused) && !w->accept_stalled;

	if (on == w->listening)
		return;
	for (unsigned i = 0; i < w->n_listeners; i++) {
		if (w->listeners[i].io.fd < 0)
			continue;
		if (on)
			ka_loop_add(&w->loop, &w->listeners[i].io, KA_EV_IN);
		else
			ka_loop_del(&w->loop, &w->listeners[i].io);
	}
	w->listening = on;
}

static void listeners_enable(struct ka_worker *w, bool on)
{
	atomic_store(&w->paused, !on);
	listeners_update(w);
}

static void accept_retry(struct ka_timer *t)
{
	struct ka_worker *w = ka_container_of(t, struct ka_worker, accept_retry);

	w->accept_stalled = false;
	listeners_update(w);
}

/* accept4 failed for want of a descriptor (EMFILE: ulimit -n; ENFILE: the system's)
 * or of kernel memory. The client stays in the backlog and the listening socket stays
 * readable, so trying again at once would spin and fill stderr: stop accepting for
 * ACCEPT_RETRY_MS (nginx does the same) and say so at most once a second. */
static void accept_stall(struct ka_worker *w, int err)
{
	if (w->loop.now - w->accept_warned >= 1000) {
		fprintf(stderr, "kahttpd: accept: %s; not accepting for %d ms%s\n", strerror(err),
		        ACCEPT_RETRY_MS,
		        err == EMFILE ? " (raise ulimit -n or lower --max-connections)" : "");
		w->accept_warned = w->loop.now;
	}
	w->accept_retry.cb = accept_retry;
	/* Without the timer that ends the pause, pausing would stop accepting for good. */
	if (!ka_timer_armed(&w->accept_retry) &&
	    ka_loop_timer_add(&w->loop, &w->accept_retry, w->loop.now + ACCEPT_RETRY_MS) < 0)
		return;
	w->accept_stalled = true;
	listeners_update(w);
}

/* Whether ka_conn_evict_one can make room here: a lingering or an idle connection. */
static bool can_make_room(const struct ka_worker *w)
{
	return !ka_fifo_empty(&w->linger_q) || !ka_fifo_empty(&w->idle_q);
}

/* The worker holding the connection to evict first, process-wide (lingering, else
 * least recently active idle), from what each worker published after its last pass
 * and w's own state now; NULL when no worker has one. */
static struct ka_worker *evict_target(struct ka_worker *w)
{
	struct ka_server *srv = w->srv;
	struct ka_worker *best = w;
	int64_t best_key = ka_conn_evict_key(w);

	for (unsigned k = 0; k < srv->n_workers; k++) {
		struct ka_worker *o = &srv->workers[k];
		int64_t key = atomic_load_explicit(&o->evict_key, memory_order_relaxed);

		if (o != w && key < best_key) {
			best = o;
			best_key = key;
		}
	}
	return best_key == INT64_MAX ? NULL : best;
}

/* Decrements *n unless it is 0; whether it did. */
static bool take_one(atomic_uint_fast64_t *n)
{
	uint_fast64_t v = atomic_load(n);

	while (v > 0)
		if (atomic_compare_exchange_weak(n, &v, v - 1))
			return true;
	return false;
}

/* Asks another worker for one eviction: target, which holds the connection to evict
 * first, or, when that is unknown (NULL), whichever other worker can make room.
 * Returns the count the request went to. */
static atomic_uint_fast64_t *ask_eviction(struct ka_worker *w, struct ka_worker *target)
{
	struct ka_server *srv = w->srv;

	if (target) {
		atomic_fetch_add(&target->evict_asked, 1);
		ka_worker_wake(target, KA_WAKE_EVICT);
		return &target->evict_asked;
	}
	atomic_fetch_add(&srv->evict_wanted, 1);
	for (unsigned k = 0; k < srv->n_workers; k++)
		if (&srv->workers[k] != w)
			ka_worker_wake(&srv->workers[k], KA_WAKE_EVICT);
	return &srv->evict_wanted;
}

/* One connection over the limit: evict the connection to evict first, here or (a
 * moment later) in the worker that holds it. */
static void make_room(struct ka_worker *w)
{
	struct ka_worker *target = evict_target(w);

	if (target == NULL || target == w)
		ka_conn_evict_one(w);
	else
		ask_eviction(w, target);
}

/* At --max-connections a new client is still served: the lingering or least recently
 * active idle connection, in whichever worker, makes room. When it is ours, it is
 * evicted once the new one is accepted, so that nothing is closed for a client that
 * is not there. When it is another worker's, we stop accepting and ask that worker;
 * its close lets us accept again (KA_WAKE_RESUME). Only when none exists anywhere do
 * we wait for any connection to free up. Clients wait in the listen backlog
 * meanwhile, and are never accepted just to be reset. Someone is waiting: we are
 * asked only when the listener has just reported a client. */
static bool may_accept(struct ka_worker *w)
{
	struct ka_server *srv = w->srv;
	struct ka_worker *target;

	if (atomic_load(&srv->nconns) < w->cfg->max_connections)
		return true;
	target = evict_target(w);
	if (target == w)
		return true;
	listeners_enable(w, false);
	w->asked = ask_eviction(w, target);
	return false;
}

/* The end of each loop pass: free what closed, and publish what we would evict. */
static void after_pass(void *data)
{
	struct ka_worker *w = data;

	ka_conn_free_closed(w);
	atomic_store_explicit(&w->evict_key, ka_conn_evict_key(w), memory_order_relaxed);
}

/* One client per readiness report, as nginx does without multi_accept: the listener is
 * level-triggered, so epoll reports it again while clients wait, and accepting until
 * EAGAIN would cost a failed accept4 on nearly every wake-up (1.5 µs of a new
 * connection's 23 in bench/, scenario "close"). A burst is accepted one per loop pass,
 * in turn with the other connections' events; EINTR and ECONNABORTED likewise leave
 * the next client to the next report. */
static void on_accept(struct ka_io *io, uint32_t events)
{
	struct ka_listener *l = (struct ka_listener *)io;
	struct ka_worker *w = l->w;
	struct ka_server *srv = w->srv;
	struct sockaddr_storage peer;
	socklen_t peer_len = sizeof(peer);
	int fd;

	(void)events;
	if (w->draining || io->fd < 0 || (l->role == KA_ROLE_PUBLIC && !may_accept(w)))
		return;
	fd = accept4(io->fd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			accept_stall(w, errno);
		else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			fprintf(stderr, "kahttpd: accept: %s\n", strerror(errno));
		return;
	}
	/* --max-connections covers the public listeners, not the admin's. */
	if (l->role == KA_ROLE_PUBLIC &&
	    atomic_fetch_add(&srv->nconns, 1) >= w->cfg->max_connections)
		make_room(w);
	ka_conn_new(w, fd, (struct sockaddr *)&peer, l);
}

void ka_server_conn_closed(struct ka_worker *w)
{
	struct ka_server *srv = w->srv;

	atomic_fetch_sub(&srv->nconns, 1);
	for (unsigned k = 0; k < srv->n_workers; k++)
		if (atomic_load(&srv->workers[k].paused))
			ka_worker_wake(&srv->workers[k], KA_WAKE_RESUME);
}

static void drain_expired(struct ka_fifo_node *node, void *data)
{
	struct ka_worker *w = data;
	struct ka_link *l, *next;

	(void)node;
	for (l = w->conns.next; l != &w->conns; l = next) {
		struct ka_conn *c = ka_container_of(l, struct ka_conn, link);

		next = l->next;
		/* After an upgrade an idle connection ends at its own idle timeout, which its
		 * client was told: closing it sooner could race a request on its way. */
		if (w->handing_over && c->state == KA_CONN_IDLE)
			continue;

		/* A lingering connection has had its answer; only the others were cut short. */
		if (c->state != KA_CONN_LINGER)
			w->cut++;
		ka_conn_close(c, c->state == KA_CONN_LINGER ? c->close_reason : KA_CLOSE_SHUTDOWN);
	}
	if (w->nconns == 0)
		w->loop.stop = true;
}

/* Closes our descriptor of listener l; with take_queue, first accepts the clients
 * already in its queue (they may have sent a whole request: they are answered rather
 * than reset by a close under them), over --max-connections if need be. */
static void listener_close(struct ka_worker *w, struct ka_listener *l, bool take_queue)
{
	for (int k = 0; k < 4096 && take_queue; k++) {
		struct sockaddr_storage peer;
		socklen_t peer_len = sizeof(peer);
		int fd = accept4(l->io.fd, (struct sockaddr *)&peer, &peer_len,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			break;
		if (l->role == KA_ROLE_PUBLIC)
			atomic_fetch_add(&w->srv->nconns, 1);
		ka_conn_new(w, fd, (struct sockaddr *)&peer, l);
	}
	/* Another process (an upgrade's) or descriptor (systemd's socket, shared by the
	 * workers) may hold the same socket: close() alone would leave it in epoll. */
	if (w->listening)
		ka_loop_del(&w->loop, &l->io);
	close(l->io.fd);
	l->io.fd = -1;
}

/* SIGHUP: the configuration in force now (srv->live), its timeouts for what waits from
 * now on, the access log, and the listeners a reload added or removed. */
static void worker_reload(struct ka_worker *w)
{
	struct ka_server *srv = w->srv;
	const struct ka_config *cfg = atomic_load(&srv->live);
	bool admin = w->index == srv->n_workers;
	int64_t now = w->loop.now;

	if (cfg && cfg != w->cfg) {
		ka_fifo_set_timeout(&w->handshake_q, cfg->tls_handshake_timeout, now);
		ka_fifo_set_timeout(&w->header_q, cfg->header_timeout, now);
		ka_fifo_set_timeout(&w->io_q, cfg->io_timeout, now);
		ka_conn_idle_retime(w, cfg->keepalive_timeout);
		if (!w->draining)
			w->drain_q.timeout = cfg->shutdown_timeout;
		w->cfg = cfg;
		w->routes[KA_ROLE_PUBLIC] = atomic_load(&srv->live_routes);
	}
	ka_access_log_worker_reload(w, !admin);
	if (admin || w->draining)
		return;
	pthread_mutex_lock(&srv->listen_lock);
	for (unsigned i = 0; i < srv->n_public; i++) {
		struct ka_listener *l = &w->listeners[i];

		if (i >= w->n_listeners) {  /* added */
			l->w = w;
			l->role = KA_ROLE_PUBLIC;
			l->tls = srv->public_tls[i];
			l->io.fd = srv->listen_fds[w->index][i];
			l->io.on_event = on_accept;
			if (l->io.fd >= 0 && w->listening && ka_loop_add(&w->loop, &l->io, KA_EV_IN) < 0)
				perror("kahttpd: reload: adding a listener");
		} else if (atomic_load(&srv->public_removed[i]) && l->io.fd >= 0) {
			listener_close(w, l, true);
			srv->listen_fds[w->index][i] = -1;
		}
	}
	w->n_listeners = srv->n_public;
	pthread_mutex_unlock(&srv->listen_lock);
}

/* Stop accepting, close what is idle, let requests in progress finish. Handing over
 * (after a binary upgrade, whose new process accepts on the same sockets), idle
 * connections are not closed under a client that may be reusing one at this moment:
 * each stays open until its next request, answered with Connection: close, or until
 * its idle timeout, which its Keep-Alive header announced. */
static void worker_drain(struct ka_worker *w, bool handover)
{
	struct ka_link *l, *next;

	/* Clients already in the backlog may have sent a whole request: accept them (over
	 * --max-connections if need be) to answer it, rather than reset them by closing
	 * the listener under them. Their connections drain like the others below. */
	for (unsigned i = 0; i < w->n_listeners && !w->draining; i++) {
		if (w->listeners[i].io.fd < 0)
			continue;
		/* Handing over, the new process accepts from these same sockets: leave their
		 * clients to it. Our close only drops our descriptor. */
		listener_close(w, &w->listeners[i], !handover);
	}
	w->draining = true;
	w->handing_over = handover;
	for (l = w->conns.next; l != &w->conns; l = next) {
		next = l->next;
		ka_conn_drain(ka_container_of(l, struct ka_conn, link));
	}
	if (w->nconns == 0)
		w->loop.stop = true;
	else if (!ka_fifo_node_armed(&w->drain_node))
		ka_fifo_push(&w->drain_q, &w->drain_node, w->loop.now);
}

static void on_wake(struct ka_io *io, uint32_t events)
{
	struct ka_worker *w = ka_container_of(io, struct ka_worker, wake);
	struct ka_server *srv = w->srv;
	uint64_t v;
	unsigned flags;

	(void)events;
	if (read(io->fd, &v, sizeof(v)) != sizeof(v))
		return;
	flags = atomic_exchange(&w->wake_flags, 0);
	if (flags & KA_WAKE_QUIT) {
		w->loop.stop = true;  /* ka_worker_main then writes out the log */
		return;
	}
	if (flags & KA_WAKE_RELOAD)
		worker_reload(w);
	if ((flags & (KA_WAKE_STOP | KA_WAKE_HANDOVER)) && !w->draining)
		worker_drain(w, !(flags & KA_WAKE_STOP));
	else if ((flags & KA_WAKE_STOP) && w->handing_over)
		worker_drain(w, false);  /* SIGTERM after an upgrade: idle ones close now */
	/* Room again: a connection closed somewhere, or one of ours went idle or began
	 * lingering and can be evicted for the client waiting in our backlog. */
	if ((flags & KA_WAKE_RESUME) && atomic_load(&w->paused) && !w->draining &&
	    (atomic_load(&srv->nconns) < w->cfg->max_connections || can_make_room(w))) {
		/* Our own request for an eviction elsewhere is void: we can make room now. */
		if (w->asked)
			take_one(w->asked);
		w->asked = NULL;
		listeners_enable(w, true);
	}
	if (flags & KA_WAKE_EVICT) {
		/* Asked by a worker at the limit: ours was the connection to evict first. If
		 * it has gone busy since, any worker that can make room will. */
		for (uint_fast64_t n = atomic_exchange(&w->evict_asked, 0); n > 0; n--)
			if (!ka_conn_evict_one(w))
				ask_eviction(w, NULL);
		while (can_make_room(w) && take_one(&srv->evict_wanted))
			ka_conn_evict_one(w);
	}
}

void ka_server_conn_evictable(struct ka_worker *w)
{
	if (atomic_load(&w->paused) || atomic_load(&w->srv->evict_wanted) > 0)
		ka_worker_wake(w, KA_WAKE_EVICT | KA_WAKE_RESUME);
}

int ka_worker_init(struct ka_worker *w, struct ka_server *srv, unsigned index)
{
	const struct ka_config *cfg = atomic_load(&srv->live) ? atomic_load(&srv->live) : &srv->cfg;
	bool admin;
	int err;

	memset(w, 0, sizeof(*w));
	w->srv = srv;
	w->cfg = cfg;
	w->routes[KA_ROLE_PUBLIC] = atomic_load(&srv->live_routes);
	w->routes[KA_ROLE_ADMIN] = &srv->routes[KA_ROLE_ADMIN];
	w->index = index;
	w->conns.prev = w->conns.next = &w->conns;
	w->closed.prev = w->closed.next = &w->closed;
	pthread_mutex_init(&w->conns_lock, NULL);
	if ((err = ka_loop_init(&w->loop)))
		return err;
	w->loop.after = after_pass;
	w->loop.after_data = w;
	atomic_init(&w->evict_key, INT64_MAX);
	ka_fifo_init(&w->handshake_q, cfg->tls_handshake_timeout, ka_conn_handshake_timeout, w);
	ka_fifo_init(&w->header_q, cfg->header_timeout, ka_conn_header_timeout, w);
	ka_fifo_init(&w->idle_q, cfg->keepalive_timeout, ka_conn_idle_timeout, w);
	ka_fifo_init(&w->io_q, cfg->io_timeout, ka_conn_io_timeout, w);
	ka_fifo_init(&w->linger_q, KA_POLICY_LINGER_MS, ka_conn_linger_timeout, w);
	ka_fifo_init(&w->drain_q, cfg->shutdown_timeout, drain_expired, w);
	ka_loop_add_fifo(&w->loop, &w->handshake_q);
	ka_loop_add_fifo(&w->loop, &w->header_q);
	ka_loop_add_fifo(&w->loop, &w->idle_q);
	ka_loop_add_fifo(&w->loop, &w->io_q);
	ka_loop_add_fifo(&w->loop, &w->linger_q);
	ka_loop_add_fifo(&w->loop, &w->drain_q);
	ka_file_cache_init(&w->files);
	ka_buf_pool_init(&w->bufs, srv->buf_size, POOL_KEEP);
	ka_pool_init(&w->exchanges, sizeof(struct ka_exchange), POOL_KEEP);

	w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->wake.on_event = on_wake;
	if (w->wake.fd < 0)
		return -errno;
	if ((err = ka_loop_add(&w->loop, &w->wake, KA_EV_IN)))
		return err;
	/* The admin worker, after the request workers, owns the --admin socket alone. */
	admin = index == srv->n_workers;
	for (unsigned i = 0; i < (admin ? 1 : srv->n_public); i++) {
		struct ka_listener *l = &w->listeners[i];

		l->w = w;
		l->role = admin ? KA_ROLE_ADMIN : KA_ROLE_PUBLIC;
		l->tls = !admin && srv->public_tls[i];
		l->io.fd = admin ? srv->admin_fd : srv->listen_fds[index][i];
		l->io.on_event = on_accept;
		w->n_listeners++;
		if (l->io.fd >= 0 && (err = ka_loop_add(&w->loop, &l->io, KA_EV_IN)))
			return err;
	}
	w->listening = true;
	return ka_access_log_worker_init(w, !admin);
}

void *ka_worker_main(void *arg)
{
	struct ka_worker *w = arg;

	ka_loop_run(&w->loop);
	ka_access_log_flush(w);
	return NULL;
}

void ka_worker_wake(struct ka_worker *w, unsigned flags)
{
	uint64_t one = 1;

	atomic_fetch_or(&w->wake_flags, flags);
	if (write(w->wake.fd, &one, sizeof(one)) < 0)
		perror("kahttpd: eventfd");
}

void ka_worker_close_conns(struct ka_worker *w)
{
	while (w->conns.next != &w->conns)
		ka_conn_close(ka_container_of(w->conns.next, struct ka_conn, link),
		              KA_CLOSE_SHUTDOWN);
	ka_conn_free_closed(w);
}

void ka_worker_destroy(struct ka_worker *w)
{
	ka_worker_close_conns(w);
	for (unsigned i = 0; i < w->n_listeners; i++)
		if (w->listeners[i].io.fd >= 0)
			close(w->listeners[i].io.fd);
	if (w->wake.fd >= 0)
		close(w->wake.fd);
	ka_access_log_flush(w);  /* the lines of requests cut short just above */
	free(w->log_buf);
	ka_file_cache_clear(&w->files);
	ka_pool_destroy(&w->bufs);
	ka_pool_destroy(&w->exchanges);
	ka_loop_close(&w->loop);
	pthread_mutex_destroy(&w->conns_lock);
}
