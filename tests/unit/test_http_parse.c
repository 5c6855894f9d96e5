/*
 * Tests for the HTTP/1 request-head parser and the chunked decoder (src/core/http_parse.c).
 * Each case is a table row (input, expected result and status, comment). Every input is
 * also fed split in two (first k bytes, then all of them with prev_len = k), and byte by
 * byte as a slow client would send it; every way must end in the same verdict and the
 * same slices. Inputs are placed so their last byte sits right before a PROT_NONE page:
 * reading one byte too far crashes the test instead of passing by luck.
 */
#include <stdio.h>
#include <string.h>

#include "core/http_parse.h"
#include "guard.h"

/* ---- request-head cases ---------------------------------------------------------------- */

#define ALL 0                          /* want: the whole input is the head */
#define PART KA_PARSE_PARTIAL
#define ERR KA_PARSE_ERROR

struct parse_case {
	const char *in;
	size_t len;
	ssize_t want;       /* head length, ALL, PART or ERR */
	int status;         /* with ERR */
	const char *error;  /* with ERR, optional: a substring of req->error */
	const char *comment;
};

static const struct ka_http_limits default_limits = { .max_head = 8192, .max_target = 2048 };

static void check_verdict(const struct parse_case *c, const char *how, size_t k, ssize_t got,
                          const struct ka_http_request *req)
{
	ssize_t want = c->want == ALL ? (ssize_t)c->len : c->want;
	if (got != want)
		fail_msg("%s [%s k=%zu]: got %zd (status %d, %s), want %zd", c->comment, how, k, got,
		         req->status, req->error ? req->error : "-", want);
	if (want != ERR)
		return;
	if (req->status != c->status)
		fail_msg("%s [%s k=%zu]: status %d (%s), want %d", c->comment, how, k, req->status,
		         req->error, c->status);
	assert_non_null(req->error);
	if (c->error != NULL && strstr(req->error, c->error) == NULL)
		fail_msg("%s [%s k=%zu]: error \"%s\", want \"%s\"", c->comment, how, k, req->error,
		         c->error);
}

/* Two parses of the same bytes at the same address must yield identical slices. */
static void check_same_request(const struct parse_case *c, size_t k, const struct ka_http_request *a,
                               const struct ka_http_request *b)
{
	bool same = a->method.p == b->method.p && a->method.len == b->method.len &&
	            a->method_id == b->method_id && a->target.p == b->target.p &&
	            a->target.len == b->target.len && a->path.len == b->path.len &&
	            a->query.len == b->query.len && a->minor_version == b->minor_version &&
	            a->num_headers == b->num_headers && a->content_length == b->content_length &&
	            a->is_chunked == b->is_chunked && a->conn_close == b->conn_close &&
	            a->conn_keep_alive == b->conn_keep_alive &&
	            a->expect_continue == b->expect_continue && a->status == b->status &&
	            a->error == b->error;
	for (size_t i = 0; same && i < a->num_headers; i++)
		same = memcmp(&a->headers[i], &b->headers[i], sizeof(a->headers[i])) == 0;
	if (!same)
		fail_msg("%s [split k=%zu]: request differs from the one-shot parse", c->comment, k);
}

static void run_parse_case(const struct parse_case *c, const struct ka_http_limits *lim)
{
	struct ka_http_request ref, req;
	const char *buf = guard_place(c->in, c->len);
	ssize_t got = ka_http_parse_request(buf, c->len, 0, lim, &ref);
	check_verdict(c, "whole", c->len, got, &ref);

	/* Every split: the first k bytes, then all of them, telling the parser prev_len = k. */
	for (size_t k = 0; k < c->len; k++) {
		got = ka_http_parse_request(guard_place(c->in, k), k, 0, lim, &req);
		if (got != PART) {
			check_verdict(c, "prefix", k, got, &req);
			continue;
		}
		got = ka_http_parse_request(guard_place(c->in, c->len), c->len, k, lim, &req);
		check_verdict(c, "split", k, got, &req);
		check_same_request(c, k, &ref, &req);
	}

	/* A slow client: one more byte each call, prev_len the previous length. */
	size_t prev = 0;
	got = PART;
	for (size_t k = 1; k <= c->len && got == PART; k++) {
		got = ka_http_parse_request(guard_place(c->in, k), k, prev, lim, &req);
		prev = k;
	}
	check_verdict(c, "bytewise", prev, got, &req);
}

static void run_parse_table(const struct parse_case *cases, size_t n,
                            const struct ka_http_limits *lim)
{
	for (size_t i = 0; i < n; i++)
		run_parse_case(&cases[i], lim);
}

#define RUN(table) run_parse_table((table), sizeof(table) / sizeof((table)[0]), &default_limits)

