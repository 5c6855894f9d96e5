/*
 * Unit tests for src/core/timer.c. The FIFO tests check the property the connection
 * timeouts rely on: a list whose entries share one timeout stays sorted when re-arming
 * moves a node to the tail, so expiry only ever looks at the head. The heap tests
 * compare expiry order against qsort over many pseudo-random deadlines (fixed seed),
 * and check the heap invariant and the 1-based index after every kind of removal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/timer.h"
#include "core/util.h"

/* ---- FIFO helpers ------------------------------------------------------------------------ */

#define MAX_RECORDED 64

/* An owner with an embedded node, as a connection has. */
struct item {
	int id;
	struct ka_fifo_node node;
};

/* What the expire callback saw, in order; rearm lets a test re-arm from inside it. */
struct fifo_log {
	int ids[MAX_RECORDED];
	size_t n;
	void (*rearm)(struct fifo_log *log, struct item *it);
	struct ka_fifo *q;      /* the list under test */
	struct ka_fifo *other;  /* a second list, for cross-list re-arming */
	int64_t now;
	int rearms_left;
};

static void record_expired(struct ka_fifo_node *node, void *data)
{
	struct fifo_log *log = data;
	struct item *it = ka_container_of(node, struct item, node);

	assert_false(ka_fifo_node_armed(node));  /* disarmed before the callback runs */
	assert_true(log->n < MAX_RECORDED);
	log->ids[log->n++] = it->id;
	if (log->rearm)
		log->rearm(log, it);
}

static void init_items(struct item *items, size_t n)
{
	memset(items, 0, n * sizeof(*items));
	for (size_t i = 0; i < n; i++)
		items[i].id = (int)i;
}

/* The ids in list order, walking the circular list from the sentinel; also checks
 * that prev links mirror next links. */
static size_t fifo_ids(const struct ka_fifo *q, int *ids, size_t max)
{
	size_t n = 0;
	const struct ka_fifo_node *prev = &q->head;

	for (const struct ka_fifo_node *node = q->head.next; node != &q->head; node = node->next) {
		assert_ptr_equal(node->prev, prev);
		assert_true(n < max);
		ids[n++] = ka_container_of(node, const struct item, node)->id;
		prev = node;
	}
	assert_ptr_equal(q->head.prev, prev);
	return n;
}

