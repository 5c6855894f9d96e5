/*
 * Tests for the chunked transfer-coding decoder (src/core/http_chunked.c, RFC 9112 7.1).
 * Each case is a table row (input, expected result, decoded body, error, comment), fed
 * whole, split in two at every point, and byte by byte: every way must decode the same
 * body and leave the same bytes after it. Every piece is placed against the guard page
 * (guard.h), so reading past it crashes the test.
 */
#include <stdio.h>
#include <string.h>

#include "core/http_parse.h"
#include "guard.h"

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
		cmocka_unit_test(test_chunked_bodies_decode),
		cmocka_unit_test(test_chunk_extensions_are_validated),
		cmocka_unit_test(test_bad_chunk_framing_is_an_error),
		cmocka_unit_test(test_chunked_trailers_are_validated),
		cmocka_unit_test(test_chunked_errors_are_sticky),
		cmocka_unit_test(test_chunked_pending_counts_announced_bytes),
	};
	return cmocka_run_group_tests(tests, guard_setup, NULL);
}
