/*
 * Backend connections and their pool (upstream.h).
 */
#include "server/upstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/sockopt.h"
#include "core/util.h"
#include "server/server.h"
#include "server/trace.h"

/* Until a backend's timeout is told or learned. */
#define AUTO_IDLE_MS 4000
/* A request that cannot be retried, while nothing is known: this young at most. */
#define UNKNOWN_SAFE_MS 500
/* A learned timeout is never taken below this: a backend restarting closes every
 * connection at once, and that says nothing about its idle timer. */
#define LEARN_MIN_MS 100
/* Idle connections beyond --upstream-keepalive: kept this long at most, and at most
 * OVERFLOW times as many in all. */
#define SURPLUS_IDLE_MS 1000
#define OVERFLOW 4

static const char *const failure_names[KA_UP_FAILURES] = {
	"refused", "reset", "closed", "invalid", "connect_timeout", "timeout",
};

const char *ka_up_failure_name(enum ka_up_failure f)
{
	return failure_names[f];
}

/* ---- the rules ----------------------------------------------------------------------- */

static int64_t known_timeout(int64_t told_ms, int64_t learned_ms)
{
	return told_ms >= 0 ? told_ms : learned_ms;
}

int64_t ka_upstream_idle_limit(int64_t told_ms, int64_t learned_ms, int64_t configured)
{
	int64_t t = known_timeout(told_ms, learned_ms);
	int64_t limit;

	if (t < 0)
		return configured == KA_UPSTREAM_IDLE_AUTO ? AUTO_IDLE_MS : configured;
	limit = KA_MAX(t - 1000, t / 2);
	return configured == KA_UPSTREAM_IDLE_AUTO ? limit : KA_MIN(limit, configured);
}

bool ka_upstream_may_reuse(int64_t age_ms, bool retryable, int64_t told_ms,
                           int64_t learned_ms, int64_t configured)
{
	int64_t t = known_timeout(told_ms, learned_ms);

	if (age_ms >= ka_upstream_idle_limit(told_ms, learned_ms, configured))
		return false;
	return retryable || age_ms < (t >= 0 ? t / 2 : UNKNOWN_SAFE_MS);
}

/* ---- the pool ------------------------------------------------------------------------ */

void ka_upstream_init(struct ka_upstream *up, const struct ka_backend *be, struct ka_worker *w)
{
	up->be = be;
	up->w = w;
	up->told_ms = up->learned_ms = -1;
}

static int64_t idle_limit(const struct ka_upstream *up)
{
	return ka_upstream_idle_limit(up->told_ms, up->learned_ms,
	                              up->w->cfg->upstream_idle_timeout);
}

static void unlink_idle(struct ka_upconn *u)
{
	struct ka_upstream *up = u->up;

	if (u->prev)
		u->prev->next = u->next;
	else
		up->idle_head = u->next;
	if (u->next)
		u->next->prev = u->prev;
	else
		up->idle_tail = u->prev;
	u->prev = u->next = NULL;
	u->idle = false;
	up->n_idle--;
	ka_stat_add(&up->stats.idle, -1);
}

void ka_upstream_timer(struct ka_upconn *u, int64_t at)
{
	(void)ka_loop_timer_add(&u->up->w->loop, &u->timer, at);
}

void ka_upstream_timer_stop(struct ka_upconn *u)
{
	ka_loop_timer_remove(&u->up->w->loop, &u->timer);
}

/* Closes u. A retirement (why "retire_told", "retire_learned", "retire_max") is traced
 * as upstream_retire; any other close as upstream_close, saying who closed first. */