static void assert_fifo_order(const struct ka_fifo *q, const int *want, size_t want_n)
{
	int got[MAX_RECORDED];
	size_t n = fifo_ids(q, got, MAX_RECORDED);

	assert_int_equal(n, want_n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
}

/* ---- FIFO -------------------------------------------------------------------------------- */

static void test_fifo_init_is_empty_with_next_at_max(void **state)
{
	(void)state;
	struct ka_fifo q;
	struct fifo_log log = { 0 };

	ka_fifo_init(&q, 100, record_expired, &log);
	assert_true(ka_fifo_empty(&q));
	assert_int_equal(ka_fifo_next(&q), INT64_MAX);
	assert_int_equal(ka_fifo_expire(&q, INT64_MAX - 1), 0);
	assert_int_equal(log.n, 0);
}

static void test_fifo_push_arms_with_now_plus_timeout(void **state)
{
	(void)state;
	struct ka_fifo q;
	struct fifo_log log = { 0 };
	struct item it[1];

	init_items(it, 1);
	ka_fifo_init(&q, 250, record_expired, &log);
	assert_false(ka_fifo_node_armed(&it[0].node));
	ka_fifo_push(&q, &it[0].node, 1000);
	assert_true(ka_fifo_node_armed(&it[0].node));
	assert_false(ka_fifo_empty(&q));
	assert_int_equal(it[0].node.deadline, 1250);
	assert_int_equal(ka_fifo_next(&q), 1250);
}

static void test_fifo_push_moves_node_to_tail(void **state)
{
	(void)state;
	struct ka_fifo q;
	struct fifo_log log = { 0 };
	struct item it[3];

	init_items(it, 3);
	ka_fifo_init(&q, 10, record_expired, &log);
	ka_fifo_push(&q, &it[0].node, 100);
	ka_fifo_push(&q, &it[1].node, 101);
	ka_fifo_push(&q, &it[2].node, 102);
	assert_fifo_order(&q, (const int[]){ 0, 1, 2 }, 3);

	/* Re-arming the head moves it to the tail with a fresh deadline, not a second copy. */
	ka_fifo_push(&q, &it[0].node, 103);
	assert_fifo_order(&q, (const int[]){ 1, 2, 0 }, 3);
	assert_int_equal(it[0].node.deadline, 113);
	assert_int_equal(ka_fifo_next(&q), 111);

	/* Re-arming a middle node, and re-arming the node already at the tail. */
	ka_fifo_push(&q, &it[2].node, 104);
	assert_fifo_order(&q, (const int[]){ 1, 0, 2 }, 3);
	ka_fifo_push(&q, &it[2].node, 105);
	assert_fifo_order(&q, (const int[]){ 1, 0, 2 }, 3);
	assert_int_equal(it[2].node.deadline, 115);
}

static void test_fifo_push_at_uses_the_given_deadline(void **state)
{
	(void)state;
	struct ka_fifo q;
	struct fifo_log log = { 0 };
	struct item it[2];

	init_items(it, 2);
	ka_fifo_init(&q, 10, record_expired, &log);
	ka_fifo_push_at(&q, &it[0].node, 500);
	ka_fifo_push_at(&q, &it[1].node, 700);
	assert_int_equal(it[0].node.deadline, 500);
	assert_int_equal(ka_fifo_next(&q), 500);
	ka_fifo_push_at(&q, &it[0].node, 900);  /* re-arm: to the tail */
	assert_fifo_order(&q, (const int[]){ 1, 0 }, 2);
	assert_int_equal(ka_fifo_next(&q), 700);
}

static void test_fifo_remove_is_idempotent(void **state)
{
	(void)state;
	struct ka_fifo q;
	struct fifo_log log = { 0 };
	struct item it[3];

	init_items(it, 3);
	ka_fifo_init(&q, 10, record_expired, &log);

	ka_fifo_remove(&it[0].node);  /* never armed */
	assert_false(ka_fifo_node_armed(&it[0].node));
	assert_true(ka_fifo_empty(&q));

	for (size_t i = 0; i < 3; i++)
		ka_fifo_push(&q, &it[i].node, 0);
	ka_fifo_remove(&it[1].node);
	assert_false(ka_fifo_node_armed(&it[1].node));
	assert_null(it[1].node.prev);
	assert_null(it[1].node.next);
	ka_fifo_remove(&it[1].node);  /* again: the list must not change */
	assert_fifo_order(&q, (const int[]){ 0, 2 }, 2);

	ka_fifo_remove(&it[0].node);
	ka_fifo_remove(&it[2].node);
	ka_fifo_remove(&it[2].node);
	assert_true(ka_fifo_empty(&q));
	assert_int_equal(ka_fifo_next(&q), INT64_MAX);
	assert_int_equal(ka_fifo_expire(&q, 1000), 0);
	assert_int_equal(log.n, 0);
}

static void test_fifo_expire_pops_only_due_nodes_in_order(void **state)
{
	(void)state;
	struct ka_fifo q;
	struct fifo_log log = { 0 };
	struct item it[5];

	init_items(it, 5);
	ka_fifo_init(&q, 100, record_expired, &log);
	for (size_t i = 0; i < 5; i++)
		ka_fifo_push(&q, &it[i].node, (int64_t)i * 10);  /* deadlines 100..140 */

	assert_int_equal(ka_fifo_expire(&q, 99), 0);
	assert_int_equal(log.n, 0);

	/* deadline <= now is due: exactly 120 expires the third. */
	assert_int_equal(ka_fifo_expire(&q, 120), 3);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.ids[0], 0);
	assert_int_equal(log.ids[1], 1);
	assert_int_equal(log.ids[2], 2);
	for (size_t i = 0; i < 3; i++)
		assert_false(ka_fifo_node_armed(&it[i].node));
	assert_true(ka_fifo_node_armed(&it[3].node));
	assert_int_equal(ka_fifo_next(&q), 130);
	assert_fifo_order(&q, (const int[]){ 3, 4 }, 2);

	assert_int_equal(ka_fifo_expire(&q, 1000), 2);
	assert_int_equal(log.ids[3], 3);
	assert_int_equal(log.ids[4], 4);
	assert_true(ka_fifo_empty(&q));
}

