/*
 * Tests for the header fields the request-head parser interprets (src/core/http_parse.c,
 * RFC 9112 3.2, 6): Host and the absolute-form authority, Content-Length,
 * Transfer-Encoding, Connection and Expect, and the token-list helper. Table rows as in
 * test_http_parse.c (request_cases.h).
 */
#include <stdio.h>
#include <string.h>

#include "core/http_parse.h"
#include "request_cases.h"

/* ---- Host ------------------------------------------------------------------------------ */

static void test_host_rules(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("GET / HTTP/1.1\r\n\r\n"), ERR, 400, "missing Host", "HTTP/1.1 without Host" },
		{ S("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), ERR, 400, "more than one Host", "two Host lines" },
		{ S("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), ERR, 400, "more than one Host", "two Host lines in 1.0" },
		{ S("GET / HTTP/1.0\r\n\r\n"), ALL, 0, NULL, "HTTP/1.0 may omit Host" },
		{ S("GET / HTTP/1.1\r\nHost:\r\n\r\n"), ALL, 0, NULL, "empty Host is allowed (RFC 9112 3.2)" },
		{ S("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), ALL, 0, NULL, "IP-literal with port" },
		{ S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), ERR, 400, "bad Host", "space inside Host" },
		{ S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), ERR, 400, "bad Host", "slash in Host" },
		{ S("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), ERR, 400, "bad Host", "userinfo in Host" },
	};
	RUN(cases);
}

/* RFC 9112 3.2.2: absolute-form is accepted; its authority is checked like a Host. */
static void test_absolute_form_authority_rules(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n"), ALL, 0, NULL, "absolute-form" },
		{ S("GET HTTPS://a:8443/x?q HTTP/1.1\r\nHost: a\r\n\r\n"), ALL, 0, NULL, "scheme in capitals, a port" },
		{ S("GET http://[::1]:80/x HTTP/1.1\r\nHost: a\r\n\r\n"), ALL, 0, NULL, "IP-literal" },
		{ S("GET http://a HTTP/1.1\r\nHost: a\r\n\r\n"), ALL, 0, NULL, "no path" },
		{ S("GET http://a?q HTTP/1.1\r\nHost: a\r\n\r\n"), ALL, 0, NULL, "a query, no path" },
		{ S("GET http://other/x HTTP/1.1\r\nHost: a\r\n\r\n"), ALL, 0, NULL, "Host may differ: the target wins" },
		{ S("GET ftp://u@a/x HTTP/1.1\r\nHost: a\r\n\r\n"), ALL, 0, NULL, "other schemes are the handler's business" },
		{ S("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), ERR, 400, "bad authority", "empty host (RFC 9110 4.2.1)" },
		{ S("GET https:// HTTP/1.1\r\nHost: a\r\n\r\n"), ERR, 400, "bad authority", "nothing after the scheme" },
		{ S("GET http://:80/x HTTP/1.1\r\nHost: a\r\n\r\n"), ERR, 400, "bad authority", "a port without a host" },
		{ S("GET http://u@a/x HTTP/1.1\r\nHost: a\r\n\r\n"), ERR, 400, "bad authority", "userinfo (RFC 9110 4.2.4)" },
		{ S("GET http://u:p@a/x HTTP/1.1\r\nHost: a\r\n\r\n"), ERR, 400, "bad authority", "userinfo with a password" },
		{ S("GET http://a\"b/x HTTP/1.1\r\nHost: a\r\n\r\n"), ERR, 400, "bad authority", "a quote in the host" },
		{ S("GET http://a/x HTTP/1.1\r\n\r\n"), ERR, 400, "missing Host", "HTTP/1.1 still sends Host (RFC 9112 3.2)" },
		{ S("GET http:///x HTTP/2.0\r\nHost: a\r\n\r\n"), ERR, 505, NULL, "the version is judged first" },
	};
	RUN(cases);
}

/* ---- Content-Length -------------------------------------------------------------------- */

static void test_content_length_list_forms(void **state)
{
	(void)state;
	static const struct { const char *head; int64_t cl; } ok[] = {
		{ "Content-Length: 5\r\n", 5 },
		{ "Content-Length: 0\r\n", 0 },
		{ "Content-Length: 007\r\n", 7 },
		{ "Content-Length: 4611686018427387904\r\n", INT64_C(4611686018427387904) },
		{ "", -1 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char in[256];
		int n = snprintf(in, sizeof(in), "POST / HTTP/1.1\r\nHost: h\r\n%s\r\n", ok[i].head);
		struct ka_http_request req;
		parse_ok(in, (size_t)n, &req);
		assert_int_equal(req.content_length, ok[i].cl);
		assert_false(req.is_chunked);
	}

	static const struct parse_case cases[] = {
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n"), ERR, 400, "bad Content-Length", "a list, even of equal values" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n"), ERR, 400, "bad Content-Length", "5, 6" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), ERR, 400, "repeated Content-Length", "two lines differ" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n"), ERR, 400, "repeated Content-Length", "two equal lines are the list 5, 5" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"), ERR, 400, "repeated Content-Length", "even 0 twice" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n"), ERR, 400, "bad Content-Length", "+5" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\n"), ERR, 400, "bad Content-Length", "-5" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n"), ERR, 400, "bad Content-Length", "0x5" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"), ERR, 400, "bad Content-Length", "empty value" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n"), ERR, 400, "bad Content-Length", "trailing empty member" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ,5\r\n\r\n"), ERR, 400, "bad Content-Length", "leading empty member" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\n"), ERR, 400, "bad Content-Length", "space inside a member" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5.0\r\n\r\n"), ERR, 400, "bad Content-Length", "decimal point" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4611686018427387905\r\n\r\n"), ERR, 400, "Content-Length too large", "2^62 + 1" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n"), ERR, 400, "Content-Length too large", "2^64 must not wrap to 0" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551617\r\n\r\n"), ERR, 400, "Content-Length too large", "2^64 + 1 must not wrap to 1" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n"), ERR, 400, "Content-Length too large", "overflows int64" },
	};
	RUN(cases);
}

