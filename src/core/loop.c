/*
 * Event loop (see loop.h). Each iteration: compute how long the nearest timer allows
 * us to sleep, wait for readiness, refresh the cached clock, dispatch every ready
 * descriptor, then run the timers that are due. Timers run after I/O on purpose: a
 * request that arrived in the same iteration as its connection's idle deadline is
 * seen by the connection before the idle timer can close it.
 */
#include "core/loop.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

static int backend_init(struct ka_loop *loop);
static int backend_ctl(struct ka_loop *loop, int op, struct ka_io *io, uint32_t events);
static int backend_wait(struct ka_loop *loop, int timeout_ms);

int ka_loop_init(struct ka_loop *loop)
{
	int err = backend_init(loop);

	if (err)
		return err;
	loop->stop = false;
	loop->nfifos = 0;
	loop->after = NULL;
	loop->after_data = NULL;
	ka_heap_init(&loop->heap);
	ka_loop_update_time(loop);
	return 0;
}

void ka_loop_close(struct ka_loop *loop)
{
	if (loop->backend_fd >= 0)
		close(loop->backend_fd);
	loop->backend_fd = -1;
	ka_heap_free(&loop->heap);
}

int ka_loop_add(struct ka_loop *loop, struct ka_io *io, uint32_t events)
{
	return backend_ctl(loop, EPOLL_CTL_ADD, io, events);
}

int ka_loop_mod(struct ka_loop *loop, struct ka_io *io, uint32_t events)
{
	return backend_ctl(loop, EPOLL_CTL_MOD, io, events);
}

int ka_loop_del(struct ka_loop *loop, struct ka_io *io)
{
	return backend_ctl(loop, EPOLL_CTL_DEL, io, 0);
}

void ka_loop_add_fifo(struct ka_loop *loop, struct ka_fifo *fifo)
{
	if (loop->nfifos < KA_LOOP_MAX_FIFOS)
		loop->fifos[loop->nfifos++] = fifo;
}

void ka_loop_update_time(struct ka_loop *loop)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	loop->now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	loop->now = loop->now_us / 1000;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	loop->wall = ts.tv_sec;
}

static int64_t next_deadline(const struct ka_loop *loop)
{
	int64_t next = ka_heap_next(&loop->heap);

	for (unsigned i = 0; i < loop->nfifos; i++) {
		int64_t d = ka_fifo_next(loop->fifos[i]);

		if (d < next)
			next = d;
	}
	return next;
}

static void run_timers(struct ka_loop *loop)
{
	for (unsigned i = 0; i < loop->nfifos; i++)
		ka_fifo_expire(loop->fifos[i], loop->now);
	ka_heap_expire(&loop->heap, loop->now);
}

int ka_loop_run_once(struct ka_loop *loop, int64_t max_wait)
{
	int64_t next = next_deadline(loop);
	int64_t wait = -1;
	int n;

	if (next != INT64_MAX)
		wait = next > loop->now ? next - loop->now : 0;
	if (max_wait >= 0 && (wait < 0 || max_wait < wait))
		wait = max_wait;
	if (wait > 24 * 3600 * 1000)
		wait = 24 * 3600 * 1000;

	n = backend_wait(loop, (int)wait);
	ka_loop_update_time(loop);
	if (n < 0)
		return n == -EINTR ? 0 : n;
	for (int i = 0; i < n; i++) {
		struct ka_io *io = loop->events[i].data.ptr;

		io->on_event(io, loop->events[i].events);
	}
	run_timers(loop);
	if (loop->after)
		loop->after(loop->after_data);
	return n;
}

void ka_loop_run(struct ka_loop *loop)
{
	while (!loop->stop)
		ka_loop_run_once(loop, -1);
}

/* ---- epoll backend --------------------------------------------------------------------- */

static int backend_init(struct ka_loop *loop)
{
	loop->backend_fd = epoll_create1(EPOLL_CLOEXEC);
	return loop->backend_fd < 0 ? -errno : 0;
}

static int backend_ctl(struct ka_loop *loop, int op, struct ka_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	return epoll_ctl(loop->backend_fd, op, io->fd, &ev) < 0 ? -errno : 0;
}

/* epoll_wait's timeout has millisecond granularity and may return up to a tick early
 * relative to our truncated clock; the caller simply loops and finds the timer due. */
static int backend_wait(struct ka_loop *loop, int timeout_ms)
{
	int n = epoll_wait(loop->backend_fd, loop->events, KA_LOOP_BATCH, timeout_ms);

	return n < 0 ? -errno : n;
}