static void test_fifo_expire_skips_removed_and_follows_rearmed_nodes(void **state)
{
	(void)state;
	struct ka_fifo q;
	struct fifo_log log = { 0 };
	struct item it[3];

	init_items(it, 3);
	ka_fifo_init(&q, 100, record_expired, &log);
	ka_fifo_push(&q, &it[0].node, 0);
	ka_fifo_push(&q, &it[1].node, 0);
	ka_fifo_push(&q, &it[2].node, 0);
	ka_fifo_remove(&it[1].node);
	ka_fifo_push(&q, &it[0].node, 50);  /* activity on 0: now due at 150 */

	assert_int_equal(ka_fifo_expire(&q, 100), 1);
	assert_int_equal(log.ids[0], 2);
	assert_int_equal(ka_fifo_expire(&q, 150), 1);
	assert_int_equal(log.ids[1], 0);
	assert_int_equal(log.n, 2);
}

static void rearm_same_list(struct fifo_log *log, struct item *it)
{
	if (log->rearms_left-- > 0)
		ka_fifo_push(log->q, &it->node, log->now);
}

static void test_fifo_expire_callback_may_rearm_on_the_same_list(void **state)
{
	(void)state;
	struct ka_fifo q;
	struct fifo_log log = { .rearm = rearm_same_list, .q = &q, .rearms_left = 1 };
	struct item it[3];

	init_items(it, 3);
	ka_fifo_init(&q, 100, record_expired, &log);
	ka_fifo_push(&q, &it[0].node, 0);
	ka_fifo_push(&q, &it[1].node, 10);
	ka_fifo_push(&q, &it[2].node, 50);

	/* Item 0 expires at 110 and re-arms itself for 210, behind item 2 (150): the list
	 * stays sorted, and the re-armed node is not expired again by this call. */
	log.now = 110;
	assert_int_equal(ka_fifo_expire(&q, 110), 2);
	assert_int_equal(log.ids[0], 0);
	assert_int_equal(log.ids[1], 1);
	assert_true(ka_fifo_node_armed(&it[0].node));
	assert_int_equal(it[0].node.deadline, 210);
	assert_fifo_order(&q, (const int[]){ 2, 0 }, 2);

	assert_int_equal(ka_fifo_expire(&q, 209), 1);
	assert_int_equal(log.ids[2], 2);
	assert_int_equal(ka_fifo_next(&q), 210);
	assert_int_equal(ka_fifo_expire(&q, 210), 1);
	assert_int_equal(log.ids[3], 0);
	assert_true(ka_fifo_empty(&q));
}

static void rearm_other_list(struct fifo_log *log, struct item *it)
{
	ka_fifo_push(log->other, &it->node, log->now);
}

