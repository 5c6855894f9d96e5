/*
 * Unit tests for src/core/loop.c with a real epoll instance and a socketpair. Readiness
 * is made before the loop waits (a write to the peer), so a test never depends on
 * another thread or on sleeping; timer tests let the loop itself do the waiting and
 * assert only what the loop promises: a timer runs once loop->now has reached its
 * deadline, never before. A SIGALRM watchdog turns a loop that never wakes into a
 * failed run rather than a hung one.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "core/util.h"

/* Everything a test needs: a loop and both ends of a socketpair, each wrapped in a
 * probe that records the events the loop delivered to it. */
struct probe {
	struct ka_io io;
	int calls;
	uint32_t bits;             /* of the last call */
	struct ka_io *seen;        /* the io pointer the loop passed */
	bool stop_after_event;     /* sets loop->stop from the callback */
	struct ka_loop *loop;
};

/* Each callback appends a tag here, so a test can check what ran in which order. */
static char order[32];
static size_t norder;

static void note(char tag)
{
	if (norder < sizeof(order) - 1)
		order[norder++] = tag;
}

struct fixture {
	struct ka_loop loop;
	struct probe a, b;  /* a watches sv[0], b watches sv[1] */
};

static void on_probe_event(struct ka_io *io, uint32_t events)
{
	struct probe *p = ka_container_of(io, struct probe, io);

	p->calls++;
	p->bits = events;
	p->seen = io;
	note('i');
	if (p->stop_after_event)
		p->loop->stop = true;
}

static int set_up(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int sv[2];

	if (!f || ka_loop_init(&f->loop) != 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	f->a = (struct probe){ .io = { sv[0], on_probe_event }, .loop = &f->loop };
	f->b = (struct probe){ .io = { sv[1], on_probe_event }, .loop = &f->loop };
	norder = 0;
	memset(order, 0, sizeof(order));
	*state = f;
	return 0;
}

static int tear_down(void **state)
{
	struct fixture *f = *state;

	close(f->a.io.fd);
	close(f->b.io.fd);
	ka_loop_close(&f->loop);
	free(f);
	return 0;
}

static void send_bytes(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void drain(int fd)
{
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Generous upper bound for "ready now": the call returns as soon as the fd is ready,
 * so this only matters when the test is about to fail. */
#define READY_WAIT_MS 1000

/* ---- clock ------------------------------------------------------------------------------- */

static void test_init_caches_a_consistent_clock(void **state)
{
	struct fixture *f = *state;

	assert_true(f->loop.now > 0);
	assert_int_equal(f->loop.now, f->loop.now_us / 1000);
	assert_true(f->loop.wall > 1600000000);  /* a realistic Unix time */
	assert_false(f->loop.stop);

	int64_t before = f->loop.now_us;
	ka_loop_update_time(&f->loop);
	assert_true(f->loop.now_us >= before);  /* monotonic */
	assert_int_equal(f->loop.now, f->loop.now_us / 1000);
}

/* ---- descriptors ------------------------------------------------------------------------- */

static void test_event_is_dispatched_with_the_registered_io_and_bits(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN), 0);
	send_bytes(f->b.io.fd, "x");
	assert_int_equal(ka_loop_run_once(&f->loop, READY_WAIT_MS), 1);
	assert_int_equal(f->a.calls, 1);
	assert_ptr_equal(f->a.seen, &f->a.io);
	assert_true(f->a.bits & KA_EV_IN);
	assert_false(f->a.bits & KA_EV_OUT);
	assert_int_equal(f->b.calls, 0);
}

static void test_each_io_receives_its_own_events(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN), 0);
	assert_int_equal(ka_loop_add(&f->loop, &f->b.io, KA_EV_OUT), 0);
	send_bytes(f->b.io.fd, "x");
	/* Both are ready before the wait; one call reports both. */
	assert_int_equal(ka_loop_run_once(&f->loop, READY_WAIT_MS), 2);
	assert_int_equal(f->a.calls, 1);
	assert_ptr_equal(f->a.seen, &f->a.io);
	assert_int_equal(f->a.bits & (KA_EV_IN | KA_EV_OUT), KA_EV_IN);
	assert_int_equal(f->b.calls, 1);
	assert_ptr_equal(f->b.seen, &f->b.io);
	assert_int_equal(f->b.bits & (KA_EV_IN | KA_EV_OUT), KA_EV_OUT);
}

