/*
 * Unit tests for src/server/keepalive_policy.c: one row per rule of persistence
 * (RFC 9112 section 9) and of the pressure rules, each a configuration, the
 * connection's and the request's facts, the connections open, and the whole decision
 * expected. No socket, no clock: the policy is a function of what it is told.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/keepalive_policy.h"

/* A row that closes leaves out the figures only a persisting one has. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* The configuration a row differs in; the rest is fixed below (max-connections 1000,
 * idle watermark 0.5). */
struct cfgv {
	int64_t timeout, grace, time, min;
	uint64_t requests;
};

/* --keepalive-timeout 5, --keepalive-grace 1, no lifetime, min timeout 1,
 * --keepalive-requests 100. */
#define BASE { 5000, 1000, 0, 1000, 100 }

#define NONE UINT64_MAX

struct row {
	const char *rule;
	struct cfgv cfg;
	struct ka_policy_conn conn;
	struct ka_policy_request req;
	uint64_t conns;
	/* expected */
	bool keep;
	enum ka_close_reason reason;  /* when !keep */
	bool linger;                  /* when !keep */
	int64_t advertise_s;          /* when keep */
	uint64_t advertise_max;       /* when keep */
};

static const struct ka_policy_request V11 = { .minor_version = 1 };
static const struct ka_policy_request V11_CLOSE = { .minor_version = 1, .conn_close = true };
static const struct ka_policy_request V10 = { .minor_version = 0 };
static const struct ka_policy_request V10_KA = { .minor_version = 0, .conn_keep_alive = true };

#define C1 { .requests = 1, .age_ms = 10 }