static void test_fifo_expire_callback_may_move_node_to_another_list(void **state)
{
	(void)state;
	struct ka_fifo idle, io;
	struct fifo_log idle_log = { .rearm = rearm_other_list, .other = &io, .now = 100 };
	struct fifo_log io_log = { 0 };
	struct item it[2];

	init_items(it, 2);
	ka_fifo_init(&idle, 100, record_expired, &idle_log);
	ka_fifo_init(&io, 30, record_expired, &io_log);
	ka_fifo_push(&idle, &it[0].node, 0);
	ka_fifo_push(&idle, &it[1].node, 0);

	assert_int_equal(ka_fifo_expire(&idle, 100), 2);
	assert_true(ka_fifo_empty(&idle));
	assert_fifo_order(&io, (const int[]){ 0, 1 }, 2);
	assert_int_equal(ka_fifo_next(&io), 130);
	assert_int_equal(ka_fifo_expire(&io, 130), 2);
	assert_int_equal(io_log.ids[0], 0);
	assert_int_equal(io_log.ids[1], 1);
}

/* A callback that closes a connection may disarm a neighbour that was also due (two
 * connections of one client, say); the expiry loop must not touch it afterwards. */
static void remove_next_item(struct fifo_log *log, struct item *it)
{
	(void)log;
	ka_fifo_remove(&it[1].node);
}

static void test_fifo_expire_callback_may_remove_another_due_node(void **state)
{
	(void)state;
	struct ka_fifo q;
	struct fifo_log log = { .rearm = remove_next_item };
	struct item it[4];

	init_items(it, 4);
	ka_fifo_init(&q, 10, record_expired, &log);
	ka_fifo_push(&q, &it[0].node, 0);
	ka_fifo_push(&q, &it[1].node, 0);
	ka_fifo_push(&q, &it[2].node, 0);
	log.rearm = remove_next_item;

	/* Item 0's callback removes item 1; item 2's removes item 3, which is unarmed. */
	assert_int_equal(ka_fifo_expire(&q, 10), 2);
	assert_int_equal(log.ids[0], 0);
	assert_int_equal(log.ids[1], 2);
	assert_true(ka_fifo_empty(&q));
}

/* A reload shortens the timeout: deadlines beyond now + new are brought forward, the
 * earlier ones kept, and a push after it still lands after all of them. */
static void test_fifo_set_timeout_shorter_clamps_and_keeps_order(void **state)
{
	(void)state;
	struct ka_fifo q;
	struct fifo_log log = { 0 };
	struct item it[4];

	init_items(it, 4);
	ka_fifo_init(&q, 100, record_expired, &log);
	for (size_t i = 0; i < 3; i++)
		ka_fifo_push(&q, &it[i].node, (int64_t)i * 20);  /* deadlines 100, 120, 140 */
	ka_fifo_set_timeout(&q, 50, 60);  /* now 60: nothing later than 110 */
	assert_int_equal(q.timeout, 50);
	assert_int_equal(it[0].node.deadline, 100);
	assert_int_equal(it[1].node.deadline, 110);
	assert_int_equal(it[2].node.deadline, 110);
	ka_fifo_push(&q, &it[3].node, 61);
	assert_int_equal(it[3].node.deadline, 111);
	assert_int_equal(ka_fifo_expire(&q, 110), 3);
	assert_fifo_order(&q, (const int[]){ 3 }, 1);
}

static void test_fifo_set_timeout_longer_keeps_deadlines(void **state)
{
	(void)state;
	struct ka_fifo q;
	struct fifo_log log = { 0 };
	struct item it[2];

	init_items(it, 2);
	ka_fifo_init(&q, 100, record_expired, &log);
	ka_fifo_push(&q, &it[0].node, 0);
	ka_fifo_set_timeout(&q, 500, 10);
	assert_int_equal(it[0].node.deadline, 100);
	ka_fifo_push(&q, &it[1].node, 10);
	assert_int_equal(it[1].node.deadline, 510);
	assert_fifo_order(&q, (const int[]){ 0, 1 }, 2);
}