static void test_edge_triggered_reports_one_event_per_edge(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN | KA_EV_EDGE), 0);
	send_bytes(f->b.io.fd, "first");
	assert_int_equal(ka_loop_run_once(&f->loop, READY_WAIT_MS), 1);
	assert_int_equal(f->a.calls, 1);

	/* Data still unread, but no new arrival: no new event. */
	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);
	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);
	assert_int_equal(f->a.calls, 1);

	/* New data is a new edge, even though the old data is still there. */
	send_bytes(f->b.io.fd, "second");
	assert_int_equal(ka_loop_run_once(&f->loop, READY_WAIT_MS), 1);
	assert_int_equal(f->a.calls, 2);
	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);

	drain(f->a.io.fd);
	send_bytes(f->b.io.fd, "third");
	assert_int_equal(ka_loop_run_once(&f->loop, READY_WAIT_MS), 1);
	assert_int_equal(f->a.calls, 3);
}

static void test_level_triggered_repeats_until_drained(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN), 0);
	send_bytes(f->b.io.fd, "x");
	assert_int_equal(ka_loop_run_once(&f->loop, READY_WAIT_MS), 1);
	assert_int_equal(ka_loop_run_once(&f->loop, 0), 1);
	assert_int_equal(f->a.calls, 2);
	drain(f->a.io.fd);
	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);
	assert_int_equal(f->a.calls, 2);
}

static void test_mod_changes_the_watched_events(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN), 0);
	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);  /* nothing to read */

	assert_int_equal(ka_loop_mod(&f->loop, &f->a.io, KA_EV_OUT), 0);
	assert_int_equal(ka_loop_run_once(&f->loop, READY_WAIT_MS), 1);  /* writable */
	assert_ptr_equal(f->a.seen, &f->a.io);
	assert_int_equal(f->a.bits & (KA_EV_IN | KA_EV_OUT), KA_EV_OUT);

	/* Back to IN only: writable no longer reported, data now is. */
	assert_int_equal(ka_loop_mod(&f->loop, &f->a.io, KA_EV_IN), 0);
	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);
	send_bytes(f->b.io.fd, "x");
	assert_int_equal(ka_loop_run_once(&f->loop, READY_WAIT_MS), 1);
	assert_int_equal(f->a.bits & (KA_EV_IN | KA_EV_OUT), KA_EV_IN);
}

static void test_mod_to_edge_triggered_rearms_one_event(void **state)
{
	struct fixture *f = *state;

	/* The writer's pattern: watch OUT edge-triggered only after a short write. */
	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN | KA_EV_EDGE), 0);
	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);
	assert_int_equal(ka_loop_mod(&f->loop, &f->a.io, KA_EV_IN | KA_EV_OUT | KA_EV_EDGE), 0);
	assert_int_equal(ka_loop_run_once(&f->loop, READY_WAIT_MS), 1);
	assert_true(f->a.bits & KA_EV_OUT);
	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);  /* still writable, no new edge */
	assert_int_equal(f->a.calls, 1);
}

static void test_del_stops_events(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN), 0);
	assert_int_equal(ka_loop_del(&f->loop, &f->a.io), 0);
	send_bytes(f->b.io.fd, "x");
	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);
	assert_int_equal(f->a.calls, 0);

	/* And it can be added again. */
	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN), 0);
	assert_int_equal(ka_loop_run_once(&f->loop, READY_WAIT_MS), 1);
	assert_int_equal(f->a.calls, 1);
}

static void test_registration_errors_are_negative_errno(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ka_loop_mod(&f->loop, &f->a.io, KA_EV_IN), -ENOENT);
	assert_int_equal(ka_loop_del(&f->loop, &f->a.io), -ENOENT);
	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN), 0);
	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN), -EEXIST);

	struct probe bad = { .io = { -1, on_probe_event } };
	assert_int_equal(ka_loop_add(&f->loop, &bad.io, KA_EV_IN), -EBADF);
}

static void test_peer_shutdown_is_reported_as_rdhup(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN | KA_EV_RDHUP | KA_EV_EDGE), 0);
	assert_int_equal(shutdown(f->b.io.fd, SHUT_WR), 0);
	assert_int_equal(ka_loop_run_once(&f->loop, READY_WAIT_MS), 1);
	assert_true(f->a.bits & KA_EV_RDHUP);
}

/* ---- waiting ----------------------------------------------------------------------------- */

static void test_run_once_with_zero_max_wait_returns_at_once_with_no_events(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN), 0);
	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);
	assert_int_equal(f->a.calls, 0);
}

static void on_never(struct ka_timer *t)
{
	(void)t;
	fail_msg("a timer far in the future ran");
}

