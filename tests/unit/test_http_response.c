/*
 * Tests for the HTTP/1 response-head parser, the body-framing and persistence helpers,
 * and the Keep-Alive parameter parser (src/core/http_response.c). Parser cases are
 * table rows (input, expected result, error, comment); every input is also fed as each
 * of its prefixes (which must be partial or get the whole input's verdict), split in
 * two with prev_len, and byte by byte, and every way must end in the same verdict and
 * the same slices. Inputs end right before a PROT_NONE page, so an over-read crashes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http_response.h"
#include "guard.h"

/* ---- the table machinery ----------------------------------------------------------------- */

struct resp_case {
	const char *in;
	size_t len;
	ssize_t want;       /* head length, ALL, PART or ERR */
	const char *error;  /* with ERR: a substring of resp->error */
	const char *comment;
};

static void check_verdict(const struct resp_case *c, const char *how, size_t k, ssize_t got,
                          const struct ka_http_response *r)
{
	ssize_t want = c->want == ALL ? (ssize_t)c->len : c->want;
	if (got != want)
		fail_msg("%s [%s k=%zu]: got %zd (%s), want %zd", c->comment, how, k, got,
		         r->error ? r->error : "-", want);
	if (want == ERR) {
		assert_non_null(r->error);
		if (c->error != NULL && strstr(r->error, c->error) == NULL)
			fail_msg("%s [%s k=%zu]: error \"%s\", want \"%s\"", c->comment, how, k,
			         r->error, c->error);
	}
}

static void check_same(const struct resp_case *c, size_t k, const struct ka_http_response *a,
                       const struct ka_http_response *b)
{
	bool same = a->minor_version == b->minor_version && a->status == b->status &&
	            a->reason.p == b->reason.p && a->reason.len == b->reason.len &&
	            a->num_headers == b->num_headers && a->content_length == b->content_length &&
	            a->has_transfer_encoding == b->has_transfer_encoding &&
	            a->is_chunked == b->is_chunked && a->conn_close == b->conn_close &&
	            a->conn_keep_alive == b->conn_keep_alive && a->error == b->error;
	for (size_t i = 0; same && i < a->num_headers; i++)
		same = memcmp(&a->headers[i], &b->headers[i], sizeof(a->headers[i])) == 0;
	if (!same)
		fail_msg("%s [split k=%zu]: response differs from the one-shot parse", c->comment, k);
}

static void run_case(const struct resp_case *c)
{
	/* Large: the struct holds KA_HTTP_MAX_HEADERS slices; keep it off the stack. */
	static struct ka_http_response ref, r;
	ssize_t got = ka_http_parse_response(guard_place(c->in, c->len), c->len, 0, &ref);
	check_verdict(c, "whole", c->len, got, &ref);

	for (size_t k = 0; k < c->len; k++) {
		got = ka_http_parse_response(guard_place(c->in, k), k, 0, &r);
		if (got != PART) {
			check_verdict(c, "prefix", k, got, &r);
			continue;
		}
		got = ka_http_parse_response(guard_place(c->in, c->len), c->len, k, &r);
		check_verdict(c, "split", k, got, &r);
		check_same(c, k, &ref, &r);
	}

	size_t prev = 0;
	got = PART;
	for (size_t k = 1; k <= c->len && got == PART; k++) {
		got = ka_http_parse_response(guard_place(c->in, k), k, prev, &r);
		prev = k;
	}
	check_verdict(c, "bytewise", prev, got, &r);
}

#define RUN(table)                                                      \
	do {                                                                \
		for (size_t i_ = 0; i_ < sizeof(table) / sizeof((table)[0]); i_++) \
			run_case(&(table)[i_]);                                     \
	} while (0)

static struct ka_http_response parsed;

/* Every split of an input that must parse whole, then one more parse into `parsed`. */
static const char *parse_ok(const char *in, size_t len)
{
	struct resp_case c = { in, len, ALL, NULL, in };
	run_case(&c);
	const char *buf = guard_place(in, len);
	assert_int_equal(ka_http_parse_response(buf, len, 0, &parsed), (ssize_t)len);
	return buf;
}

