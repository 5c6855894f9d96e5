/*
 * The table machinery of the request-head parser tests (test_http_parse.c and
 * test_http_parse_fields.c). Each case is a table row (input, expected result and
 * status, comment). Every input is also fed split in two (first k bytes, then all of
 * them with prev_len = k), and byte by byte as a slow client would send it; every way
 * must end in the same verdict and the same slices. Inputs are placed against the
 * guard page (guard.h), so reading one byte too far crashes the test.
 */
#ifndef KA_TEST_REQUEST_CASES_H
#define KA_TEST_REQUEST_CASES_H

#include <stdio.h>
#include <string.h>

#include "core/http_parse.h"
#include "guard.h"

struct parse_case {
	const char *in;
	size_t len;
	ssize_t want;       /* head length, ALL, PART or ERR */
	int status;         /* with ERR */
	const char *error;  /* with ERR, optional: a substring of req->error */
	const char *comment;
};

static const struct ka_http_limits default_limits = { .max_head = 8192, .max_target = 2048 };

static inline void check_verdict(const struct parse_case *c, const char *how, size_t k,
                                 ssize_t got, const struct ka_http_request *req)
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
static inline void check_same_request(const struct parse_case *c, size_t k,
                                      const struct ka_http_request *a,
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

static inline void run_parse_case(const struct parse_case *c, const struct ka_http_limits *lim)
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

static inline void run_parse_table(const struct parse_case *cases, size_t n,
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

#endif
