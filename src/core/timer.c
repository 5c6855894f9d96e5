/*
 * FIFO and heap timers (see timer.h for why there are two). The FIFO is a circular
 * doubly linked list with a sentinel, so push, remove and pop need no branches on
 * "is this the first element"; the heap stores 1-based indices in the timers so that
 * "armed" is simply index != 0.
 */
#include "core/timer.h"

#include <errno.h>
#include <stdlib.h>

/* ---- FIFO ---------------------------------------------------------------------------- */

void ka_fifo_init(struct ka_fifo *q, int64_t timeout, ka_fifo_cb *expire, void *data)
{
	q->head.prev = q->head.next = &q->head;
	q->head.deadline = INT64_MAX;
	q->timeout = timeout;
	q->expire = expire;
	q->data = data;
}

void ka_fifo_remove(struct ka_fifo_node *node)
{
	if (!node->next)
		return;
	node->prev->next = node->next;
	node->next->prev = node->prev;
	node->prev = node->next = NULL;
}

void ka_fifo_push_at(struct ka_fifo *q, struct ka_fifo_node *node, int64_t deadline)
{
	ka_fifo_remove(node);
	node->deadline = deadline;
	node->prev = q->head.prev;
	node->next = &q->head;
	q->head.prev->next = node;
	q->head.prev = node;
}

void ka_fifo_push(struct ka_fifo *q, struct ka_fifo_node *node, int64_t now)
{
	ka_fifo_push_at(q, node, now + q->timeout);
}

void ka_fifo_set_timeout(struct ka_fifo *q, int64_t timeout, int64_t now)
{
	/* min(d, limit) is non-decreasing wherever d is, so the order holds. */
	for (struct ka_fifo_node *n = q->head.next; timeout < q->timeout && n != &q->head;
	     n = n->next)
		if (n->deadline > now + timeout)
			n->deadline = now + timeout;
	q->timeout = timeout;
}

size_t ka_fifo_expire(struct ka_fifo *q, int64_t now)
{
	size_t n = 0;

	while (!ka_fifo_empty(q) && q->head.next->deadline <= now) {
		struct ka_fifo_node *node = q->head.next;

		ka_fifo_remove(node);
		q->expire(node, q->data);
		n++;
	}
	return n;
}

/* ---- heap ---------------------------------------------------------------------------- */

void ka_heap_init(struct ka_heap *h)
{
	h->items = NULL;
	h->len = h->cap = 0;
}

void ka_heap_free(struct ka_heap *h)
{
	free(h->items);
	ka_heap_init(h);
}

static void heap_set(struct ka_heap *h, uint32_t i, struct ka_timer *t)
{
	h->items[i] = t;
	t->index = i + 1;
}

static void heap_up(struct ka_heap *h, uint32_t i)
{
	struct ka_timer *t = h->items[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (h->items[parent]->deadline <= t->deadline)
			break;
		heap_set(h, i, h->items[parent]);
		i = parent;
	}
	heap_set(h, i, t);
}

static void heap_down(struct ka_heap *h, uint32_t i)
{
	struct ka_timer *t = h->items[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= h->len)
			break;
		if (child + 1 < h->len && h->items[child + 1]->deadline < h->items[child]->deadline)
			child++;
		if (t->deadline <= h->items[child]->deadline)
			break;
		heap_set(h, i, h->items[child]);
		i = child;
	}
	heap_set(h, i, t);
}

void ka_heap_remove(struct ka_heap *h, struct ka_timer *t)
{
	uint32_t i;
	struct ka_timer *last;

	if (!t->index)
		return;
	i = t->index - 1;
	t->index = 0;
	last = h->items[--h->len];
	if (last == t)
		return;
	heap_set(h, i, last);
	heap_up(h, i);
	heap_down(h, last->index - 1);
}

int ka_heap_add(struct ka_heap *h, struct ka_timer *t, int64_t deadline)
{
	ka_heap_remove(h, t);
	if (h->len == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : 64;
		struct ka_timer **items = realloc(h->items, cap * sizeof(*items));

		if (!items)
			return -ENOMEM;
		h->items = items;
		h->cap = cap;
	}
	t->deadline = deadline;
	heap_set(h, h->len++, t);
	heap_up(h, h->len - 1);
	return 0;
}

size_t ka_heap_expire(struct ka_heap *h, int64_t now)
{
	size_t n = 0;

	while (h->len && h->items[0]->deadline <= now) {
		struct ka_timer *t = h->items[0];

		ka_heap_remove(h, t);
		t->cb(t);
		n++;
	}
	return n;
}