/* ---- status line ----------------------------------------------------------------------- */

static void test_simple_response_parses(void **state)
{
	(void)state;
	parse_ok(S("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 12\r\n"
	           "Connection: keep-alive\r\nKeep-Alive:  timeout=3 \r\n\r\n"));
	assert_int_equal(parsed.minor_version, 1);
	assert_int_equal(parsed.status, 200);
	assert_str(parsed.reason, "OK");
	assert_int_equal(parsed.num_headers, 4);
	assert_str(parsed.headers[0].name, "Server");
	assert_str(parsed.headers[0].value, "nginx/1.22.1");
	assert_str(parsed.headers[3].value, "timeout=3");
	assert_int_equal(parsed.content_length, 12);
	assert_true(parsed.conn_keep_alive);
	assert_false(parsed.conn_close || parsed.is_chunked || parsed.has_transfer_encoding);
	assert_null(parsed.error);
	const struct ka_http_header *h = ka_http_response_header_find(&parsed, "keep-ALIVE");
	assert_non_null(h);
	assert_str(h->value, "timeout=3");
	assert_null(ka_http_response_header_find(&parsed, "Keep"));
}

static void test_status_line_forms(void **state)
{
	(void)state;
	static const struct { const char *in; int minor, status; const char *reason; } rows[] = {
		{ "HTTP/1.0 404 Not Found\r\n\r\n", 0, 404, "Not Found" },
		{ "HTTP/1.1 204\r\n\r\n", 1, 204, "" },             /* no SP, no reason */
		{ "HTTP/1.1 204 \r\n\r\n", 1, 204, "" },            /* SP, empty reason */
		{ "HTTP/1.1 200 \t OK\xe9 \r\n\r\n", 1, 200, "\t OK\xe9 " },  /* kept as sent */
		{ "HTTP/1.1 100 Continue\n\n", 1, 100, "Continue" },  /* bare LF */
		{ "HTTP/1.9 999 Whatever\r\n\r\n", 9, 999, "Whatever" },
		{ "HTTP/1.1 599 x\r\n\r\n", 1, 599, "x" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		parse_ok(rows[i].in, strlen(rows[i].in));
		assert_int_equal(parsed.minor_version, rows[i].minor);
		assert_int_equal(parsed.status, rows[i].status);
		assert_str(parsed.reason, rows[i].reason);
		assert_int_equal(parsed.num_headers, 0);
	}
}

static void test_not_http_is_an_error_at_its_first_byte(void **state)
{
	(void)state;
	static const struct resp_case cases[] = {
		{ S("hello\n"), ERR, "not an HTTP response", "a greeting" },
		{ S("h"), ERR, "not an HTTP response", "one byte is enough" },
		{ S("SSH-2.0-OpenSSH_9.2\r\n"), ERR, "not an HTTP response", "ssh banner" },
		{ S("\r\nHTTP/1.1 200 OK\r\n\r\n"), ERR, "not an HTTP response", "leading empty line" },
		{ S("http/1.1 200 OK\r\n\r\n"), ERR, "not an HTTP response", "lower case" },
		{ S("HTTP/2 200\r\n\r\n"), ERR, "unsupported HTTP version", "HTTP/2" },
		{ S("HTTP/2.0 200 OK\r\n\r\n"), ERR, "unsupported HTTP version", "HTTP/2.0" },
		{ S("HTTP/x.1 200 OK\r\n\r\n"), ERR, "malformed HTTP version", "letter major" },
		{ S("HTTP/1,1 200 OK\r\n\r\n"), ERR, "malformed HTTP version", "comma" },
		{ S("HTTP/1.x 200 OK\r\n\r\n"), ERR, "malformed HTTP version", "letter minor" },
		{ S("HTTP/1.11 200 OK\r\n\r\n"), ERR, "malformed status line", "two minor digits" },
		{ S("HTTP/1.1  200 OK\r\n\r\n"), ERR, "bad status code", "two spaces" },
		{ S("HTTP/1.1\t200 OK\r\n\r\n"), ERR, "malformed status line", "tab" },
		{ S("HTTP/1.1 20 OK\r\n\r\n"), ERR, "bad status code", "two digits" },
		{ S("HTTP/1.1 2000 OK\r\n\r\n"), ERR, "bad status code", "four digits" },
		{ S("HTTP/1.1 099 OK\r\n\r\n"), ERR, "bad status code", "below 100" },
		{ S("HTTP/1.1 2x0 OK\r\n\r\n"), ERR, "bad status code", "letter in code" },
		{ S("HTTP/1.1 200\rOK\r\n\r\n"), ERR, "bare CR in status line", "bare CR after code" },
		{ S("HTTP/1.1 200 O\rK\r\n\r\n"), ERR, "bare CR in status line", "bare CR in reason" },
		{ S("HTTP/1.1 200 O\x01K\r\n\r\n"), ERR, "control character in reason", "CTL in reason" },
		{ S("HTTP/1.1 200 O\x7fK\r\n\r\n"), ERR, "control character in reason", "DEL in reason" },
		{ S("HTTP/1.1 200 OK\0\r\n\r\n"), ERR, "control character in reason", "NUL in reason" },
	};
	RUN(cases);
}

static void test_partial_heads_are_partial(void **state)
{
	(void)state;
	static const struct resp_case cases[] = {
		{ S(""), PART, NULL, "nothing yet" },
		{ S("HTTP/1.1 200"), PART, NULL, "code" },
		{ S("HTTP/1.1 200\r"), PART, NULL, "CR after code" },
		{ S("HTTP/1.1 200 OK\r\n"), PART, NULL, "status line only" },
		{ S("HTTP/1.1 200 OK\r\nA: b\r\n\r"), PART, NULL, "last CR" },
		{ S("HTTP/1.1 200 OK\r\nA: b\n"), PART, NULL, "bare LF, no end yet" },
	};
	RUN(cases);
}

static void test_bytes_after_the_head_are_not_consumed(void **state)
{
	(void)state;
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
	static const struct resp_case cases[] = {
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n\r\n"),
		  sizeof(head) - 1, NULL, "a body and a pipelined response follow" },
		{ S("HTTP/1.1 304 Not Modified\n\nxyz"), 27, NULL, "bare LF head, junk after" },
		{ S("HTTP/1.1 200 OK\r\n\r\n\r\n"), 19, NULL, "an empty line after is body" },
	};
	RUN(cases);
}