static const struct row rows[] = {
	/* RFC 9112 9.3: what the request says */
	{ "HTTP/1.1 persists by default", BASE, C1, V11, 1, true, 0, false, 4, 99 },
	{ "HTTP/1.1 with close ends it, without lingering", BASE, C1, V11_CLOSE, 1, false,
	  KA_CLOSE_CONNECTION_CLOSE, false },
	{ "HTTP/1.0 without keep-alive ends it, without lingering", BASE, C1, V10, 1, false,
	  KA_CLOSE_CONNECTION_CLOSE, false },
	{ "HTTP/1.0 with keep-alive persists", BASE, C1, V10_KA, 1, true, 0, false, 4, 99 },
	{ "HTTP/1.0 with keep-alive and close: close wins", BASE, C1,
	  { .minor_version = 0, .conn_keep_alive = true, .conn_close = true }, 1, false,
	  KA_CLOSE_CONNECTION_CLOSE, false },
	{ "HTTP/1.1 with keep-alive and close: close wins", BASE, C1,
	  { .minor_version = 1, .conn_keep_alive = true, .conn_close = true }, 1, false,
	  KA_CLOSE_CONNECTION_CLOSE, false },
	{ "HTTP/1.1 keep-alive token changes nothing", BASE, C1,
	  { .minor_version = 1, .conn_keep_alive = true }, 1, true, 0, false, 4, 99 },

	/* What the server decides: it closes, and lingers */
	{ "--keepalive-timeout 0 turns persistence off", { 0, 1000, 0, 1000, 100 }, C1, V11, 1,
	  false, KA_CLOSE_KEEPALIVE_TIMEOUT, true },
	{ "draining: the response is the last", BASE,
	  { .requests = 1, .draining = true }, V11, 1, false, KA_CLOSE_SHUTDOWN, true },
	{ "draining with a request pipelined behind: that one is answered too", BASE,
	  { .requests = 1, .draining = true, .input_follows = true }, V11, 1, true, 0, false, 4,
	  99 },
	{ "a request at the idle deadline is answered, and closes", BASE,
	  { .requests = 2, .last_call = true }, V11, 1, false, KA_CLOSE_KEEPALIVE_TIMEOUT, true },
	{ "the request cap closes after the last request", BASE, { .requests = 100 }, V11, 1,
	  false, KA_CLOSE_KEEPALIVE_REQUESTS, true },
	{ "one below the cap persists and says max=1", BASE, { .requests = 99 }, V11, 1, true, 0,
	  false, 4, 1 },
	{ "--keepalive-requests 1: every response is the last", { 5000, 1000, 0, 1000, 1 },
	  { .requests = 1 }, V11, 1, false, KA_CLOSE_KEEPALIVE_REQUESTS, true },
	{ "no request cap: no max=", { 5000, 1000, 0, 1000, 0 }, { .requests = 5000 }, V11, 1,
	  true, 0, false, 4, NONE },
	{ "--keepalive-time reached closes", { 5000, 1000, 10000, 1000, 100 },
	  { .requests = 3, .age_ms = 10000 }, V11, 1, false, KA_CLOSE_KEEPALIVE_TIME, true },
	{ "the lifetime left shortens the advertised timeout", { 5000, 1000, 10000, 1000, 100 },
	  { .requests = 3, .age_ms = 7000 }, V11, 1, true, 0, false, 2, 97 },
	{ "less lifetime left than the grace advertises 0", { 5000, 1000, 10000, 1000, 100 },
	  { .requests = 3, .age_ms = 9500 }, V11, 1, true, 0, false, 0, 97 },
	{ "no grace: the whole timeout is advertised", { 5000, 0, 0, 1000, 100 }, C1, V11, 1,
	  true, 0, false, 5, 99 },
	{ "a grace longer than the timeout advertises 0", { 2000, 3000, 0, 1000, 100 }, C1, V11,
	  1, true, 0, false, 0, 99 },

	/* Framing (RFC 9112 6.3) */
	{ "HTTP/1.0 stream of unknown length: the close ends the body", BASE, C1,
	  { .minor_version = 0, .conn_keep_alive = true, .length_unknown = true }, 1, false,
	  KA_CLOSE_CONNECTION_CLOSE, true },
	{ "HTTP/1.0 HEAD of a stream sends no body: persists", BASE, C1,
	  { .minor_version = 0, .conn_keep_alive = true, .length_unknown = true, .is_head = true },
	  1, true, 0, false, 4, 99 },
	{ "HTTP/1.1 stream of unknown length is chunked: persists", BASE, C1,
	  { .minor_version = 1, .length_unknown = true }, 1, true, 0, false, 4, 99 },

	/* An unread request body */
	{ "unread chunked body: close", BASE, C1,
	  { .minor_version = 1, .body_unread = true, .body_chunked = true }, 1, false,
	  KA_CLOSE_CONNECTION_CLOSE, true },
	{ "unread body over 64 KiB: close", BASE, C1,
	  { .minor_version = 1, .body_unread = true, .body_left = 64 * 1024 + 1 }, 1, false,
	  KA_CLOSE_CONNECTION_CLOSE, true },
	{ "unread body of at most 64 KiB is discarded: persists", BASE, C1,
	  { .minor_version = 1, .body_unread = true, .body_left = 64 * 1024 }, 1, true, 0, false,
	  4, 99 },

	/* Lingering (RFC 9112 9.6) when the client asked to close */
	{ "close with the body unread: linger", BASE, C1,
	  { .minor_version = 1, .conn_close = true, .body_unread = true, .body_left = 10 }, 1,
	  false, KA_CLOSE_CONNECTION_CLOSE, true },
	{ "close with a request pipelined behind it: linger", BASE,
	  { .requests = 1, .input_follows = true }, V11_CLOSE, 1, false,
	  KA_CLOSE_CONNECTION_CLOSE, true },
	{ "close with a response that did not leave in one write: linger", BASE,
	  { .requests = 1, .send_queued = true }, V11_CLOSE, 1, false, KA_CLOSE_CONNECTION_CLOSE,
	  true },
	{ "close after the client half-closed: no linger", BASE,
	  { .requests = 1, .half_closed = true, .input_follows = true }, V11_CLOSE, 1, false,
	  KA_CLOSE_CONNECTION_CLOSE, false },
	{ "server's close after the client half-closed: no linger", BASE,
	  { .requests = 100, .half_closed = true }, V11, 1, false, KA_CLOSE_KEEPALIVE_REQUESTS,
	  false },

	/* Precedence: the first rule that ends the connection names it */
	{ "client's close before the drain", BASE, { .requests = 1, .draining = true }, V11_CLOSE,
	  1, false, KA_CLOSE_CONNECTION_CLOSE, false },
	{ "drain before the request cap", BASE, { .requests = 100, .draining = true }, V11, 1,
	  false, KA_CLOSE_SHUTDOWN, true },
	{ "request cap before the lifetime", { 5000, 1000, 10000, 1000, 100 },
	  { .requests = 100, .age_ms = 20000 }, V11, 1, false, KA_CLOSE_KEEPALIVE_REQUESTS, true },

	/* Pressure: the idle timeout shrinks from the watermark (500 of 1000) to the limit */
	{ "at the watermark: the whole timeout", BASE, C1, V11, 500, true, 0, false, 4, 99 },
	{ "halfway to the limit: halfway to the minimum", BASE, C1, V11, 750, true, 0, false, 2,
	  99 },
	{ "at the limit: the minimum", BASE, C1, V11, 1000, true, 0, false, 0, 99 },
	{ "past the limit: still the minimum", BASE, C1, V11, 5000, true, 0, false, 0, 99 },
	{ "a minimum above the timeout never lengthens it", { 5000, 1000, 0, 9000, 100 }, C1,
	  V11, 1000, true, 0, false, 4, 99 },
};

static void fill_config(struct ka_config *cfg, const struct cfgv *v)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->keepalive_timeout = v->timeout;
	cfg->keepalive_grace = v->grace;
	cfg->keepalive_time = v->time;
	cfg->keepalive_min_timeout = v->min;
	cfg->keepalive_requests = v->requests;
	cfg->max_connections = 1000;
	cfg->idle_watermark = 0.5;
}

