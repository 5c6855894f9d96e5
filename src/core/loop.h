/*
 * The event loop: one per thread, no globals. It waits for readiness on registered
 * descriptors, caches the clock once per iteration, and runs timers (FIFO lists and a
 * heap, see timer.h). The readiness backend is epoll; its three calls sit together at
 * the bottom of loop.c so another backend could take their place.
 */
#ifndef KA_LOOP_H
#define KA_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "core/timer.h"

/* Readiness bits: the epoll values themselves, so no translation on the hot path. */
enum {
	KA_EV_IN = EPOLLIN,
	KA_EV_OUT = EPOLLOUT,
	KA_EV_RDHUP = EPOLLRDHUP,  /* peer shut down its write side (FIN) */
	KA_EV_ERR = EPOLLERR,
	KA_EV_HUP = EPOLLHUP,
	KA_EV_EDGE = EPOLLET,      /* edge-triggered: registered once, never re-armed */
};

struct ka_io;
typedef void ka_io_cb(struct ka_io *io, uint32_t events);

/* Embedded first in anything the loop watches. */
struct ka_io {
	int fd;
	ka_io_cb *on_event;
};

#define KA_LOOP_MAX_FIFOS 8
#define KA_LOOP_BATCH 256

struct ka_loop {
	int backend_fd;
	int64_t now;        /* CLOCK_MONOTONIC, ms, cached once per iteration */
	int64_t now_us;     /* the same instant in µs, for durations */
	int64_t wall;       /* CLOCK_REALTIME seconds, for Date headers and logs */
	bool stop;          /* ka_loop_run returns once this is set */
	struct ka_heap heap;
	struct ka_fifo *fifos[KA_LOOP_MAX_FIFOS];
	unsigned nfifos;
	/* Called at the end of every iteration, when no event of the batch is left to
	 * dispatch: the safe moment to free what callbacks closed (an event later in the
	 * same batch may still point at it). */
	void (*after)(void *data);
	void *after_data;
	struct epoll_event events[KA_LOOP_BATCH];
};

/* Returns 0 or -errno. */
int ka_loop_init(struct ka_loop *loop);
void ka_loop_close(struct ka_loop *loop);

int ka_loop_add(struct ka_loop *loop, struct ka_io *io, uint32_t events);
int ka_loop_mod(struct ka_loop *loop, struct ka_io *io, uint32_t events);
int ka_loop_del(struct ka_loop *loop, struct ka_io *io);

/* The loop expires this FIFO's timers; at most KA_LOOP_MAX_FIFOS. */
void ka_loop_add_fifo(struct ka_loop *loop, struct ka_fifo *fifo);

static inline int ka_loop_timer_add(struct ka_loop *loop, struct ka_timer *t, int64_t deadline)
{
	return ka_heap_add(&loop->heap, t, deadline);
}

static inline void ka_loop_timer_remove(struct ka_loop *loop, struct ka_timer *t)
{
	ka_heap_remove(&loop->heap, t);
}

/* Re-reads the clocks into loop->now, now_us and wall. */
void ka_loop_update_time(struct ka_loop *loop);

/* Waits at most max_wait ms (-1: until the next timer), dispatches ready descriptors,
 * then expired timers. Returns the number of events dispatched or -errno. */
int ka_loop_run_once(struct ka_loop *loop, int64_t max_wait);

/* Runs iterations until loop->stop is set. */
void ka_loop_run(struct ka_loop *loop);

#endif
