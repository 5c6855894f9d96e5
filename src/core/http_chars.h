/*
 * Character classes and the header-field helpers shared by the HTTP/1 parsers of the
 * core library (requests, chunked bodies, responses) and by the server's own byte
 * checks (header names it adds, paths, Location): one definition of each rule. One
 * table per class, so a hot loop costs a load and a test per byte. Not part of the
 * core's public API (http_parse.h, http_response.h): it may change with the parsers.
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

/* VCHAR (RFC 5234 B.1): visible ASCII, which is also what ka_target_char holds. */
static inline bool ka_is_vchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* CTL (RFC 5234 B.1): the C0 controls and DEL. */
static inline bool ka_is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

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

/* s equals lc, ASCII case-insensitively; lc is lower-case and lc_len long. Lengths are
 * compared first, so a miss costs one compare: the parsers' hot path. */
static inline bool ka_str_ieq_lc(struct ka_str s, const char *lc, size_t lc_len)
{
	if (s.len != lc_len)
		return false;
	for (size_t i = 0; i < lc_len; i++)
		if (ka_lower((unsigned char)s.p[i]) != (unsigned char)lc[i])
			return false;
	return true;
}

/*
 * Ends a line at q: CRLF, or a bare LF (RFC 9112 2.2). Returns the next line's start,
 * or NULL when q holds anything else. Reading q[1] after a CR is safe in a complete
 * head: it ends with LF, so a CR inside it is never its last byte.
 */
static inline const char *ka_http_line_end(const char *q)
{
	if (q[0] == '\n')
		return q + 1;
	if (q[0] == '\r' && q[1] == '\n')
		return q + 2;
	return NULL;
}

/*
 * Eight bytes per step over long runs (targets, field values): true when some byte of
 * w is below lo or is DEL, or, with is_ascii_only, is over 0x7f. Exact for lo <= 128
 * (the classic "has less than" bit trick: a borrow can only start at a byte that
 * really is below lo), so a word that passes needs no byte-wise look; one that fails
 * is finished byte by byte.
 */
static inline bool ka_word_has_stop(uint64_t w, unsigned lo, bool is_ascii_only)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
	uint64_t below = (w - ones * lo) & ~w & highs;
	uint64_t del = w ^ (ones * 0x7f);
	uint64_t stops = below | ((del - ones) & ~del) | (is_ascii_only ? w : 0);
	return (stops & highs) != 0;
}

/* Skips whole words of q..end that ka_word_has_stop passes; the caller finishes the
 * run byte by byte with its table. */
static inline const char *ka_skip_plain_words(const char *q, const char *end, unsigned lo,
                                              bool is_ascii_only)
{
	uint64_t w;
	while (end - q >= 8) {
		memcpy(&w, q, 8);
		if (ka_word_has_stop(w, lo, is_ascii_only))
			break;
		q += 8;
	}
	return q;
}

/* The end of the run of field-value bytes (ka_value_char) from q: a field value or a
 * reason phrase. Needs no bound: a complete head ends with LF, which stops the run. */
static inline const char *ka_http_value_end(const char *q, const char *stop)
{
	q = ka_skip_plain_words(q, stop, 0x20, false);
	while (ka_value_char[(unsigned char)*q])
		q++;
	return q;
}

/*
 * One header field line of a complete head (RFC 9112 5): field-name ":" OWS
 * field-value OWS, strictly: no obs-fold, no whitespace before the colon, no CTL in
 * the value. Fills *h and returns the next line's start, or NULL with *error set.
 * Requests and responses are held to the same rules, and report them in the same words.
 */
const char *ka_http_parse_field_line(const char *p, const char *stop,
                                     struct ka_http_header *h, const char **error);

/* Content-Length (RFC 9110 8.6): 1*DIGIT, at most KA_MAX_BODY_LENGTH. Returns NULL and
 * sets *length, or the problem ("bad Content-Length", "Content-Length too large"). */
const char *ka_http_parse_length(struct ka_str value, uint64_t *length);

/* The transfer codings of a message, gathered across its Transfer-Encoding lines in
 * order (RFC 9112 6.1); the request and response parsers judge them differently. */
struct ka_codings {
	bool is_malformed;      /* an empty member, or not a coding */
	bool is_last_chunked;   /* the final coding so far is bare "chunked" */
	bool has_other;         /* some coding other than bare chunked */
	unsigned chunked_count; /* codings named chunked, with parameters or not */
};

/* Adds the codings of one Transfer-Encoding value. A coding with parameters is never
 * the bare "chunked" framing. */
void ka_http_note_codings(struct ka_str value, struct ka_codings *c);

/* Connection options (RFC 9110 7.6.1) are tokens; the two that matter here are
 * "close" and "keep-alive". Sets the flags it finds, clears none. */
void ka_http_note_connection(struct ka_str value, bool *has_close, bool *has_keep_alive);

/* The first of n headers with this name (case-insensitive), or NULL. */
const struct ka_http_header *ka_http_headers_find(const struct ka_http_header *headers,
                                                  size_t n, const char *name);

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