static void test_decision_table(void **state)
{
	unsigned bad = 0;

	(void)state;
	assert_true(sizeof(rows) / sizeof(rows[0]) >= 30);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct ka_config cfg;
		struct ka_decision d;
		bool ok;

		fill_config(&cfg, &r->cfg);
		d = ka_policy_decide(&cfg, &r->conn, &r->req, r->conns);
		ok = d.keep == r->keep &&
		     (r->keep ? d.advertise_s == r->advertise_s && d.advertise_max == r->advertise_max
		              : d.reason == r->reason && d.linger == r->linger);
		if (!ok) {
			printf("row %zu, %s: keep=%d reason=%s linger=%d timeout=%lld max=%llu\n", i,
			       r->rule, d.keep, ka_close_reason_name(d.reason), d.linger,
			       (long long)d.advertise_s, (unsigned long long)d.advertise_max);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_client_closes_follows_rfc9112_9_3(void **state)
{
	(void)state;
	assert_false(ka_policy_client_closes(&V11));
	assert_true(ka_policy_client_closes(&V11_CLOSE));
	assert_true(ka_policy_client_closes(&V10));
	assert_false(ka_policy_client_closes(&V10_KA));
}

static void test_idle_deadline_never_earlier_than_advertised(void **state)
{
	struct ka_config cfg;
	const struct cfgv v = BASE;

	(void)state;
	fill_config(&cfg, &v);
	/* Filled up since the header promised 4 s: the promise holds. */
	assert_int_equal(ka_policy_idle_deadline(&cfg, 1000, 0, 4000), 4000);
	/* Nothing promised beyond what is enforced: the enforced one. */
	assert_int_equal(ka_policy_idle_deadline(&cfg, 1, 0, 4000), 5000);
	assert_int_equal(ka_policy_idle_deadline(&cfg, 1000, 0, 0), 1000);
}

static void test_idle_timeout_is_cut_by_the_lifetime_left(void **state)
{
	struct ka_config cfg;
	const struct cfgv v = { 5000, 1000, 10000, 1000, 100 };

	(void)state;
	fill_config(&cfg, &v);
	assert_int_equal(ka_policy_idle_timeout(&cfg, 1, 0), 5000);
	assert_int_equal(ka_policy_idle_timeout(&cfg, 1, 8000), 2000);
	assert_int_equal(ka_policy_idle_timeout(&cfg, 1, 12000), 0);
}

static void test_error_decision_closes_and_lingers(void **state)
{
	struct ka_decision d = ka_policy_error(KA_CLOSE_BAD_REQUEST);

	(void)state;
	assert_false(d.keep);
	assert_true(d.linger);
	assert_int_equal(d.reason, KA_CLOSE_BAD_REQUEST);
}

static void test_linger_only_when_it_protects_something(void **state)
{
	(void)state;
	/* client_asked, half_closed, unread_input, send_queued */
	assert_false(ka_policy_linger(true, false, false, false));
	assert_true(ka_policy_linger(true, false, true, false));
	assert_true(ka_policy_linger(true, false, false, true));
	assert_true(ka_policy_linger(false, false, false, false));
	assert_false(ka_policy_linger(false, true, true, true));
}

static void check_header(const struct ka_decision *d, const char *want)
{
	char buf[KA_POLICY_HEADER_MAX + 1];
	char *end = ka_policy_write_header(buf, d);

	*end = '\0';
	assert_string_equal(buf, want);
}

static void test_header_text(void **state)
{
	struct ka_decision d = { .keep = true, .advertise_s = 4, .advertise_max = 99 };

	(void)state;
	check_header(&d, "Connection: keep-alive\r\nKeep-Alive: timeout=4, max=99\r\n");
	d.advertise_max = UINT64_MAX;
	check_header(&d, "Connection: keep-alive\r\nKeep-Alive: timeout=4\r\n");
	d.advertise_s = INT64_MAX / 1000;
	d.advertise_max = UINT64_MAX - 1;
	{
		char buf[KA_POLICY_HEADER_MAX + 1];

		assert_true(ka_policy_write_header(buf, &d) - buf <= KA_POLICY_HEADER_MAX);
	}
	d.keep = false;
	check_header(&d, "Connection: close\r\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decision_table),
		cmocka_unit_test(test_client_closes_follows_rfc9112_9_3),
		cmocka_unit_test(test_idle_deadline_never_earlier_than_advertised),
		cmocka_unit_test(test_idle_timeout_is_cut_by_the_lifetime_left),
		cmocka_unit_test(test_error_decision_closes_and_lingers),
		cmocka_unit_test(test_linger_only_when_it_protects_something),
		cmocka_unit_test(test_header_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