/* ---- header fields --------------------------------------------------------------------- */

static void test_malformed_header_lines_are_errors(void **state)
{
	(void)state;
	static const struct resp_case cases[] = {
		{ S("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n"), ERR, "obs-fold", "obs-fold SP" },
		{ S("HTTP/1.1 200 OK\r\nA: b\r\n\tc\r\n\r\n"), ERR, "obs-fold", "obs-fold HTAB" },
		{ S("HTTP/1.1 200 OK\r\nA : b\r\n\r\n"), ERR, "space before colon", "SP before colon" },
		{ S("HTTP/1.1 200 OK\r\nAb\r\n\r\n"), ERR, "no colon", "no colon" },
		{ S("HTTP/1.1 200 OK\r\n: b\r\n\r\n"), ERR, "empty header field name", "empty name" },
		{ S("HTTP/1.1 200 OK\r\nA(b: c\r\n\r\n"), ERR, "bad character in header field name", "paren" },
		{ S("HTTP/1.1 200 OK\r\nA\rb: c\r\n\r\n"), ERR, "bare CR in header field", "CR in name" },
		{ S("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n"), ERR, "bare CR in header field", "CR in value" },
		{ S("HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n"), ERR, "control character", "CTL in value" },
		{ S("HTTP/1.1 200 OK\r\n\rX: y\r\n\r\n"), ERR, "bare CR", "bare CR at a line start" },
	};
	RUN(cases);
}

static void test_values_are_trimmed_and_empty_values_allowed(void **state)
{
	(void)state;
	parse_ok(S("HTTP/1.1 200 OK\r\nX-A:\t two  words \t\r\nX-B:\r\nX-C:   \r\n\r\n"));
	assert_int_equal(parsed.num_headers, 3);
	assert_str(parsed.headers[0].value, "two  words");
	assert_str(parsed.headers[1].value, "");
	assert_str(parsed.headers[2].value, "");
}