static void test_fifo_next_is_the_head_deadline(void **state)
{
	(void)state;
	struct ka_fifo q;
	struct fifo_log log = { 0 };
	struct item it[3];

	init_items(it, 3);
	ka_fifo_init(&q, 1000, record_expired, &log);
	ka_fifo_push(&q, &it[0].node, 1);
	ka_fifo_push(&q, &it[1].node, 2);
	ka_fifo_push(&q, &it[2].node, 3);
	assert_int_equal(ka_fifo_next(&q), 1001);
	ka_fifo_remove(&it[0].node);
	assert_int_equal(ka_fifo_next(&q), 1002);
	ka_fifo_push(&q, &it[1].node, 4);
	assert_int_equal(ka_fifo_next(&q), 1003);
	ka_fifo_remove(&it[2].node);
	ka_fifo_remove(&it[1].node);
	assert_int_equal(ka_fifo_next(&q), INT64_MAX);
}

/* ---- heap helpers ------------------------------------------------------------------------ */

struct heap_log {
	int64_t deadlines[4096];
	size_t n;
};

static struct heap_log hlog;

/* An owner with an embedded timer; rearm_to != 0 makes the callback re-arm once. */
struct job {
	struct ka_timer timer;
	struct ka_heap *heap;
	int64_t rearm_to;
	int fired;
};

static void record_timer(struct ka_timer *t)
{
	struct job *j = ka_container_of(t, struct job, timer);

	assert_false(ka_timer_armed(t));  /* disarmed before the callback runs */
	assert_true(hlog.n < sizeof(hlog.deadlines) / sizeof(hlog.deadlines[0]));
	hlog.deadlines[hlog.n++] = t->deadline;
	j->fired++;
	if (j->rearm_to) {
		int64_t to = j->rearm_to;

		j->rearm_to = 0;
		assert_int_equal(ka_heap_add(j->heap, t, to), 0);
	}
}

static void init_jobs(struct job *jobs, size_t n, struct ka_heap *h)
{
	memset(jobs, 0, n * sizeof(*jobs));
	for (size_t i = 0; i < n; i++) {
		jobs[i].timer.cb = record_timer;
		jobs[i].heap = h;
	}
	memset(&hlog, 0, sizeof(hlog));
}

/* Min-heap order, and every timer's index names its own slot (1-based). */
static void assert_heap_valid(const struct ka_heap *h)
{
	assert_true(h->len <= h->cap);
	for (uint32_t i = 0; i < h->len; i++) {
		assert_int_equal(h->items[i]->index, i + 1);
		if (i > 0)
			assert_true(h->items[(i - 1) / 2]->deadline <= h->items[i]->deadline);
	}
}

/* A fixed-seed generator so a failure reproduces. */
static uint64_t rng_state;

static uint32_t rng_next(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng_state >> 33);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* ---- heap -------------------------------------------------------------------------------- */

static void test_heap_empty_next_is_max_and_expires_nothing(void **state)
{
	(void)state;
	struct ka_heap h;

	ka_heap_init(&h);
	assert_int_equal(h.len, 0);
	assert_int_equal(ka_heap_next(&h), INT64_MAX);
	assert_int_equal(ka_heap_expire(&h, INT64_MAX), 0);
	ka_heap_free(&h);
}

static void test_timer_index_zero_means_unarmed(void **state)
{
	(void)state;
	struct ka_heap h;
	struct job j[2];

	ka_heap_init(&h);
	init_jobs(j, 2, &h);
	assert_int_equal(j[0].timer.index, 0);
	assert_false(ka_timer_armed(&j[0].timer));

	assert_int_equal(ka_heap_add(&h, &j[0].timer, 50), 0);
	assert_int_equal(ka_heap_add(&h, &j[1].timer, 10), 0);
	assert_true(ka_timer_armed(&j[0].timer));
	assert_int_equal(j[1].timer.index, 1);  /* earliest sits at slot 0, index 1 */
	assert_int_equal(j[0].timer.index, 2);
	assert_ptr_equal(h.items[0], &j[1].timer);

	ka_heap_remove(&h, &j[1].timer);
	assert_int_equal(j[1].timer.index, 0);
	assert_int_equal(j[0].timer.index, 1);

	assert_int_equal(ka_heap_expire(&h, 50), 1);
	assert_int_equal(j[0].timer.index, 0);
	assert_int_equal(h.len, 0);
	ka_heap_free(&h);
}