/* ---- Transfer-Encoding ------------------------------------------------------------------ */

static void test_transfer_encoding_chunked_is_accepted(void **state)
{
	(void)state;
	static const char *const ok[] = {
		"Transfer-Encoding: chunked\r\n",
		"Transfer-Encoding: CHUNKED\r\n",
		"transfer-encoding:\tChunked \r\n",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char in[256];
		int n = snprintf(in, sizeof(in), "POST / HTTP/1.1\r\nHost: h\r\n%s\r\n", ok[i]);
		struct ka_http_request req;
		parse_ok(in, (size_t)n, &req);
		assert_true(req.is_chunked);
		assert_int_equal(req.content_length, -1);
	}
}

static void test_transfer_encoding_errors_in_order(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), ERR, 400, "with Content-Length", "TE and CL" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\n"), ERR, 400, "with Content-Length", "TE+CL wins over 501" },
		{ S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), ERR, 400, "with Content-Length", "TE+CL wins over 1.0" },
		{ S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), ERR, 400, "HTTP/1.0", "TE in HTTP/1.0" },
		{ S("POST / HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), ERR, 400, "HTTP/1.0", "1.0 wins over 501" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n"), ERR, 400, "bad Transfer-Encoding", "empty value" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip,,chunked\r\n\r\n"), ERR, 400, "bad Transfer-Encoding", "empty member" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n"), ERR, 400, "bad Transfer-Encoding", "trailing comma" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"chunked\"\r\n\r\n"), ERR, 400, "bad Transfer-Encoding", "quoted coding" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), ERR, 400, "chunked not the final coding", "chunked first" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"), ERR, 400, "chunked not the final coding", "gzip alone" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n"), ERR, 400, "chunked not the final coding", "identity" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"), ERR, 400, "chunked not the final coding", "final line is gzip" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;x=1\r\n\r\n"), ERR, 400, "chunked not the final coding", "chunked with a parameter" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), ERR, 400, "more than once", "chunked twice" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), ERR, 400, "more than once", "chunked twice over two lines" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), ERR, 501, "unsupported transfer coding", "gzip, chunked" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"), ERR, 501, "unsupported transfer coding", "gzip then chunked lines" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip;q=1 , chunked\r\n\r\n"), ERR, 501, "unsupported transfer coding", "coding with parameter" },
	};
	RUN(cases);
}

/* ---- Connection and Expect ---------------------------------------------------------- */

static void test_connection_token_lists(void **state)
{
	(void)state;
	static const struct { const char *head; bool is_close, is_keep_alive; } rows[] = {
		{ "Connection: close\r\n", true, false },
		{ "Connection: Keep-Alive, Upgrade\r\n", false, true },
		{ "Connection:  close \r\n", true, false },
		{ "Connection: closed\r\n", false, false },
		{ "Connection: upgrade,CLOSE\r\n", true, false },
		{ "Connection: ,, close ,,\r\n", true, false },
		{ "Connection: keep-alive\r\nConnection: close\r\n", true, true },
		{ "Connection: keep-alive-ish, xclose\r\n", false, false },
		{ "Connection:\r\n", false, false },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char in[256];
		int n = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: h\r\n%s\r\n", rows[i].head);
		struct ka_http_request req;
		parse_ok(in, (size_t)n, &req);
		if (req.conn_close != rows[i].is_close || req.conn_keep_alive != rows[i].is_keep_alive)
			fail_msg("%s: close=%d keep-alive=%d", rows[i].head, req.conn_close,
			         req.conn_keep_alive);
	}
}

static void test_token_list_helper(void **state)
{
	(void)state;
	struct ka_str list = { "a, Keep-Alive ,\tb", 17 };
	assert_true(ka_http_token_list_has(list, "keep-alive"));
	assert_true(ka_http_token_list_has(list, "A"));
	assert_true(ka_http_token_list_has(list, "b"));
	assert_false(ka_http_token_list_has(list, "keep"));
	assert_false(ka_http_token_list_has((struct ka_str){ "", 0 }, ""));
	assert_true(ka_str_ieq((struct ka_str){ "HoSt", 4 }, "host"));
	assert_false(ka_str_ieq((struct ka_str){ "Hos", 3 }, "host"));
	assert_false(ka_str_ieq((struct ka_str){ "Hostx", 5 }, "host"));
}

static void test_expect_100_continue(void **state)
{
	(void)state;
	static const struct { const char *head; bool want; } rows[] = {
		{ "Expect: 100-continue\r\n", true },
		{ "Expect: 100-Continue \r\n", true },
		{ "Expect: 100-continuex\r\n", false },
		{ "Expect: 200-ok\r\n", false },
		{ "", false },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char in[256];
		int n = snprintf(in, sizeof(in), "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n%s\r\n",
		                 rows[i].head);
		struct ka_http_request req;
		parse_ok(in, (size_t)n, &req);
		assert_int_equal(req.expect_continue, rows[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_rules),
		cmocka_unit_test(test_absolute_form_authority_rules),
		cmocka_unit_test(test_content_length_list_forms),
		cmocka_unit_test(test_transfer_encoding_chunked_is_accepted),
		cmocka_unit_test(test_transfer_encoding_errors_in_order),
		cmocka_unit_test(test_connection_token_lists),
		cmocka_unit_test(test_token_list_helper),
		cmocka_unit_test(test_expect_100_continue),
	};
	return cmocka_run_group_tests(tests, guard_setup, NULL);
}