static void test_header_count_and_head_size_are_bounded(void **state)
{
	(void)state;
	static char in[KA_HTTP_MAX_RESPONSE_HEAD + 64];
	size_t n = (size_t)snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < KA_HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "X-%d: v\r\n", i);
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
	parse_ok(in, n);
	assert_int_equal(parsed.num_headers, KA_HTTP_MAX_HEADERS);

	n -= 2;
	n += (size_t)snprintf(in + n, sizeof(in) - n, "X-last: v\r\n\r\n");
	struct resp_case c = { in, n, ERR, "too many header fields", "101 fields" };
	run_case(&c);

	/* A head that has not ended within the limit is an error, not partial. */
	n = (size_t)snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nX: ");
	memset(in + n, 'a', sizeof(in) - n);
	struct ka_http_response r;
	assert_int_equal(ka_http_parse_response(in, KA_HTTP_MAX_RESPONSE_HEAD - 1, 0, &r), PART);
	assert_int_equal(ka_http_parse_response(in, KA_HTTP_MAX_RESPONSE_HEAD, 0, &r), ERR);
	assert_string_equal(r.error, "response head too large");
	assert_int_equal(ka_http_parse_response(in, sizeof(in), 0, &r), ERR);
	/* One that ended inside it parses, whatever follows. */
	memcpy(in + KA_HTTP_MAX_RESPONSE_HEAD - 4, "\r\n\r\n", 4);
	assert_int_equal(ka_http_parse_response(in, sizeof(in), 0, &r), KA_HTTP_MAX_RESPONSE_HEAD);
}

/* ---- framing headers -------------------------------------------------------------------- */

static void test_content_length_rules(void **state)
{
	(void)state;
	static const struct resp_case cases[] = {
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n"), ALL, NULL, "repeated, equal" },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387904\r\n\r\n"), ALL, NULL, "2^62" },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387905\r\n\r\n"), ERR, "too large", "2^62+1" },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n"), ERR, "too large", "huge" },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), ERR, "conflicting", "conflict" },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n"), ERR, "bad Content-Length", "a list" },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), ERR, "bad Content-Length", "negative" },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n"), ERR, "bad Content-Length", "plus" },
		{ S("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n"), ERR, "bad Content-Length", "empty" },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n"), ERR, "bad Content-Length", "hex" },
	};
	RUN(cases);
	parse_ok(S("HTTP/1.1 200 OK\r\nContent-Length: 0007\r\n\r\n"));
	assert_int_equal(parsed.content_length, 7);
}

static void test_transfer_encoding_rules(void **state)
{
	(void)state;
	static const struct resp_case cases[] = {
		{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), ERR,
		  "Transfer-Encoding with Content-Length", "TE and CL" },
		{ S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), ERR,
		  "Transfer-Encoding in HTTP/1.0", "TE in 1.0" },
		{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), ERR,
		  "more than once", "chunked twice" },
		{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), ERR,
		  "more than once", "chunked twice across lines" },
		{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,,chunked\r\n\r\n"), ERR,
		  "bad Transfer-Encoding", "empty member" },
		{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n"), ERR, "bad Transfer-Encoding", "empty" },
		{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chu nked\r\n\r\n"), ERR,
		  "bad Transfer-Encoding", "space inside" },
	};
	RUN(cases);

	static const struct { const char *in; bool chunked; } ok[] = {
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n", true },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip , chunked\r\n\r\n", true },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", true },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", false },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		parse_ok(ok[i].in, strlen(ok[i].in));
		assert_true(parsed.has_transfer_encoding);
		if (parsed.is_chunked != ok[i].chunked)
			fail_msg("%s: is_chunked %d", ok[i].in, parsed.is_chunked);
	}
}