/* Runs every split of an input that must parse, then parses it once more into *req. */
static const char *parse_ok(const char *in, size_t len, struct ka_http_request *req)
{
	struct parse_case c = { in, len, ALL, 0, NULL, in };
	run_parse_case(&c, &default_limits);
	const char *buf = guard_place(in, len);
	assert_int_equal(ka_http_parse_request(buf, len, 0, &default_limits, req), (ssize_t)len);
	return buf;
}

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

/* ---- chunked decoder ----------------------------------------------------------------- */

struct chunk_case {
	const char *in;
	size_t len;
	ssize_t want;       /* bytes after the body, PART or ERR */
	const char *body;   /* decoded body (all of it when want >= 0, so far otherwise) */
	const char *error;  /* with ERR: a substring of d.error */
	const char *comment;
};

/* Feeds c->in in the given pieces, collects the decoded body and what followed it. */
static void run_chunk_pieces(const struct chunk_case *c, const size_t *cuts, size_t ncuts,
                             const char *how)
{
	struct ka_chunked d = { 0 };
	char body[4096], rest[4096];
	size_t body_len = 0, rest_len = 0, from = 0;
	ssize_t got = PART;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : c->len;
		if (got >= 0) {  /* done already: the caller keeps the remaining input */
			memcpy(rest + rest_len, c->in + from, to - from);
			rest_len += to - from;
		} else if (got == PART) {
			size_t n = to - from;
			char *buf = guard_place(c->in + from, n);
			got = ka_http_chunked_decode(&d, buf, &n);
			memcpy(body + body_len, buf, n);
			body_len += n;
			if (got >= 0) {
				memcpy(rest, buf + n, (size_t)got);
				rest_len = (size_t)got;
			}
		}
		from = to;
	}
	ssize_t want = c->want;
	if (want >= 0 && got >= 0)
		got = (ssize_t)rest_len;  /* compare the total left over, however it was split */
	if (got != want)
		fail_msg("%s [%s]: got %zd (%s), want %zd", c->comment, how, got,
		         d.error ? d.error : "-", want);
	if (got == ERR) {
		if (c->error && strstr(d.error, c->error) == NULL)
			fail_msg("%s [%s]: error \"%s\", want \"%s\"", c->comment, how, d.error, c->error);
		return;
	}
	if (body_len != strlen(c->body) || memcmp(body, c->body, body_len) != 0)
		fail_msg("%s [%s]: body \"%.*s\", want \"%s\"", c->comment, how, (int)body_len, body,
		         c->body);
	assert_int_equal(d.body_len, body_len);
	if (want >= 0 && memcmp(rest, c->in + c->len - rest_len, rest_len) != 0)
		fail_msg("%s [%s]: bytes after the body are wrong", c->comment, how);
}

static void run_chunk_table(const struct chunk_case *cases, size_t n)
{
	static size_t cuts[4096];
	for (size_t i = 0; i < n; i++) {
		const struct chunk_case *c = &cases[i];
		run_chunk_pieces(c, NULL, 0, "whole");
		for (size_t k = 0; k <= c->len; k++)
			run_chunk_pieces(c, &k, 1, "split");
		for (size_t k = 0; k < c->len; k++)
			cuts[k] = k + 1;
		run_chunk_pieces(c, cuts, c->len, "bytewise");
	}
}

#define RUN_CHUNKS(table) run_chunk_table((table), sizeof(table) / sizeof((table)[0]))