void ka_upstream_close(struct ka_upconn *u, const char *why)
{
	struct ka_upstream *up = u->up;
	bool by_backend = strcmp(why, "closed_by_backend") == 0 ||
	                  strcmp(why, "reset_by_backend") == 0 ||
	                  strcmp(why, "backend_closes") == 0;

	if (strncmp(why, "retire_", 7) == 0)
		ka_trace_pool(up->w, "upstream_retire", "backend=%s up_conn=%llu reason=%s "
		              "requests=%u idle_ms=%lld", up->be->text, (unsigned long long)u->id,
		              why + 7, u->requests, (long long)(up->w->loop.now - u->idle_since));
	else
		ka_trace_pool(up->w, "upstream_close", "backend=%s up_conn=%llu closed_by=%s "
		              "reason=%s requests=%u", up->be->text, (unsigned long long)u->id,
		              by_backend ? "backend" : "proxy", why, u->requests);
	if (u->idle)
		unlink_idle(u);
	ka_upstream_timer_stop(u);
	/* As for client connections (conn.c): while an upgrade's child holds copies of
	 * our descriptors, close() alone would leave the socket in epoll. */
	if (atomic_load_explicit(&up->w->srv->fds_shared, memory_order_relaxed))
		ka_loop_del(&up->w->loop, &u->io);
	close(u->io.fd);
	u->io.fd = -1;
	ka_stat_add(&up->stats.open, -1);
	u->grave.block = u;
	u->grave.next = up->w->graves;
	up->w->graves = &u->grave;
}

/* One look at a pooled connection, without reading: 1 when bytes wait, 0 when the
 * backend closed, -1 with errno (EAGAIN: still open, nothing sent). */
