/*
 * Character classes and byte helpers shared by the HTTP/1 parsers of the core
 * library (requests, chunked bodies, responses). Internal to src/core: one table per
 * class, so a hot loop costs a load and a test per byte.
 */
#ifndef KA_HTTP_CHARS_H
#define KA_HTTP_CHARS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/http_parse.h"

/* tchar (RFC 9110 5.6.2): methods, field names, codings, chunk-ext names. */
extern const unsigned char ka_tchar[256];
/* request-target bytes (RFC 9112 3.2, RFC 3986 2): visible ASCII; no SP, no CTL, no
 * DEL, no byte over 0x7f. */
extern const unsigned char ka_target_char[256];
/* field-value bytes (RFC 9110 5.5): VCHAR, SP, HTAB and obs-text. */
extern const unsigned char ka_value_char[256];
/* Host (RFC 9112 3.2, RFC 3986 3.2.2): reg-name, IP-literal or IPv4, then ":" port. */
extern const unsigned char ka_host_char[256];
/* qdtext (RFC 9110 5.6.4) for quoted chunk-ext values. */
extern const unsigned char ka_qdtext_char[256];

enum ka_head_scan { KA_SCAN_MORE, KA_SCAN_FOUND, KA_SCAN_BARE_CR };

/* Looks for the empty line that ends a head (requests and responses alike): LF (CR)
 * LF, from `from` on; *end is then the head's length. A line that starts with a CR
 * not followed by LF is a bare CR (RFC 9112 2.2) and can be rejected at once. */
enum ka_head_scan ka_http_find_head_end(const char *buf, size_t from, size_t slen,
                                        size_t *end);

/* Content-Length and chunk sizes above this are refused: 2^62 leaves headroom for
 * offset + length arithmetic anywhere without overflow checks. */
#define KA_MAX_BODY_LENGTH (UINT64_C(1) << 62)

/* ASCII lower-casing without locale: names and tokens are ASCII (RFC 9110 5.1). */
static inline unsigned char ka_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static inline bool ka_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static inline bool ka_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline int ka_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = ka_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Walks the members of a comma-separated list (RFC 9110 5.6.1), OWS-trimmed; empty
 * members are reported too, so callers that must reject them can. */
struct ka_list_iter {
	const char *p, *end;
	bool done;
};

static inline bool ka_list_next(struct ka_list_iter *it, struct ka_str *member)
{
	if (it->done)
		return false;
	const char *p = it->p;
	const char *comma = memchr(p, ',', (size_t)(it->end - p));
	const char *e = comma ? comma : it->end;
	while (p < e && ka_is_ows(*p))
		p++;
	while (e > p && ka_is_ows(e[-1]))
		e--;
	member->p = p;
	member->len = (size_t)(e - p);
	if (comma != NULL)
		it->p = comma + 1;
	else
		it->done = true;
	return true;
}

static inline struct ka_list_iter ka_list_begin(struct ka_str s)
{
	return (struct ka_list_iter){ s.p, s.p + s.len, false };
}

#endif