static void test_heap_add_remove_and_readd(void **state)
{
	(void)state;
	struct ka_heap h;
	struct job j[3];

	ka_heap_init(&h);
	init_jobs(j, 3, &h);
	assert_int_equal(ka_heap_add(&h, &j[0].timer, 30), 0);
	assert_int_equal(ka_heap_add(&h, &j[1].timer, 20), 0);
	assert_int_equal(ka_heap_add(&h, &j[2].timer, 10), 0);
	assert_int_equal(ka_heap_next(&h), 10);

	ka_heap_remove(&h, &j[2].timer);
	ka_heap_remove(&h, &j[2].timer);  /* removing an unarmed timer changes nothing */
	assert_int_equal(h.len, 2);
	assert_int_equal(ka_heap_next(&h), 20);
	assert_heap_valid(&h);

	assert_int_equal(ka_heap_add(&h, &j[2].timer, 25), 0);
	assert_int_equal(h.len, 3);
	assert_int_equal(j[2].timer.deadline, 25);
	assert_heap_valid(&h);

	assert_int_equal(ka_heap_expire(&h, 100), 3);
	assert_int_equal(hlog.n, 3);
	assert_int_equal(hlog.deadlines[0], 20);
	assert_int_equal(hlog.deadlines[1], 25);
	assert_int_equal(hlog.deadlines[2], 30);
	ka_heap_free(&h);
}

static void test_heap_add_of_armed_timer_rearms_without_duplicate(void **state)
{
	(void)state;
	struct ka_heap h;
	struct job j[3];

	ka_heap_init(&h);
	init_jobs(j, 3, &h);
	assert_int_equal(ka_heap_add(&h, &j[0].timer, 10), 0);
	assert_int_equal(ka_heap_add(&h, &j[1].timer, 20), 0);
	assert_int_equal(ka_heap_add(&h, &j[2].timer, 30), 0);

	assert_int_equal(ka_heap_add(&h, &j[0].timer, 40), 0);  /* later */
	assert_int_equal(h.len, 3);
	assert_int_equal(ka_heap_next(&h), 20);
	assert_heap_valid(&h);
	assert_int_equal(ka_heap_add(&h, &j[2].timer, 5), 0);   /* earlier */
	assert_int_equal(h.len, 3);
	assert_int_equal(ka_heap_next(&h), 5);
	assert_heap_valid(&h);

	assert_int_equal(ka_heap_expire(&h, 100), 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(j[i].fired, 1);
	ka_heap_free(&h);
}

static void test_heap_expire_runs_only_due_timers_in_deadline_order(void **state)
{
	(void)state;
	struct ka_heap h;
	struct job j[4];
	const int64_t deadlines[4] = { 40, 10, 30, 20 };

	ka_heap_init(&h);
	init_jobs(j, 4, &h);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(ka_heap_add(&h, &j[i].timer, deadlines[i]), 0);

	assert_int_equal(ka_heap_expire(&h, 9), 0);
	assert_int_equal(ka_heap_expire(&h, 20), 2);  /* deadline <= now is due */
	assert_int_equal(hlog.deadlines[0], 10);
	assert_int_equal(hlog.deadlines[1], 20);
	assert_true(ka_timer_armed(&j[0].timer));
	assert_true(ka_timer_armed(&j[2].timer));
	assert_false(ka_timer_armed(&j[1].timer));
	assert_int_equal(ka_heap_next(&h), 30);
	assert_heap_valid(&h);
	ka_heap_free(&h);
}

static void test_heap_expire_callback_may_rearm(void **state)
{
	(void)state;
	struct ka_heap h;
	struct job j[2];

	ka_heap_init(&h);
	init_jobs(j, 2, &h);
	j[0].rearm_to = 200;
	assert_int_equal(ka_heap_add(&h, &j[0].timer, 10), 0);
	assert_int_equal(ka_heap_add(&h, &j[1].timer, 100), 0);

	assert_int_equal(ka_heap_expire(&h, 150), 2);
	assert_int_equal(j[0].fired, 1);
	assert_true(ka_timer_armed(&j[0].timer));
	assert_int_equal(ka_heap_next(&h), 200);
	assert_heap_valid(&h);
	assert_int_equal(ka_heap_expire(&h, 200), 1);
	assert_int_equal(j[0].fired, 2);
	assert_int_equal(h.len, 0);
	ka_heap_free(&h);
}

static void test_heap_many_random_deadlines_expire_in_sorted_order(void **state)
{
	(void)state;
	enum { N = 3000 };
	static struct job jobs[N];
	static int64_t want[N];
	struct ka_heap h;

	rng_state = 42;
	ka_heap_init(&h);
	init_jobs(jobs, N, &h);
	for (size_t i = 0; i < N; i++) {
		int64_t d = rng_next() % 5000;  /* many duplicates, on purpose */

		want[i] = d;
		assert_int_equal(ka_heap_add(&h, &jobs[i].timer, d), 0);
	}
	assert_heap_valid(&h);
	qsort(want, N, sizeof(want[0]), cmp_i64);
	assert_int_equal(ka_heap_next(&h), want[0]);

	/* Expire in steps, so partial expiry leaves a valid heap each time. */
	size_t done = 0;
	for (int64_t now = 0; now < 5000; now += 97) {
		done += ka_heap_expire(&h, now);
		assert_int_equal(done, hlog.n);
		assert_heap_valid(&h);
		if (h.len)
			assert_true(ka_heap_next(&h) > now);
	}
	done += ka_heap_expire(&h, INT64_MAX);
	assert_int_equal(done, N);
	assert_int_equal(h.len, 0);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(hlog.deadlines[i], want[i]);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(jobs[i].fired, 1);
		assert_false(ka_timer_armed(&jobs[i].timer));
	}
	ka_heap_free(&h);
}