static void test_connection_tokens(void **state)
{
	(void)state;
	static const struct { const char *in; bool close, keep_alive; } rows[] = {
		{ "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", true, false },
		{ "HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\n\r\n", false, true },
		{ "HTTP/1.1 200 OK\r\nConnection: upgrade , CLOSE\r\n\r\n", true, false },
		{ "HTTP/1.1 200 OK\r\nConnection: te\r\nConnection: keep-alive\r\n\r\n", false, true },
		{ "HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n", false, false },
		{ "HTTP/1.1 200 OK\r\nX-Connection: close\r\n\r\n", false, false },
		{ "HTTP/1.1 200 OK\r\nConnection:\r\n\r\n", false, false },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		parse_ok(rows[i].in, strlen(rows[i].in));
		if (parsed.conn_close != rows[i].close || parsed.conn_keep_alive != rows[i].keep_alive)
			fail_msg("%s: close %d keep-alive %d", rows[i].in, parsed.conn_close,
			         parsed.conn_keep_alive);
	}
}

static void test_derived_fields_are_reset_each_call(void **state)
{
	(void)state;
	struct ka_http_response r;
	const char *a = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close, keep-alive\r\n\r\n";
	const char *b = "HTTP/1.1 200 OK\r\n\r\n";
	assert_true(ka_http_parse_response(a, strlen(a), 0, &r) > 0);
	assert_true(r.is_chunked && r.conn_close && r.conn_keep_alive);
	assert_true(ka_http_parse_response(b, strlen(b), 0, &r) > 0);
	assert_false(r.is_chunked || r.has_transfer_encoding || r.conn_close || r.conn_keep_alive);
	assert_int_equal(r.content_length, -1);
	assert_int_equal(r.num_headers, 0);
}

/* ---- framing and persistence helpers ----------------------------------------------------- */

static void test_body_framing_follows_rfc9112_6_3(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		enum ka_http_method method;
		enum ka_http_body_framing want;
	} rows[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", KA_METHOD_HEAD, KA_HTTP_BODY_NONE },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", KA_METHOD_HEAD, KA_HTTP_BODY_NONE },
		{ "HTTP/1.1 100 Continue\r\n\r\n", KA_METHOD_GET, KA_HTTP_BODY_NONE },
		{ "HTTP/1.1 101 Switching\r\n\r\n", KA_METHOD_GET, KA_HTTP_BODY_NONE },
		{ "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", KA_METHOD_GET, KA_HTTP_BODY_NONE },
		{ "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", KA_METHOD_GET, KA_HTTP_BODY_NONE },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", KA_METHOD_GET, KA_HTTP_BODY_CHUNKED },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", KA_METHOD_GET, KA_HTTP_BODY_CLOSE },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", KA_METHOD_GET, KA_HTTP_BODY_LENGTH },
		{ "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n", KA_METHOD_POST, KA_HTTP_BODY_LENGTH },
		{ "HTTP/1.1 200 OK\r\n\r\n", KA_METHOD_GET, KA_HTTP_BODY_CLOSE },
		{ "HTTP/1.0 200 OK\r\n\r\n", KA_METHOD_GET, KA_HTTP_BODY_CLOSE },
		{ "HTTP/1.0 200 OK\r\n\r\n", KA_METHOD_HEAD, KA_HTTP_BODY_NONE },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		parse_ok(rows[i].in, strlen(rows[i].in));
		enum ka_http_body_framing got = ka_http_response_framing(&parsed, rows[i].method);
		if (got != rows[i].want)
			fail_msg("row %zu (%s): framing %d, want %d", i, rows[i].in, got, rows[i].want);
	}
}

static void test_keeps_open_follows_rfc9112_9_3(void **state)
{
	(void)state;
	static const struct { const char *in; bool want; } rows[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", true },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n", false },
		{ "HTTP/1.1 200 OK\r\n\r\n", false },  /* close-delimited */
		{ "HTTP/1.1 204 No Content\r\n\r\n", true },
		{ "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false },
		{ "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", true },
		{ "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", false },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n", true },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		parse_ok(rows[i].in, strlen(rows[i].in));
		bool got = ka_http_response_keeps_open(&parsed,
		                                       ka_http_response_framing(&parsed, KA_METHOD_GET));
		if (got != rows[i].want)
			fail_msg("%s: keeps_open %d", rows[i].in, got);
	}
}