static ssize_t peek(struct ka_upconn *u)
{
	char byte;

	return recv(u->io.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
}

/* The backend closed (or reset, or wrote to) a connection idle in the pool. A close
 * after age ms of idleness teaches its timeout: the shortest such age. */
static void idle_event(struct ka_upconn *u)
{
	struct ka_upstream *up = u->up;
	int64_t age = up->w->loop.now - u->idle_since;
	ssize_t n = peek(u);

	if (n < 0 && errno == EAGAIN)
		return;  /* nothing after all */
	if (n <= 0 && age >= LEARN_MIN_MS && (up->learned_ms < 0 || age < up->learned_ms)) {
		up->learned_ms = age;
		ka_trace_pool(up->w, "upstream_learn", "backend=%s idle_timeout_ms=%lld",
		              up->be->text, (long long)age);
	}
	ka_stat_add(&up->stats.closed_idle, 1);
	ka_upstream_close(u, n > 0 ? "stray_bytes" : n == 0 ? "closed_by_backend"
	                                                   : "reset_by_backend");
}

static void on_io(struct ka_io *io, uint32_t events)
{
	struct ka_upconn *u = (struct ka_upconn *)io;

	if (io->fd < 0)
		return;  /* closed earlier in this pass */
	if (u->idle)
		idle_event(u);
	else
		u->on_event(u, events);
}

static void on_timer(struct ka_timer *t)
{
	struct ka_upconn *u = ka_container_of(t, struct ka_upconn, timer);

	if (!u->idle) {
		u->on_timer(u);
		return;
	}
	if (u->surplus) {  /* a surplus connection's moment is over */
		ka_upstream_close(u, "pool_surplus");
		return;
	}
	/* Idle past what the backend allows, less the margin: retired before it closes. */
	ka_stat_add(u->up->told_ms >= 0 ? &u->up->stats.retired_told : &u->up->stats.retired_learned,
	            1);
	ka_upstream_close(u, u->up->told_ms >= 0 ? "retire_told" : "retire_learned");
}

/* Whether a pooled connection is still open, as far as one look can tell. */
static bool still_open(struct ka_upconn *u)
{
	return peek(u) < 0 && errno == EAGAIN;
}

struct ka_upconn *ka_upstream_take(struct ka_upstream *up, bool retryable)
{
	struct ka_worker *w = up->w;

	while (up->idle_head) {
		struct ka_upconn *u = up->idle_head;
		int64_t age = w->loop.now - u->idle_since;

		/* The most recent is the youngest: if it is too old, all are. */
		if (!ka_upstream_may_reuse(age, retryable, up->told_ms, up->learned_ms,
		                           w->cfg->upstream_idle_timeout))
			return NULL;
		/* One look for a close whose event has not been reported yet (a FIN that
		 * came with the last response was seen: such a connection is not pooled). */
		if (!still_open(u)) {
			idle_event(u);
			continue;
		}
		unlink_idle(u);
		ka_upstream_timer_stop(u);
		u->requests++;
		ka_stat_add(&up->stats.reuses, 1);
		return u;
	}
	return NULL;
}

struct ka_upconn *ka_upstream_connect(struct ka_upstream *up)
{
	static atomic_uint_fast64_t next_id;
	const struct ka_config *cfg = up->w->cfg;
	const struct ka_tcp_keepalive *k = &cfg->tcp_keepalive;
	struct ka_upconn *u = calloc(1, sizeof(*u));
	int fd = socket(up->be->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int err;

	if (!u || fd < 0)
		goto fail;
	(void)ka_sock_set_nodelay(fd);
	if (k->idle)
		(void)ka_sock_set_tcp_keepalive(fd, k->idle, k->intvl, k->cnt);
	if (connect(fd, (const struct sockaddr *)&up->be->addr, up->be->addr_len) < 0 &&
	    errno != EINPROGRESS)
		goto fail;
	u->io.fd = fd;
	u->io.on_event = on_io;
	u->up = up;
	u->timer.cb = on_timer;
	u->max_left = -1;
	u->requests = 1;
	u->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed) + 1;
	if (ka_loop_add(&up->w->loop, &u->io,
	                KA_EV_IN | KA_EV_OUT | KA_EV_RDHUP | KA_EV_EDGE) < 0)
		goto fail;
	ka_stat_add(&up->stats.connects, 1);
	ka_stat_add(&up->stats.open, 1);
	return u;
fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	free(u);
	errno = err;
	return NULL;
}

void ka_upstream_told(struct ka_upconn *u, int64_t timeout_s, int64_t max)
{
	if (timeout_s >= 0)
		u->up->told_ms = timeout_s * 1000;
	if (max >= 0)
		u->max_left = max;
	else if (u->max_left > 0)
		u->max_left--;
}

void ka_upstream_put(struct ka_upconn *u)
{
	struct ka_upstream *up = u->up;
	struct ka_worker *w = up->w;
	int64_t limit;
	bool surplus;

	if (u->max_left == 0) {
		ka_stat_add(&up->stats.retired_max, 1);
		ka_upstream_close(u, "retire_max");
		return;
	}
	if (w->cfg->upstream_keepalive == 0 || w->draining) {
		ka_upstream_close(u, "no_reuse");
		return;
	}
	/* Past --upstream-keepalive, a connection is still kept, but only for a moment:
	 * a burst of responses would otherwise close connections the next burst of
	 * requests opens again. Past OVERFLOW times that, the coldest makes room. */
	if (up->n_idle >= OVERFLOW * w->cfg->upstream_keepalive)
		ka_upstream_close(up->idle_tail, "pool_full");
	surplus = up->n_idle >= w->cfg->upstream_keepalive;
	u->owner = NULL;
	u->idle = true;
	u->idle_since = w->loop.now;
	u->prev = NULL;
	u->next = up->idle_head;
	if (up->idle_head)
		up->idle_head->prev = u;
	else
		up->idle_tail = u;
	up->idle_head = u;
	up->n_idle++;
	ka_stat_add(&up->stats.idle, 1);
	limit = idle_limit(up);
	if (surplus)
		limit = KA_MIN(limit, SURPLUS_IDLE_MS);
	u->surplus = surplus;
	if (ka_loop_timer_add(&w->loop, &u->timer, w->loop.now + limit) < 0)
		ka_upstream_close(u, "out_of_memory");
}
