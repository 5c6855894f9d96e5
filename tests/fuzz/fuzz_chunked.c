/*
 * libFuzzer target for the chunked body decoder (src/core/http_chunked.c). The
 * decoder works in place on whatever piece of the body a read delivered, so the
 * property that matters is that the pieces do not change the outcome: the same bytes
 * fed at once, in pieces of an input-chosen size, and one byte at a time must give the
 * same verdict, the same decoded body and the same count of bytes left over after the
 * last chunk (the start of the next pipelined request). Every piece is an exact-size
 * heap copy, so ASan catches a read past its end. Input layout: byte 0 picks the piece
 * size, the rest is the body as it follows a request head. See README.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http_parse.h"
#include "fuzz_util.h"

/* One-byte feeds cost a call per byte: only for bodies up to this size. */
#define BYTEWISE_MAX 4096

struct outcome {
	ssize_t verdict;   /* the last call's result */
	size_t body_len;   /* decoded bytes, gathered in body */
	size_t rest_len;   /* bytes after the last chunk's trailers, when verdict >= 0 */
	char *body;
};

/* Decodes msg[0..n) in pieces of step bytes, stopping at the first verdict that is
 * not "need more", as a connection does. */
static void decode_pieces(const uint8_t *msg, size_t n, size_t step, struct outcome *o)
{
	struct ka_chunked d = { 0 };
	size_t from = 0;

	o->verdict = KA_PARSE_PARTIAL;
	o->body_len = o->rest_len = 0;
	while (from < n && o->verdict == KA_PARSE_PARTIAL) {
		size_t piece = n - from < step ? n - from : step;
		char *b = dup_exact(msg + from, piece);
		size_t len = piece;

		o->verdict = ka_http_chunked_decode(&d, b, &len);
		/* Decoded data is compacted to the front of the piece, never longer. */
		require(len <= piece);
		memcpy(o->body + o->body_len, b, len);
		o->body_len += len;
		if (o->verdict >= 0) {
			/* What followed the body now starts right after the decoded data, intact. */
			size_t r = (size_t)o->verdict;

			require(r <= piece - len);
			require(memcmp(b + len, msg + from + piece - r, r) == 0);
			o->rest_len = (size_t)o->verdict + (n - from - piece);
		}
		require(o->verdict >= 0 || o->verdict == KA_PARSE_PARTIAL ||
		        (o->verdict == KA_PARSE_ERROR && d.error != NULL));
		free(b);
		from += piece;
	}
	require(o->verdict < 0 || d.body_len == o->body_len);
}

static void require_same(const struct outcome *a, const struct outcome *b)
{
	require((a->verdict < 0) == (b->verdict < 0));
	if (a->verdict >= 0) {
		require(a->rest_len == b->rest_len && a->body_len == b->body_len);
		require(memcmp(a->body, b->body, a->body_len) == 0);
		return;
	}
	require(a->verdict == b->verdict);
	/* An error may be seen at different points; a partial body must be the same. */
	require(a->verdict == KA_PARSE_ERROR ||
	        (a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *msg = data + 1;
	size_t n = size - 1;
	size_t step = 1 + data[0] % 16;
	struct outcome whole, pieces, bytes;

	whole.body = malloc(n + 1);
	pieces.body = malloc(n + 1);
	bytes.body = malloc(n + 1);
	require(whole.body && pieces.body && bytes.body);
	decode_pieces(msg, n, n ? n : 1, &whole);
	decode_pieces(msg, n, step, &pieces);
	require_same(&whole, &pieces);
	if (n <= BYTEWISE_MAX) {
		decode_pieces(msg, n, 1, &bytes);
		require_same(&whole, &bytes);
	}
	free(whole.body);
	free(pieces.body);
	free(bytes.body);
	return 0;
}
