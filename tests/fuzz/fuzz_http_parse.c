/*
 * libFuzzer target for the request-head parser (src/core/http_parse.c). Besides
 * crashes and sanitizer reports it checks the properties the unit tests rely on:
 * results are in range, slices stay inside the head, and feeding the same bytes in two
 * pieces ends in the same verdict as feeding them at once. Input layout: byte 0 picks
 * the split point, byte 1 the limits, the rest is the message. The chunked decoder has
 * its own target (fuzz_chunked.c), the connection state machine too (fuzz_conn.c).
 * See README.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http_parse.h"
#include "fuzz_util.h"

static bool slice_inside(struct ka_str s, const char *buf, size_t len)
{
	return s.len == 0 || (s.p >= buf && s.p + s.len <= buf + len);
}

static void check_request(const char *buf, ssize_t r, const struct ka_http_request *req)
{
	if (r == KA_PARSE_PARTIAL)
		return;
	if (r == KA_PARSE_ERROR) {
		require(req->error != NULL);
		require(req->status == 400 || req->status == 414 || req->status == 431 ||
		        req->status == 501 || req->status == 505);
		return;
	}
	size_t n = (size_t)r;
	require(r > 0);
	require(req->minor_version == 0 || req->minor_version == 1);
	require(req->num_headers <= KA_HTTP_MAX_HEADERS);
	require(req->method.len > 0 && req->target.len > 0);
	require(slice_inside(req->method, buf, n) && slice_inside(req->target, buf, n));
	require(req->path.p == req->target.p && req->path.len <= req->target.len);
	require(req->query.len == 0 || req->path.len + 1 + req->query.len == req->target.len);
	for (size_t i = 0; i < req->target.len; i++)  /* RFC 3986 2: visible ASCII only */
		require((unsigned char)req->target.p[i] > 0x20 && (unsigned char)req->target.p[i] < 0x7f);
	for (size_t i = 0; i < req->num_headers; i++) {
		require(req->headers[i].name.len > 0);
		require(slice_inside(req->headers[i].name, buf, n));
		require(slice_inside(req->headers[i].value, buf, n));
	}
	require(req->content_length >= -1);
	require(!(req->is_chunked && req->content_length >= 0));
}

static ssize_t parse_copy(const uint8_t *p, size_t n, size_t prev, const struct ka_http_limits *lim,
                          struct ka_http_request *req)
{
	char *b = dup_exact(p, n);
	ssize_t r = ka_http_parse_request(b, n, prev, lim, req);
	check_request(b, r, req);
	free(b);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t split_sel = data[0], lim_sel = data[1];
	const uint8_t *msg = data + 2;
	size_t n = size - 2;

	/* Small limits often, so the 414/431 paths get exercised on small inputs. */
	struct ka_http_limits lim = { .max_head = 8192, .max_target = KA_HTTP_MAX_TARGET };
	if (lim_sel & 1) {
		lim.max_head = 16 + (size_t)(lim_sel >> 1) * 4;
		lim.max_target = (size_t)(lim_sel >> 3) * 3;
	}

	struct ka_http_request whole, part;
	ssize_t r = parse_copy(msg, n, 0, &lim, &whole);

	size_t k = n ? (size_t)split_sel * n / 255 : 0;
	ssize_t rk = parse_copy(msg, k, 0, &lim, &part);
	if (rk == KA_PARSE_PARTIAL)
		rk = parse_copy(msg, n, k, &lim, &part);
	require(rk == r);
	if (r == KA_PARSE_ERROR)
		require(part.status == whole.status);
	return 0;
}