static void test_heap_remove_from_middle_keeps_heap_valid(void **state)
{
	(void)state;
	enum { N = 1000 };
	static struct job jobs[N];
	static int64_t want[N];
	static bool removed[N];
	struct ka_heap h;
	size_t nwant = 0;

	rng_state = 7;
	ka_heap_init(&h);
	init_jobs(jobs, N, &h);
	memset(removed, 0, sizeof(removed));
	for (size_t i = 0; i < N; i++)
		assert_int_equal(ka_heap_add(&h, &jobs[i].timer, rng_next() % 100000), 0);

	/* Remove half, chosen at random, mostly from the middle and the bottom of the tree
	 * where the moved last element may have to go up as well as down. */
	for (size_t k = 0; k < N / 2; k++) {
		size_t i = rng_next() % N;

		ka_heap_remove(&h, &jobs[i].timer);
		assert_false(ka_timer_armed(&jobs[i].timer));
		removed[i] = true;
		assert_heap_valid(&h);
	}
	/* Remove by heap position too: slot len/2 exercises the sift-up path directly. */
	while (h.len > N / 4) {
		struct ka_timer *t = h.items[h.len / 2];
		struct job *j = ka_container_of(t, struct job, timer);

		ka_heap_remove(&h, t);
		removed[j - jobs] = true;
		assert_heap_valid(&h);
	}
	for (size_t i = 0; i < N; i++)
		if (!removed[i])
			want[nwant++] = jobs[i].timer.deadline;
	assert_int_equal(nwant, h.len);
	qsort(want, nwant, sizeof(want[0]), cmp_i64);

	assert_int_equal(ka_heap_expire(&h, INT64_MAX), nwant);
	for (size_t i = 0; i < nwant; i++)
		assert_int_equal(hlog.deadlines[i], want[i]);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(jobs[i].fired, removed[i] ? 0 : 1);
	ka_heap_free(&h);
}

