/*
 * Tests for the HTTP/1 request-head parser (src/core/http_parse.c): the request line,
 * line endings, header lines and the limits. The header fields the parser interprets
 * (Host, Content-Length, Transfer-Encoding, Connection, Expect) are tested in
 * test_http_parse_fields.c; the table machinery is request_cases.h.
 */
#include <stdio.h>
#include <string.h>

#include "core/http_parse.h"
#include "request_cases.h"

/* ---- request line -------------------------------------------------------------------- */

static void test_simple_get_parses(void **state)
{
	(void)state;
	struct ka_http_request req;
	parse_ok(S("GET /index.html?a=1&b HTTP/1.1\r\nHost: example.com\r\nX-A:  two  words \r\n\r\n"), &req);
	assert_str(req.method, "GET");
	assert_int_equal(req.method_id, KA_METHOD_GET);
	assert_str(req.target, "/index.html?a=1&b");
	assert_str(req.path, "/index.html");
	assert_str(req.query, "a=1&b");
	assert_int_equal(req.minor_version, 1);
	assert_int_equal(req.num_headers, 2);
	assert_str(req.headers[0].name, "Host");
	assert_str(req.headers[0].value, "example.com");
	assert_str(req.headers[1].value, "two  words");
	assert_int_equal(req.content_length, -1);
	assert_false(req.is_chunked || req.conn_close || req.conn_keep_alive || req.expect_continue);
	assert_int_equal(req.status, 0);
	assert_null(req.error);
}

static void test_method_ids_are_case_sensitive(void **state)
{
	(void)state;
	static const struct { const char *line; enum ka_http_method id; } rows[] = {
		{ "GET", KA_METHOD_GET }, { "HEAD", KA_METHOD_HEAD }, { "POST", KA_METHOD_POST },
		{ "PUT", KA_METHOD_PUT }, { "DELETE", KA_METHOD_DELETE },
		{ "OPTIONS", KA_METHOD_OPTIONS }, { "get", KA_METHOD_OTHER },
		{ "Head", KA_METHOD_OTHER }, { "PATCH", KA_METHOD_PATCH },
		{ "CONNECT", KA_METHOD_CONNECT }, { "TRACE", KA_METHOD_TRACE },
		{ "FOO", KA_METHOD_OTHER },
		{ "X-CUSTOM!#$%&'*+.^_`|~9", KA_METHOD_OTHER },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char in[128];
		int n = snprintf(in, sizeof(in), "%s / HTTP/1.1\r\nHost: h\r\n\r\n", rows[i].line);
		struct ka_http_request req;
		parse_ok(in, (size_t)n, &req);
		assert_int_equal(req.method_id, rows[i].id);
		assert_str(req.method, rows[i].line);
	}
}