static void test_run_once_max_wait_caps_the_wait_for_a_later_timer(void **state)
{
	struct fixture *f = *state;
	struct ka_timer far = { .cb = on_never };

	/* A timer an hour away would let the loop sleep an hour; max_wait says 5 ms. */
	assert_int_equal(ka_loop_timer_add(&f->loop, &far, f->loop.now + 3600 * 1000), 0);
	int64_t start = f->loop.now;
	assert_int_equal(ka_loop_run_once(&f->loop, 5), 0);
	assert_true(f->loop.now - start < 3000);  /* returned long before the timer */
	assert_true(ka_timer_armed(&far));
	ka_loop_timer_remove(&f->loop, &far);
}

static void test_run_once_refreshes_the_clock(void **state)
{
	struct fixture *f = *state;

	int64_t before = f->loop.now_us;
	assert_int_equal(ka_loop_run_once(&f->loop, 2), 0);
	assert_true(f->loop.now_us > before);
	assert_int_equal(f->loop.now, f->loop.now_us / 1000);
}

/* ---- timers ------------------------------------------------------------------------------ */

struct loop_timer {
	struct ka_timer timer;
	struct ka_loop *loop;
	int fired;
	int64_t fired_at;  /* loop->now when the callback ran */
	int stop_after;    /* set loop->stop on this many fires; re-arm until then */
};

static void on_loop_timer(struct ka_timer *t)
{
	struct loop_timer *lt = ka_container_of(t, struct loop_timer, timer);

	lt->fired++;
	lt->fired_at = lt->loop->now;
	note('t');
	if (lt->stop_after) {
		if (lt->fired >= lt->stop_after)
			lt->loop->stop = true;
		else
			assert_int_equal(ka_loop_timer_add(lt->loop, t, lt->loop->now + 1), 0);
	}
}

static void test_heap_timer_fires_once_its_deadline_has_passed_and_not_before(void **state)
{
	struct fixture *f = *state;
	struct loop_timer lt = { .timer.cb = on_loop_timer, .loop = &f->loop };
	int64_t deadline = f->loop.now + 20;
	int iterations = 0;

	assert_int_equal(ka_loop_timer_add(&f->loop, &lt.timer, deadline), 0);
	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);
	if (f->loop.now < deadline)
		assert_int_equal(lt.fired, 0);

	/* -1: the loop sleeps until the timer; it may wake a tick early and go round again. */
	while (!lt.fired && iterations++ < 10)
		assert_int_equal(ka_loop_run_once(&f->loop, -1), 0);
	assert_int_equal(lt.fired, 1);
	assert_true(lt.fired_at >= deadline);
	assert_true(f->loop.now >= deadline);
	assert_false(ka_timer_armed(&lt.timer));
	assert_true(iterations <= 3);  /* woken by the deadline, not spinning */

	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);
	assert_int_equal(lt.fired, 1);  /* once only */
}

static void test_removed_heap_timer_does_not_fire(void **state)
{
	struct fixture *f = *state;
	struct loop_timer lt = { .timer.cb = on_loop_timer, .loop = &f->loop };

	assert_int_equal(ka_loop_timer_add(&f->loop, &lt.timer, f->loop.now), 0);
	ka_loop_timer_remove(&f->loop, &lt.timer);
	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);
	assert_int_equal(lt.fired, 0);
}

struct loop_conn {
	struct ka_fifo_node node;
	struct ka_loop *loop;
	int expired;
	int64_t expired_at;
};

static void on_fifo_expired(struct ka_fifo_node *node, void *data)
{
	struct loop_conn *c = ka_container_of(node, struct loop_conn, node);

	(void)data;
	c->expired++;
	c->expired_at = c->loop->now;
	note('f');
}

static void test_fifo_registered_with_the_loop_expires_after_its_timeout(void **state)
{
	struct fixture *f = *state;
	struct ka_fifo idle;
	struct loop_conn c = { .loop = &f->loop };
	int iterations = 0;

	ka_fifo_init(&idle, 15, on_fifo_expired, NULL);
	ka_loop_add_fifo(&f->loop, &idle);
	ka_fifo_push(&idle, &c.node, f->loop.now);
	int64_t deadline = c.node.deadline;

	assert_int_equal(ka_loop_run_once(&f->loop, 0), 0);
	if (f->loop.now < deadline)
		assert_int_equal(c.expired, 0);

	/* With no heap timer and no descriptor, only the FIFO's deadline can wake -1. */
	while (!c.expired && iterations++ < 10)
		assert_int_equal(ka_loop_run_once(&f->loop, -1), 0);
	assert_int_equal(c.expired, 1);
	assert_true(c.expired_at >= deadline);
	assert_false(ka_fifo_node_armed(&c.node));
	assert_true(iterations <= 3);
}