/* A removal whose replacement is smaller than the removed timer's parent must sift up:
 * built by hand so the case is certain rather than left to the random test. */
static void test_heap_remove_sifts_replacement_up(void **state)
{
	(void)state;
	struct ka_heap h;
	struct job j[7];
	/* Insert in order: heap is [0, 50, 1, 60, 70, 2, 3] as a tree:
	 *          0
	 *      50      1
	 *    60  70  2   3
	 * Removing 60 (slot 3) moves 3 (last) into slot 3, under 50: it must rise. */
	const int64_t d[7] = { 0, 50, 1, 60, 70, 2, 3 };

	ka_heap_init(&h);
	init_jobs(j, 7, &h);
	for (size_t i = 0; i < 7; i++)
		assert_int_equal(ka_heap_add(&h, &j[i].timer, d[i]), 0);
	assert_heap_valid(&h);
	assert_int_equal(j[3].timer.index, 4);
	ka_heap_remove(&h, &j[3].timer);
	assert_heap_valid(&h);
	assert_int_equal(ka_heap_expire(&h, 100), 6);
	const int64_t want[6] = { 0, 1, 2, 3, 50, 70 };
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(hlog.deadlines[i], want[i]);
	ka_heap_free(&h);
}

static void test_heap_free_resets_to_empty(void **state)
{
	(void)state;
	struct ka_heap h;
	struct job j[100];

	ka_heap_init(&h);
	init_jobs(j, 100, &h);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(ka_heap_add(&h, &j[i].timer, (int64_t)i), 0);
	assert_true(h.cap >= 100);
	ka_heap_free(&h);
	assert_null(h.items);
	assert_int_equal(h.len, 0);
	assert_int_equal(h.cap, 0);
	assert_int_equal(ka_heap_next(&h), INT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_init_is_empty_with_next_at_max),
		cmocka_unit_test(test_fifo_push_arms_with_now_plus_timeout),
		cmocka_unit_test(test_fifo_push_moves_node_to_tail),
		cmocka_unit_test(test_fifo_push_at_uses_the_given_deadline),
		cmocka_unit_test(test_fifo_remove_is_idempotent),
		cmocka_unit_test(test_fifo_expire_pops_only_due_nodes_in_order),
		cmocka_unit_test(test_fifo_expire_skips_removed_and_follows_rearmed_nodes),
		cmocka_unit_test(test_fifo_expire_callback_may_rearm_on_the_same_list),
		cmocka_unit_test(test_fifo_expire_callback_may_move_node_to_another_list),
		cmocka_unit_test(test_fifo_expire_callback_may_remove_another_due_node),
		cmocka_unit_test(test_fifo_set_timeout_shorter_clamps_and_keeps_order),
		cmocka_unit_test(test_fifo_set_timeout_longer_keeps_deadlines),
		cmocka_unit_test(test_fifo_next_is_the_head_deadline),
		cmocka_unit_test(test_heap_empty_next_is_max_and_expires_nothing),
		cmocka_unit_test(test_timer_index_zero_means_unarmed),
		cmocka_unit_test(test_heap_add_remove_and_readd),
		cmocka_unit_test(test_heap_add_of_armed_timer_rearms_without_duplicate),
		cmocka_unit_test(test_heap_expire_runs_only_due_timers_in_deadline_order),
		cmocka_unit_test(test_heap_expire_callback_may_rearm),
		cmocka_unit_test(test_heap_many_random_deadlines_expire_in_sorted_order),
		cmocka_unit_test(test_heap_remove_from_middle_keeps_heap_valid),
		cmocka_unit_test(test_heap_remove_sifts_replacement_up),
		cmocka_unit_test(test_heap_free_resets_to_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