static void test_malformed_request_line_is_400(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "bad character after method", "non-tchar in method" },
		{ S(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "bad method", "leading space" },
		{ S("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "empty request-target", "two spaces after method" },
		{ S("GET /  HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "malformed HTTP version", "two spaces before version" },
		{ S("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, NULL, "tab after method" },
		{ S("GET /\tHTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "bad character in request-target", "tab before version" },
		{ S("GET /\r\nHost: h\r\n\r\n"), ERR, 400, "missing HTTP version", "HTTP/0.9 style line" },
		{ S("GET / \r\nHost: h\r\n\r\n"), ERR, 400, "malformed HTTP version", "empty version" },
		{ S("GET /a\x01z HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, NULL, "CTL in target" },
		{ S("GET /a\x7fz HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, NULL, "DEL in target" },
		{ S("GET /a\0z HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, NULL, "NUL in target" },
		{ S("\x80GET / HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "bad method", "obs-text in method" },
	};
	RUN(cases);
}

/* RFC 9112 3.2, RFC 3986 2: a request-target is ASCII; raw UTF-8 is a bad request line. */
static void test_target_outside_ascii_is_400(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "outside ASCII", "raw UTF-8 in the path" },
		{ S("GET /a?q=\xff HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "outside ASCII", "obs-text in the query" },
		{ S("GET \x80 HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "outside ASCII", "the target's first byte" },
		{ S("GET /abcdefghijklmn\xc3\xa9xyzabcdefghijk HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "outside ASCII", "inside a word the 8-byte scan reads" },
		{ S("GET /abcdef\x80x HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "outside ASCII", "last byte of a word" },
		{ S("GET http://caf\xc3\xa9.example/ HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "outside ASCII", "in an absolute-form authority" },
		{ S("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n"), ERR, 400, "outside ASCII", "the request line is judged before Host" },
		{ S("GET /caf\xc3\xa9 HTTP/2.0\r\nHost: h\r\n\r\n"), ERR, 400, "outside ASCII", "and before the version" },
		{ S("GET /caf\xc3\xa9 HTTP/1.1\r\n"), PART, 0, NULL, "judged once the head is complete" },
	};
	RUN(cases);

	/* A target over the limit before its first non-ASCII byte is 414 however it
	 * arrives: the early check counts the same run of target bytes. */
	const struct ka_http_limits lim = { .max_head = 256, .max_target = 8 };
	static const struct parse_case limited[] = {
		{ S("GET /aaaaaaaa\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 414, NULL, "9 bytes, then UTF-8" },
		{ S("GET /aaaaaaa\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "outside ASCII", "8 bytes, then UTF-8" },
	};
	run_parse_table(limited, sizeof(limited) / sizeof(limited[0]), &lim);
}

static void test_target_percent_encoded_utf8_parses(void **state)
{
	(void)state;
	struct ka_http_request req;
	parse_ok(S("GET /caf%C3%A9?q=%FF HTTP/1.1\r\nHost: h\r\n\r\n"), &req);
	assert_str(req.path, "/caf%C3%A9");
	assert_str(req.query, "q=%FF");
}

static void test_path_and_query_are_split_not_decoded(void **state)
{
	(void)state;
	static const struct { const char *target, *path, *query; } rows[] = {
		{ "/", "/", "" },
		{ "/a%20b", "/a%20b", "" },
		{ "/a?", "/a", "" },
		{ "/a?b?c", "/a", "b?c" },
		{ "*", "*", "" },
		{ "http://x.example/p?q", "http://x.example/p", "q" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char in[128];
		int n = snprintf(in, sizeof(in), "OPTIONS %s HTTP/1.1\r\nHost: h\r\n\r\n", rows[i].target);
		struct ka_http_request req;
		parse_ok(in, (size_t)n, &req);
		assert_str(req.target, rows[i].target);
		assert_str(req.path, rows[i].path);
		assert_str(req.query, rows[i].query);
	}
}

static void test_unsupported_versions_are_505(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), ERR, 505, NULL, "HTTP/2.0" },
		{ S("GET / HTTP/0.9\r\nHost: h\r\n\r\n"), ERR, 505, NULL, "HTTP/0.9" },
		{ S("GET / HTTP/3.0\r\nHost: h\r\n\r\n"), ERR, 505, NULL, "HTTP/3.0" },
		{ S("GET / HTTP/2.0\r\n\r\n"), ERR, 505, NULL, "505 comes before the Host check" },
	};
	RUN(cases);
}

/* HTTP/1.2 to 1.9 are well formed but no version we speak: 505, as for 2.0. */
static void test_higher_minor_versions_are_505(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), ERR, 505, NULL, "HTTP/1.2" },
		{ S("GET / HTTP/1.9\r\nHost: h\r\n\r\n"), ERR, 505, NULL, "HTTP/1.9" },
		{ S("GET / HTTP/1.9\r\n\r\n"), ERR, 505, NULL, "505 comes before the Host check" },
	};
	RUN(cases);
}

static void test_malformed_versions_are_400(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("GET / http/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "malformed HTTP version", "lower-case name" },
		{ S("GET / HTTP/1\r\nHost: h\r\n\r\n"), ERR, 400, "malformed HTTP version", "no minor" },
		{ S("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), ERR, 400, "malformed HTTP version", "two-digit minor" },
		{ S("GET / HTTP/11.1\r\nHost: h\r\n\r\n"), ERR, 400, "malformed HTTP version", "two-digit major" },
		{ S("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), ERR, 400, "malformed HTTP version", "trailing space" },
		{ S("GET / HTTP/1.1x\r\nHost: h\r\n\r\n"), ERR, 400, "malformed HTTP version", "trailing junk" },
		{ S("GET / HTTP/1,1\r\nHost: h\r\n\r\n"), ERR, 400, "malformed HTTP version", "comma" },
		{ S("GET / HTTPS/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "malformed HTTP version", "HTTPS" },
		{ S("GET / HTTP/a.1\r\nHost: h\r\n\r\n"), ERR, 400, "malformed HTTP version", "letter major" },
	};
	RUN(cases);
}

/* ---- line endings and framing of the head ---------------------------------------------- */

static void test_leading_empty_lines_are_skipped(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), ALL, 0, NULL, "one CRLF" },
		{ S("\n\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), ALL, 0, NULL, "mixed LF and CRLF" },
		{ S("\r\n\r\n"), PART, 0, NULL, "only empty lines" },
		{ S("\r"), PART, 0, NULL, "a lone CR may still become CRLF" },
		{ S("\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "bare CR", "bare CR among leading lines" },
	};
	RUN(cases);
	struct ka_http_request req;
	parse_ok(S("\r\n\nHEAD / HTTP/1.0\r\n\r\n"), &req);
	assert_str(req.method, "HEAD");
}

static void test_bare_lf_terminates_lines(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("GET / HTTP/1.1\nHost: h\n\n"), ALL, 0, NULL, "all LF" },
		{ S("GET / HTTP/1.1\r\nHost: h\n\r\n"), ALL, 0, NULL, "mixed" },
		{ S("GET / HTTP/1.1\nHost: h\r\n\n"), ALL, 0, NULL, "mixed, LF last" },
	};
	RUN(cases);
}

static void test_bare_cr_is_400(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("GET / HTTP/1.1\rHost: h\r\n\r\n"), ERR, 400, "bare CR", "CR ends request line" },
		{ S("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "bare CR", "CR in target" },
		{ S("GET\r/ HTTP/1.1\r\nHost: h\r\n\r\n"), ERR, 400, "bare CR", "CR after method" },
		{ S("GET / HTTP/1.1\r\r\nHost: h\r\n\r\n"), ERR, 400, "bare CR", "CR CR LF" },
		{ S("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"), ERR, 400, "bare CR", "CR in value" },
		{ S("GET / HTTP/1.1\r\nHo\rst: h\r\n\r\n"), ERR, 400, "bare CR", "CR in name" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\n\rX: y\r\n\r\n"), ERR, 400, "bare CR", "CR starts a line" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n"), ERR, 400, "bare CR", "CR CR LF as the end" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\n\rX"), ERR, 400, "bare CR", "found before the head is complete" },
	};
	RUN(cases);
}

static void test_partial_heads_are_partial(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S(""), PART, 0, NULL, "nothing" },
		{ S("GET"), PART, 0, NULL, "method only" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\n"), PART, 0, NULL, "no final empty line" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\n\r"), PART, 0, NULL, "final CR without LF" },
		{ S("GET / HTTP/1.1\r\nHost: h\r"), PART, 0, NULL, "CR at the very end" },
		{ S("G(T / HTTP/1.1\r\n"), PART, 0, NULL, "syntax is judged once the head is complete" },
	};
	RUN(cases);
}

static void test_pipelined_bytes_follow_the_head(void **state)
{
	(void)state;
	static const char two[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
	static const struct parse_case cases[] = {
		{ S("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"), 28, 0, NULL, "two requests" },
		{ S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"), 47, 0, NULL, "body after head" },
		{ S("GET / HTTP/1.1\nHost: h\n\n\r\n"), 24, 0, NULL, "LF head then a CRLF" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\n\r\n\r\rjunk"), 27, 0, NULL, "junk after the head is not ours" },
	};
	RUN(cases);
	struct ka_http_request req;
	const char *buf = guard_place(two, sizeof(two) - 1);
	ssize_t n = ka_http_parse_request(buf, sizeof(two) - 1, 0, &default_limits, &req);
	assert_int_equal(n, 28);
	assert_memory_equal(buf + n, "GET /b", 6);
}

/* ---- header lines --------------------------------------------------------------------- */

static void test_obs_fold_is_400(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"), ERR, 400, "obs-fold", "SP continuation" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"), ERR, 400, "obs-fold", "HTAB continuation" },
		{ S("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), ERR, 400, "obs-fold", "first header indented" },
	};
	RUN(cases);
}

static void test_space_before_colon_is_400(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), ERR, 400, "space before colon", "SP" },
		{ S("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n"), ERR, 400, "space before colon", "HTAB" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\n"), ERR, 400, "space before colon", "the classic smuggling form" },
	};
	RUN(cases);
}

static void test_malformed_header_names_are_400(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"), ERR, 400, "no colon", "no colon" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"), ERR, 400, "empty header field name", "empty name" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\nA\x01: v\r\n\r\n"), ERR, 400, "bad character", "CTL in name" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\nA\0B: v\r\n\r\n"), ERR, 400, "bad character", "NUL in name" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\nA(B): v\r\n\r\n"), ERR, 400, "bad character", "separator in name" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\n\xc3\xa9: v\r\n\r\n"), ERR, 400, "bad character", "obs-text in name" },
	};
	RUN(cases);
}

static void test_control_characters_in_values_are_400(void **state)
{
	(void)state;
	static const struct parse_case cases[] = {
		{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"), ERR, 400, "control character", "NUL in value" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n"), ERR, 400, "control character", "DEL in value" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\nX: \x1b[0m\r\n\r\n"), ERR, 400, "control character", "ESC in value" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\nX: \x0b\r\n\r\n"), ERR, 400, "control character", "VT as leading whitespace" },
		{ S("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb\r\n\r\n"), ALL, 0, NULL, "HTAB inside is fine" },
	};
	RUN(cases);
}

static void test_values_are_trimmed_but_keep_inner_whitespace(void **state)
{
	(void)state;
	struct ka_http_request req;
	parse_ok(S("GET / HTTP/1.1\r\nHost:h\r\nA: \t a \t b \t\r\nB:\r\nC:   \r\nD: caf\xc3\xa9 \xff\r\n\r\n"), &req);
	assert_int_equal(req.num_headers, 5);
	assert_str(req.headers[0].value, "h");
	assert_str(req.headers[1].value, "a \t b");
	assert_str(req.headers[2].value, "");
	assert_str(req.headers[3].value, "");
	assert_str(req.headers[4].value, "caf\xc3\xa9 \xff");
	assert_ptr_equal(ka_http_header_find(&req, "d"), &req.headers[4]);
	assert_ptr_equal(ka_http_header_find(&req, "HOST"), &req.headers[0]);
	assert_null(ka_http_header_find(&req, "E"));
}

/* ---- limits ------------------------------------------------------------------------------ */

static char big[64 * 1024];

/* Builds "GET /aaa... HTTP/1.1\r\nHost: h\r\n" + filler headers + "\r\n" into big. */
static size_t build_request(size_t target_len, size_t pad_to)
{
	size_t n = (size_t)sprintf(big, "GET /");
	memset(big + n, 'a', target_len - 1);
	n += target_len - 1;
	n += (size_t)sprintf(big + n, " HTTP/1.1\r\nHost: h\r\n");
	if (pad_to > n + 2) {
		/* one filler header "X: vvv\r\n" so the head is exactly pad_to bytes */
		size_t vlen = pad_to - n - 2 - 5;
		memcpy(big + n, "X: ", 3);
		memset(big + n + 3, 'v', vlen);
		memcpy(big + n + 3 + vlen, "\r\n", 2);
		n += 5 + vlen;
	}
	memcpy(big + n, "\r\n", 2);
	return n + 2;
}

static void test_target_limit_boundaries_414(void **state)
{
	(void)state;
	const struct ka_http_limits lim = { .max_head = 512, .max_target = 64 };
	size_t n = build_request(64, 0);
	run_parse_case(&(struct parse_case){ big, n, ALL, 0, NULL, "target exactly max_target" }, &lim);
	n = build_request(65, 0);
	run_parse_case(&(struct parse_case){ big, n, ERR, 414, NULL, "target one over max_target" }, &lim);
	/* Early: only "GET " and 65 target bytes have arrived. */
	struct ka_http_request req;
	assert_int_equal(ka_http_parse_request(guard_place(big, 4 + 65), 4 + 65, 0, &lim, &req), ERR);
	assert_int_equal(req.status, 414);
	assert_int_equal(ka_http_parse_request(guard_place(big, 4 + 64), 4 + 64, 0, &lim, &req), PART);
	/* Default limits: KA_HTTP_MAX_TARGET exactly, then one over. */
	const struct ka_http_limits dflt = { .max_head = 16384, .max_target = KA_HTTP_MAX_TARGET };
	n = build_request(KA_HTTP_MAX_TARGET, 0);
	assert_int_equal(ka_http_parse_request(guard_place(big, n), n, 0, &dflt, &req), (ssize_t)n);
	n = build_request(KA_HTTP_MAX_TARGET + 1, 0);
	assert_int_equal(ka_http_parse_request(guard_place(big, n), n, 0, &dflt, &req), ERR);
	assert_int_equal(req.status, 414);
}

static void test_head_limit_boundaries_431(void **state)
{
	(void)state;
	const struct ka_http_limits lim = { .max_head = 256, .max_target = 64 };
	size_t n = build_request(10, 256);
	assert_int_equal(n, 256);
	run_parse_case(&(struct parse_case){ big, n, ALL, 0, NULL, "head exactly max_head" }, &lim);
	n = build_request(10, 257);
	run_parse_case(&(struct parse_case){ big, n, ERR, 431, NULL, "head one over max_head" }, &lim);
	/* Incomplete: 255 bytes is still partial, 256 bytes without an end is 431. */
	struct ka_http_request req;
	assert_int_equal(ka_http_parse_request(guard_place(big, 255), 255, 0, &lim, &req), PART);
	assert_int_equal(ka_http_parse_request(guard_place(big, 256), 256, 0, &lim, &req), ERR);
	assert_int_equal(req.status, 431);
}

static void test_414_wins_over_431_when_the_request_line_shows_it(void **state)
{
	(void)state;
	const struct ka_http_limits lim = { .max_head = 256, .max_target = 64 };
	size_t n = build_request(65, 400);
	run_parse_case(&(struct parse_case){ big, n, ERR, 414, NULL, "target and head both over" }, &lim);
	n = build_request(300, 0);
	run_parse_case(&(struct parse_case){ big, n, ERR, 414, NULL, "target longer than max_head" }, &lim);
}

static void test_leading_empty_lines_count_toward_max_head(void **state)
{
	(void)state;
	const struct ka_http_limits lim = { .max_head = 256, .max_target = 64 };
	size_t n = 0;
	for (; n < 200; n += 2)
		memcpy(big + n, "\r\n", 2);
	n += (size_t)sprintf(big + n, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	run_parse_case(&(struct parse_case){ big, n, ALL, 0, NULL, "227 bytes with 200 skipped" }, &lim);
	n = 0;
	for (; n < 240; n += 2)
		memcpy(big + n, "\r\n", 2);
	n += (size_t)sprintf(big + n, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	run_parse_case(&(struct parse_case){ big, n, ERR, 431, NULL, "empty lines push it over" }, &lim);
	/* The request line starts too late to show its target within max_head: 431. */
	n = 0;
	for (; n < 240; n += 2)
		memcpy(big + n, "\r\n", 2);
	n += (size_t)sprintf(big + n, "GET /%0100d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
	run_parse_case(&(struct parse_case){ big, n, ERR, 431, NULL, "target beyond max_head" }, &lim);
}

static void test_too_many_headers_is_431(void **state)
{
	(void)state;
	for (int count = KA_HTTP_MAX_HEADERS; count <= KA_HTTP_MAX_HEADERS + 1; count++) {
		size_t n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: h\r\n");
		for (int i = 1; i < count; i++)
			n += (size_t)sprintf(big + n, "X-%d: %d\r\n", i, i);
		n += (size_t)sprintf(big + n, "\r\n");
		struct parse_case c = { big, n, ALL, 0, NULL, "exactly KA_HTTP_MAX_HEADERS" };
		if (count > KA_HTTP_MAX_HEADERS)
			c = (struct parse_case){ big, n, ERR, 431, "too many", "one header too many" };
		run_parse_case(&c, &default_limits);
	}
}

static void test_derived_fields_are_reset_each_call(void **state)
{
	(void)state;
	struct ka_http_request req;
	static const char a[] = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	                        "Connection: close, keep-alive\r\nExpect: 100-continue\r\n\r\n";
	static const char b[] = "GET / HTTP/1.0\r\n\r\n";
	assert_true(ka_http_parse_request(guard_place(a, sizeof(a) - 1), sizeof(a) - 1, 0, &default_limits, &req) > 0);
	assert_true(req.is_chunked && req.conn_close && req.conn_keep_alive && req.expect_continue);
	assert_true(ka_http_parse_request(guard_place(b, sizeof(b) - 1), sizeof(b) - 1, 0, &default_limits, &req) > 0);
	assert_false(req.is_chunked || req.conn_close || req.conn_keep_alive || req.expect_continue);
	assert_int_equal(req.num_headers, 0);
	assert_int_equal(req.content_length, -1);
	assert_int_equal(req.minor_version, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get_parses),
		cmocka_unit_test(test_method_ids_are_case_sensitive),
		cmocka_unit_test(test_malformed_request_line_is_400),
		cmocka_unit_test(test_target_outside_ascii_is_400),
		cmocka_unit_test(test_target_percent_encoded_utf8_parses),
		cmocka_unit_test(test_path_and_query_are_split_not_decoded),
		cmocka_unit_test(test_unsupported_versions_are_505),
		cmocka_unit_test(test_higher_minor_versions_are_505),
		cmocka_unit_test(test_malformed_versions_are_400),
		cmocka_unit_test(test_leading_empty_lines_are_skipped),
		cmocka_unit_test(test_bare_lf_terminates_lines),
		cmocka_unit_test(test_bare_cr_is_400),
		cmocka_unit_test(test_partial_heads_are_partial),
		cmocka_unit_test(test_pipelined_bytes_follow_the_head),
		cmocka_unit_test(test_obs_fold_is_400),
		cmocka_unit_test(test_space_before_colon_is_400),
		cmocka_unit_test(test_malformed_header_names_are_400),
		cmocka_unit_test(test_control_characters_in_values_are_400),
		cmocka_unit_test(test_values_are_trimmed_but_keep_inner_whitespace),
		cmocka_unit_test(test_target_limit_boundaries_414),
		cmocka_unit_test(test_head_limit_boundaries_431),
		cmocka_unit_test(test_414_wins_over_431_when_the_request_line_shows_it),
		cmocka_unit_test(test_leading_empty_lines_count_toward_max_head),
		cmocka_unit_test(test_too_many_headers_is_431),
		cmocka_unit_test(test_derived_fields_are_reset_each_call),
	};
	return cmocka_run_group_tests(tests, guard_setup, NULL);
}