/* A head, then its chunked body through the core decoder, then the next response. */
static void test_chunked_body_after_head_decodes_with_the_core_decoder(void **state)
{
	(void)state;
	char in[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	            "5\r\nhello\r\n1;x=y\r\n!\r\n0\r\nT: v\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
	struct ka_http_response r;
	ssize_t head = ka_http_parse_response(in, sizeof(in) - 1, 0, &r);
	assert_true(head > 0);
	assert_int_equal(ka_http_response_framing(&r, KA_METHOD_GET), KA_HTTP_BODY_CHUNKED);
	struct ka_chunked d = { 0 };
	size_t n = sizeof(in) - 1 - (size_t)head;
	ssize_t after = ka_http_chunked_decode(&d, in + head, &n);
	assert_int_equal(n, 6);
	assert_memory_equal(in + head, "hello!", 6);
	assert_int_equal(after, 27);
	assert_int_equal(ka_http_parse_response(in + head + n, (size_t)after, 0, &r), 27);
	assert_int_equal(r.status, 204);
}

/* ---- Keep-Alive parameters ---------------------------------------------------------------- */

static void test_keep_alive_parameters(void **state)
{
	(void)state;
	static const struct { const char *in; int64_t timeout, max; } rows[] = {
		{ "timeout=5, max=100", 5, 100 },
		{ "timeout=3", 3, -1 },
		{ "max=7", -1, 7 },
		{ "Timeout=5,MAX=9", 5, 9 },
		{ "  timeout = 5 ,  max = 6  ", 5, 6 },
		{ "timeout=\"4\", max=\"2\"", 4, 2 },
		{ "timeout=0, max=0", 0, 0 },
		{ "foo=bar, timeout=2, baz", 2, -1 },
		{ "timeout=2, timeout=9", 2, -1 },        /* the first counts */
		{ "timeout=abc, max=3", -1, 3 },
		{ "timeout=, max=", -1, -1 },
		{ "timeout=-1", -1, -1 },
		{ "timeout=1.5", -1, -1 },
		{ "timeout=999999999999999999", 999999999999999999LL, -1 },
		{ "timeout=9999999999999999999", -1, -1 },  /* 19 digits */
		{ "timeout", -1, -1 },
		{ "timeouts=5, maximum=3", -1, -1 },
		{ "", -1, -1 },
		{ ",,,", -1, -1 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		/* Placed against the guard page: the parser must not read past the value. */
		size_t len = strlen(rows[i].in);
		struct ka_str v = { guard_place(rows[i].in, len), len };
		int64_t t = 0, m = 0;
		ka_http_keep_alive_parse(v, &t, &m);
		if (t != rows[i].timeout || m != rows[i].max)
			fail_msg("\"%s\": timeout %lld max %lld, want %lld %lld", rows[i].in, (long long)t,
			         (long long)m, (long long)rows[i].timeout, (long long)rows[i].max);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_response_parses),
		cmocka_unit_test(test_status_line_forms),
		cmocka_unit_test(test_not_http_is_an_error_at_its_first_byte),
		cmocka_unit_test(test_partial_heads_are_partial),
		cmocka_unit_test(test_bytes_after_the_head_are_not_consumed),
		cmocka_unit_test(test_malformed_header_lines_are_errors),
		cmocka_unit_test(test_values_are_trimmed_and_empty_values_allowed),
		cmocka_unit_test(test_header_count_and_head_size_are_bounded),
		cmocka_unit_test(test_content_length_rules),
		cmocka_unit_test(test_transfer_encoding_rules),
		cmocka_unit_test(test_connection_tokens),
		cmocka_unit_test(test_derived_fields_are_reset_each_call),
		cmocka_unit_test(test_body_framing_follows_rfc9112_6_3),
		cmocka_unit_test(test_keeps_open_follows_rfc9112_9_3),
		cmocka_unit_test(test_chunked_body_after_head_decodes_with_the_core_decoder),
		cmocka_unit_test(test_keep_alive_parameters),
	};
	return cmocka_run_group_tests(tests, guard_setup, NULL);
}
