/*
 * Timers for a single-threaded event loop. Two kinds, because connections and
 * handlers need different things:
 *   - ka_fifo: every entry shares one timeout (all idle connections wait the same
 *     keepalive-timeout), so appending keeps the list sorted by deadline: arm, re-arm
 *     and cancel are O(1) list moves and expiry pops from the head. The node lives in
 *     the connection, so arming never allocates.
 *   - ka_heap: arbitrary deadlines (a handler that wakes after N ms), a binary
 *     min-heap of pointers to nodes embedded in their owners, O(log n).
 * Times are milliseconds of CLOCK_MONOTONIC, cached by the loop once per iteration.
 */
#ifndef KA_TIMER_H
#define KA_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- FIFO timers -------------------------------------------------------------------- */

struct ka_fifo;

struct ka_fifo_node {
	struct ka_fifo_node *prev, *next;  /* both NULL when not armed */
	int64_t deadline;
};

typedef void ka_fifo_cb(struct ka_fifo_node *node, void *data);

struct ka_fifo {
	struct ka_fifo_node head;  /* sentinel of a circular list */
	int64_t timeout;           /* ms, shared by every entry */
	ka_fifo_cb *expire;        /* called for each node whose deadline has passed */
	void *data;                /* passed to expire */
};

void ka_fifo_init(struct ka_fifo *q, int64_t timeout, ka_fifo_cb *expire, void *data);

/* Arms (or re-arms) node with deadline now + q->timeout, at the tail. */
void ka_fifo_push(struct ka_fifo *q, struct ka_fifo_node *node, int64_t now);

/* Arms node with an explicit deadline; callers keep deadlines non-decreasing per
 * list (a later push never has an earlier deadline) or expiry is delayed. */
void ka_fifo_push_at(struct ka_fifo *q, struct ka_fifo_node *node, int64_t deadline);

/* Changes the shared timeout (a configuration reload): later pushes get the new one.
 * When it shrinks, armed deadlines later than now + timeout are brought forward to it,
 * which keeps the list sorted (a later push never has an earlier deadline). */
void ka_fifo_set_timeout(struct ka_fifo *q, int64_t timeout, int64_t now);

/* Disarms node if armed; safe to call on a node that is not. */
void ka_fifo_remove(struct ka_fifo_node *node);

static inline bool ka_fifo_node_armed(const struct ka_fifo_node *node)
{
	return node->next != NULL;
}

static inline bool ka_fifo_empty(const struct ka_fifo *q)
{
	return q->head.next == &q->head;
}

/* Earliest deadline, or INT64_MAX when empty. */
static inline int64_t ka_fifo_next(const struct ka_fifo *q)
{
	return ka_fifo_empty(q) ? INT64_MAX : q->head.next->deadline;
}

/* Disarms and calls expire for every node with deadline <= now; returns how many.
 * The callback may arm other nodes, including on this list. */
size_t ka_fifo_expire(struct ka_fifo *q, int64_t now);

/* ---- heap timers -------------------------------------------------------------------- */

struct ka_timer;
typedef void ka_timer_cb(struct ka_timer *t);

struct ka_timer {
	int64_t deadline;
	uint32_t index;  /* position in the heap + 1; 0 when not armed */
	ka_timer_cb *cb;
};

struct ka_heap {
	struct ka_timer **items;
	uint32_t len, cap;
};

void ka_heap_init(struct ka_heap *h);
void ka_heap_free(struct ka_heap *h);

/* Arms t (re-arms if already armed) for deadline; returns 0 or -ENOMEM. */
int ka_heap_add(struct ka_heap *h, struct ka_timer *t, int64_t deadline);
void ka_heap_remove(struct ka_heap *h, struct ka_timer *t);

static inline bool ka_timer_armed(const struct ka_timer *t)
{
	return t->index != 0;
}

static inline int64_t ka_heap_next(const struct ka_heap *h)
{
	return h->len ? h->items[0]->deadline : INT64_MAX;
}

/* Disarms and runs every timer with deadline <= now; returns how many ran. */
size_t ka_heap_expire(struct ka_heap *h, int64_t now);

#endif
