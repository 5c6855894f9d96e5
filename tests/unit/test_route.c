/*
 * Unit tests for src/server/route.c: the route table finds exact paths before
 * prefixes and longer prefixes before shorter ones, whatever the order routes were
 * added in, and says which methods a route takes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/route.h"

static void serve_a(struct ka_conn *c, const struct ka_route *r)
{
	(void)c;
	(void)r;
}

static struct ka_str str(const char *s)
{
	return (struct ka_str){ s, strlen(s) };
}

/* The path of the route found for path, or "(none)". */
static const char *found(const struct ka_routes *t, const char *path)
{
	const struct ka_route *r = ka_routes_find(t, str(path));

	return r ? (r->path[0] ? r->path : "(root)") : "(none)";
}

static void add(struct ka_routes *t, const char *path, bool prefix)
{
	const struct ka_route r = { .path = path, .prefix = prefix, .serve = serve_a };

	assert_int_equal(ka_routes_add(t, &r), 0);
}

static void test_exact_before_prefix_longest_prefix_first(void **state)
{
	/* Added in the worst order: the catch-all first. */
	struct ka_routes t = { .n = 0 };

	(void)state;
	add(&t, "", true);
	add(&t, "/_demo/", true);
	add(&t, "/_demo/sleep", false);
	add(&t, "/_demo/echo", false);
	add(&t, "/_demo/s", true);
	assert_string_equal(found(&t, "/_demo/sleep"), "/_demo/sleep");
	assert_string_equal(found(&t, "/_demo/echo"), "/_demo/echo");
	assert_string_equal(found(&t, "/_demo/sleepy"), "/_demo/s");
	assert_string_equal(found(&t, "/_demo/stream"), "/_demo/s");
	assert_string_equal(found(&t, "/_demo/echo/"), "/_demo/");
	assert_string_equal(found(&t, "/_demo/"), "/_demo/");
	assert_string_equal(found(&t, "/_demo"), "(root)");
	assert_string_equal(found(&t, "/index.html"), "(root)");
	assert_string_equal(found(&t, "*"), "(root)");
}

static void test_exact_match_is_whole_and_case_sensitive(void **state)
{
	struct ka_routes t = { .n = 0 };

	(void)state;
	add(&t, "/status", false);
	assert_string_equal(found(&t, "/status"), "/status");
	assert_string_equal(found(&t, "/status/"), "(none)");
	assert_string_equal(found(&t, "/statu"), "(none)");
	assert_string_equal(found(&t, "/Status"), "(none)");
	assert_string_equal(found(&t, ""), "(none)");
}

static void test_full_table_refuses_more(void **state)
{
	static struct ka_routes t;
	const struct ka_route r = { .path = "/x", .serve = serve_a };

	(void)state;
	for (unsigned i = 0; i < KA_MAX_ROUTES; i++)
		assert_int_equal(ka_routes_add(&t, &r), 0);
	assert_int_equal(ka_routes_add(&t, &r), -1);
	assert_int_equal(t.n, KA_MAX_ROUTES);
}

static void test_methods(void **state)
{
	const struct ka_route get = { .path = "/", .methods = KA_METHODS_GET_HEAD };
	const struct ka_route any = { .path = "/", .methods = KA_METHODS_ANY };

	(void)state;
	assert_true(ka_route_allows(&get, KA_METHOD_GET));
	assert_true(ka_route_allows(&get, KA_METHOD_HEAD));
	assert_false(ka_route_allows(&get, KA_METHOD_POST));
	assert_false(ka_route_allows(&get, KA_METHOD_OTHER));
	assert_true(ka_route_allows(&any, KA_METHOD_OTHER));
	assert_true(ka_route_allows(&any, KA_METHOD_DELETE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_before_prefix_longest_prefix_first),
		cmocka_unit_test(test_exact_match_is_whole_and_case_sensitive),
		cmocka_unit_test(test_full_table_refuses_more),
		cmocka_unit_test(test_methods),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