static void test_chunked_bodies_decode(void **state)
{
	(void)state;
	static const struct chunk_case cases[] = {
		{ S("5\r\nhello\r\n0\r\n\r\n"), 0, "hello", NULL, "one chunk" },
		{ S("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), 0, "hello world", NULL, "two chunks" },
		{ S("0\r\n\r\n"), 0, "", NULL, "empty body" },
		{ S("A\r\n0123456789\r\n0\r\n\r\n"), 0, "0123456789", NULL, "upper-case hex" },
		{ S("a\r\n0123456789\r\n000\r\n\r\n"), 0, "0123456789", NULL, "lower-case hex, zeros" },
		{ S("0000000000000005\r\nhello\r\n0\r\n\r\n"), 0, "hello", NULL, "16 hex digits" },
		{ S("5\nhello\r\n0\r\n\r\n"), ERR, "", "bare LF", "bare LF after a chunk size" },
		{ S("5;a=b\nhello\r\n0\r\n\r\n"), ERR, "", "bare LF", "bare LF after an extension" },
		{ S("3\r\n\r\n;\r\n0\r\n\r\n"), 0, "\r\n;", NULL, "data may hold CRLF" },
		{ S("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), 16, "hello", NULL, "pipelined request follows" },
		{ S("0\r\n\r\n\r\n"), 2, "", NULL, "one CRLF after the body is not ours" },
		{ S("5\r\nhel"), PART, "hel", NULL, "inside data" },
		{ S("5\r\nhello\r\n0\r\n"), PART, "hello", NULL, "trailer section not finished" },
		{ S("5\r\nhello\r\n0\r\nX: y\r\n"), PART, "hello", NULL, "inside trailers" },
	};
	RUN_CHUNKS(cases);
}

static void test_chunk_extensions_are_validated(void **state)
{
	(void)state;
	static const struct chunk_case cases[] = {
		{ S("5;a\r\nhello\r\n0\r\n\r\n"), 0, "hello", NULL, "bare name" },
		{ S("5 ; a = b ;c=\"q \\\" d\"\r\nhello\r\n0;last\r\n\r\n"), 0, "hello", NULL, "BWS, token and quoted values" },
		{ S("5;a=\"\xff\"\r\nhello\r\n0\r\n\r\n"), 0, "hello", NULL, "obs-text in quoted value" },
		{ S("5;\r\nhello\r\n0\r\n\r\n"), ERR, "", "bad chunk extension", "no name" },
		{ S("5;a=\r\nhello\r\n0\r\n\r\n"), ERR, "", "bad chunk extension", "no value" },
		{ S("5;a=b c\r\nhello\r\n0\r\n\r\n"), ERR, "", "bad chunk extension", "junk after value" },
		{ S("5 \r\nhello\r\n0\r\n\r\n"), ERR, "", "bad chunk extension", "BWS not followed by ;" },
		{ S("5;a=\"b\r\nhello\r\n0\r\n\r\n"), ERR, "", "bad chunk extension", "unterminated quote" },
		{ S("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n"), ERR, "", "bad chunk extension", "junk after quote" },
		{ S("5;a@b\r\nhello\r\n0\r\n\r\n"), ERR, "", "bad chunk extension", "non-token name" },
		{ S("5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n"), ERR, "", "bad chunk extension", "CTL in quoted value" },
	};
	RUN_CHUNKS(cases);
}

static void test_bad_chunk_framing_is_an_error(void **state)
{
	(void)state;
	static const struct chunk_case cases[] = {
		{ S("\r\nhello\r\n0\r\n\r\n"), ERR, "", "bad chunk size", "no size" },
		{ S("x\r\n"), ERR, "", "bad chunk size", "not hex" },
		{ S("0x5\r\nhello\r\n0\r\n\r\n"), ERR, "", "bad chunk size", "0x prefix" },
		{ S("-5\r\nhello\r\n0\r\n\r\n"), ERR, "", "bad chunk size", "sign" },
		{ S("00000000000000005\r\nhello\r\n0\r\n\r\n"), ERR, "", "bad chunk size", "17 hex digits" },
		{ S("4000000000000001\r\n"), ERR, "", "bad chunk size", "over 2^62" },
		{ S("5\rhello\r\n0\r\n\r\n"), ERR, "", "bare CR", "bare CR after size" },
		{ S("5\r\nhelloX\r\n0\r\n\r\n"), ERR, "hello", "bad chunk data CRLF", "data longer than size" },
		{ S("5\r\nhello\n0\r\n\r\n"), ERR, "hello", "bad chunk data CRLF", "LF alone after data" },
		{ S("5\r\nhello\r0\r\n\r\n"), ERR, "hello", "bad chunk data CRLF", "CR alone after data" },
	};
	RUN_CHUNKS(cases);
}

static void test_chunked_trailers_are_validated(void **state)
{
	(void)state;
	static const struct chunk_case cases[] = {
		{ S("0\r\nExpires: never\r\nX-Sum:\tab c \r\n\r\nNEXT"), 4, "", NULL, "two trailers, then next request" },
		{ S("0\r\nX: y\n\r\n"), ERR, "", "bare LF", "bare LF ends a trailer field" },
		{ S("0\r\n\n"), ERR, "", "bare LF", "bare LF ends the trailer section" },
		{ S("0\r\nX : y\r\n\r\n"), ERR, "", "space before colon", "space before colon" },
		{ S("0\r\nX: y\r\n z\r\n\r\n"), ERR, "", "obs-fold", "obs-fold" },
		{ S("0\r\nXy\r\n\r\n"), ERR, "", "no colon", "no colon" },
		{ S("0\r\n: y\r\n\r\n"), ERR, "", "bad trailer field name", "empty name" },
		{ S("0\r\nX: a\0b\r\n\r\n"), ERR, "", "control character", "NUL in value" },
		{ S("0\r\nX: y\r\r\n"), ERR, "", "bare CR", "bare CR in trailer" },
		{ S("0\r\n\rX"), ERR, "", "bare CR", "bare CR as final line" },
	};
	RUN_CHUNKS(cases);

	/* Trailers of exactly 8 KiB pass; one byte more fails. */
	static char in[9000];
	for (size_t total = 8192; total <= 8193; total++) {
		size_t n = (size_t)sprintf(in, "0\r\nX: ");
		size_t vlen = total - 7;  /* the section is "X: " value CRLF CRLF */
		memset(in + n, 'v', vlen);
		n += vlen;
		n += (size_t)sprintf(in + n, "\r\n\r\n");
		struct chunk_case c = { in, n, 0, "", NULL, "trailers exactly 8 KiB" };
		if (total > 8192)
			c = (struct chunk_case){ in, n, ERR, "", "trailer section too large", "8 KiB + 1" };
		run_chunk_pieces(&c, NULL, 0, "whole");
		size_t k = n / 2;
		run_chunk_pieces(&c, &k, 1, "split");
	}
}

static void test_chunked_errors_are_sticky(void **state)
{
	(void)state;
	struct ka_chunked d = { 0 };
	char bad[] = "z\r\n", good[] = "0\r\n\r\n";
	size_t n = 3;
	assert_int_equal(ka_http_chunked_decode(&d, bad, &n), ERR);
	n = 5;
	assert_int_equal(ka_http_chunked_decode(&d, good, &n), ERR);
	assert_int_equal(n, 0);
}

/* What a chunk announces before its bytes come: a lower bound while the size line
 * arrives, then what is left of the data, 0 between chunks. */
static void test_chunked_pending_counts_announced_bytes(void **state)
{
	(void)state;
	struct ka_chunked d = { 0 };
	char a[] = "1", b[] = "0", c[] = "0\r\nabc", e[] = "defgh", f[] = "0\r\n";
	size_t n;

	n = 1;
	assert_int_equal(ka_http_chunked_decode(&d, a, &n), KA_PARSE_PARTIAL);
	assert_int_equal(ka_http_chunked_pending(&d), 0x1);
	n = 1;
	assert_int_equal(ka_http_chunked_decode(&d, b, &n), KA_PARSE_PARTIAL);
	assert_int_equal(ka_http_chunked_pending(&d), 0x10);
	n = 6;
	assert_int_equal(ka_http_chunked_decode(&d, c, &n), KA_PARSE_PARTIAL);
	assert_int_equal(n, 3);
	assert_int_equal(ka_http_chunked_pending(&d), 0x100 - 3);
	n = 5;
	assert_int_equal(ka_http_chunked_decode(&d, e, &n), KA_PARSE_PARTIAL);
	assert_int_equal(ka_http_chunked_pending(&d), 0x100 - 8);

	struct ka_chunked z = { 0 };
	char small[] = "3\r\nxyz\r\n";
	n = 8;
	assert_int_equal(ka_http_chunked_decode(&z, small, &n), KA_PARSE_PARTIAL);
	assert_int_equal(ka_http_chunked_pending(&z), 0);
	n = 3;  /* the last chunk: trailers next */
	assert_int_equal(ka_http_chunked_decode(&z, f, &n), KA_PARSE_PARTIAL);
	assert_int_equal(ka_http_chunked_pending(&z), 0);
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
		cmocka_unit_test(test_host_rules),
		cmocka_unit_test(test_absolute_form_authority_rules),
		cmocka_unit_test(test_content_length_list_forms),
		cmocka_unit_test(test_transfer_encoding_chunked_is_accepted),
		cmocka_unit_test(test_transfer_encoding_errors_in_order),
		cmocka_unit_test(test_connection_token_lists),
		cmocka_unit_test(test_token_list_helper),
		cmocka_unit_test(test_expect_100_continue),
		cmocka_unit_test(test_target_limit_boundaries_414),
		cmocka_unit_test(test_head_limit_boundaries_431),
		cmocka_unit_test(test_414_wins_over_431_when_the_request_line_shows_it),
		cmocka_unit_test(test_leading_empty_lines_count_toward_max_head),
		cmocka_unit_test(test_too_many_headers_is_431),
		cmocka_unit_test(test_derived_fields_are_reset_each_call),
		cmocka_unit_test(test_chunked_bodies_decode),
		cmocka_unit_test(test_chunk_extensions_are_validated),
		cmocka_unit_test(test_bad_chunk_framing_is_an_error),
		cmocka_unit_test(test_chunked_trailers_are_validated),
		cmocka_unit_test(test_chunked_errors_are_sticky),
		cmocka_unit_test(test_chunked_pending_counts_announced_bytes),
	};
	return cmocka_run_group_tests(tests, guard_setup, NULL);
}
