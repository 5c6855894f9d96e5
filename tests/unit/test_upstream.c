/*
 * Unit tests for the upstream pool's rules (src/server/upstream.c): how long a pooled
 * backend connection may stay idle, told, learned or unknown, and which requests may
 * go on a connection of a given idle age. One row per rule; the numbers are the ones
 * docs/proxy.md gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/upstream.h"

#define AUTO KA_UPSTREAM_IDLE_AUTO
#define NONE (-1)

struct limit_row {
	const char *rule;
	int64_t told, learned, configured, limit;
};

static const struct limit_row limits[] = {
	{ "nothing known: 4 s", NONE, NONE, AUTO, 4000 },
	{ "told 5 s (Node.js): 1 s margin", 5000, NONE, AUTO, 4000 },
	{ "told 60 s: 1 s margin", 60000, NONE, AUTO, 59000 },
	{ "told 1 s: never under half", 1000, NONE, AUTO, 500 },
	{ "told 1.5 s: half beats the margin", 1500, NONE, AUTO, 750 },
	{ "told 0: no reuse at all", 0, NONE, AUTO, 0 },
	{ "learned 2 s (gunicorn): 1 s margin", NONE, 2000, AUTO, 1000 },
	{ "learned 1 s: half", NONE, 1000, AUTO, 500 },
	{ "told wins over learned", 10000, 1000, AUTO, 9000 },
	{ "configured, nothing known: itself", NONE, NONE, 30000, 30000 },
	{ "configured caps told", 60000, NONE, 30000, 30000 },
	{ "told caps configured", 5000, NONE, 30000, 4000 },
	{ "configured caps learned", NONE, 2000, 300, 300 },
};

static void test_idle_limit(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		const struct limit_row *r = &limits[i];
		int64_t got = ka_upstream_idle_limit(r->told, r->learned, r->configured);

		if (got != r->limit)
			fail_msg("%s: limit %lld, want %lld", r->rule, (long long)got,
			         (long long)r->limit);
	}
}

struct reuse_row {
	const char *rule;
	int64_t age;
	bool retryable;
	int64_t told, learned;
	bool may;
};

static const struct reuse_row reuses[] = {
	{ "GET, young, nothing known", 100, true, NONE, NONE, true },
	{ "GET, 3.9 s, nothing known", 3900, true, NONE, NONE, true },
	{ "GET, at the 4 s limit", 4000, true, NONE, NONE, false },
	{ "POST, 0.4 s, nothing known", 400, false, NONE, NONE, true },
	{ "POST, 0.5 s, nothing known: too old", 500, false, NONE, NONE, false },
	{ "POST, told 5 s, 2.4 s", 2400, false, 5000, NONE, true },
	{ "POST, told 5 s, 2.5 s: half", 2500, false, 5000, NONE, false },
	{ "GET, told 5 s, 3.9 s", 3900, true, 5000, NONE, true },
	{ "GET, told 5 s, 4 s: retired", 4000, true, 5000, NONE, false },
	{ "POST, learned 1 s, 0.49 s", 490, false, NONE, 1000, true },
	{ "GET, learned 1 s, 0.5 s: retired", 500, true, NONE, 1000, false },
	{ "POST, told 0", 0, false, 0, NONE, false },
};

static void test_may_reuse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(reuses) / sizeof(reuses[0]); i++) {
		const struct reuse_row *r = &reuses[i];
		bool got = ka_upstream_may_reuse(r->age, r->retryable, r->told, r->learned, AUTO);

		if (got != r->may)
			fail_msg("%s: may_reuse %d, want %d", r->rule, got, r->may);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_limit),
		cmocka_unit_test(test_may_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