static void test_io_is_dispatched_before_timers_due_in_the_same_iteration(void **state)
{
	struct fixture *f = *state;
	struct loop_timer lt = { .timer.cb = on_loop_timer, .loop = &f->loop };
	struct ka_fifo idle;
	struct loop_conn c = { .loop = &f->loop };

	/* A request that arrives as its idle deadline passes must be seen first. */
	ka_fifo_init(&idle, 0, on_fifo_expired, NULL);
	ka_loop_add_fifo(&f->loop, &idle);
	ka_fifo_push(&idle, &c.node, f->loop.now);
	assert_int_equal(ka_loop_timer_add(&f->loop, &lt.timer, f->loop.now), 0);
	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN), 0);
	send_bytes(f->b.io.fd, "GET / HTTP/1.1\r\n\r\n");

	assert_int_equal(ka_loop_run_once(&f->loop, READY_WAIT_MS), 1);
	assert_string_equal(order, "ift");
}

static void test_run_stops_when_a_timer_callback_sets_stop(void **state)
{
	struct fixture *f = *state;
	struct loop_timer lt = { .timer.cb = on_loop_timer, .loop = &f->loop, .stop_after = 3 };

	assert_int_equal(ka_loop_timer_add(&f->loop, &lt.timer, f->loop.now), 0);
	ka_loop_run(&f->loop);
	assert_true(f->loop.stop);
	assert_int_equal(lt.fired, 3);
	ka_loop_timer_remove(&f->loop, &lt.timer);
}

static void test_run_stops_when_an_io_callback_sets_stop(void **state)
{
	struct fixture *f = *state;

	f->a.stop_after_event = true;
	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN), 0);
	send_bytes(f->b.io.fd, "x");
	ka_loop_run(&f->loop);
	assert_int_equal(f->a.calls, 1);
}

static void test_run_returns_at_once_when_stop_is_already_set(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ka_loop_add(&f->loop, &f->a.io, KA_EV_IN), 0);
	send_bytes(f->b.io.fd, "x");
	f->loop.stop = true;
	ka_loop_run(&f->loop);
	assert_int_equal(f->a.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_caches_a_consistent_clock, set_up, tear_down),
		cmocka_unit_test_setup_teardown(test_event_is_dispatched_with_the_registered_io_and_bits,
		                                set_up, tear_down),
		cmocka_unit_test_setup_teardown(test_each_io_receives_its_own_events, set_up, tear_down),
		cmocka_unit_test_setup_teardown(test_edge_triggered_reports_one_event_per_edge, set_up,
		                                tear_down),
		cmocka_unit_test_setup_teardown(test_level_triggered_repeats_until_drained, set_up,
		                                tear_down),
		cmocka_unit_test_setup_teardown(test_mod_changes_the_watched_events, set_up, tear_down),
		cmocka_unit_test_setup_teardown(test_mod_to_edge_triggered_rearms_one_event, set_up,
		                                tear_down),
		cmocka_unit_test_setup_teardown(test_del_stops_events, set_up, tear_down),
		cmocka_unit_test_setup_teardown(test_registration_errors_are_negative_errno, set_up,
		                                tear_down),
		cmocka_unit_test_setup_teardown(test_peer_shutdown_is_reported_as_rdhup, set_up,
		                                tear_down),
		cmocka_unit_test_setup_teardown(
			test_run_once_with_zero_max_wait_returns_at_once_with_no_events, set_up, tear_down),
		cmocka_unit_test_setup_teardown(test_run_once_max_wait_caps_the_wait_for_a_later_timer,
		                                set_up, tear_down),
		cmocka_unit_test_setup_teardown(test_run_once_refreshes_the_clock, set_up, tear_down),
		cmocka_unit_test_setup_teardown(
			test_heap_timer_fires_once_its_deadline_has_passed_and_not_before, set_up,
			tear_down),
		cmocka_unit_test_setup_teardown(test_removed_heap_timer_does_not_fire, set_up, tear_down),
		cmocka_unit_test_setup_teardown(
			test_fifo_registered_with_the_loop_expires_after_its_timeout, set_up, tear_down),
		cmocka_unit_test_setup_teardown(
			test_io_is_dispatched_before_timers_due_in_the_same_iteration, set_up, tear_down),
		cmocka_unit_test_setup_teardown(test_run_stops_when_a_timer_callback_sets_stop, set_up,
		                                tear_down),
		cmocka_unit_test_setup_teardown(test_run_stops_when_an_io_callback_sets_stop, set_up,
		                                tear_down),
		cmocka_unit_test_setup_teardown(test_run_returns_at_once_when_stop_is_already_set,
		                                set_up, tear_down),
	};

	/* Watchdog: a loop that never wakes kills the run (counted as a failure). */
	alarm(20);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
