/*
 * HTTP/1.x message parsing: request heads, chunked bodies, and the small helpers
 * (token lists, header lookup) that the server and the probe share. Stateless in the
 * picohttpparser spirit: the caller owns the bytes, the parser returns how much it
 * consumed and slices (pointer + length) into the caller's buffer; nothing is copied,
 * nothing is allocated. Strict by design (RFC 9112): whatever could be read two ways
 * is an error with a precise status code.
 */
#ifndef KA_HTTP_PARSE_H
#define KA_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A slice of a caller-owned buffer; not NUL-terminated. */
struct ka_str {
	const char *p;
	size_t len;
};

#define KA_HTTP_MAX_HEADERS 100  /* more header lines than this: 431 */
#define KA_HTTP_MAX_TARGET 8192  /* request-target longer than this: 414 */

enum ka_http_method {
	KA_METHOD_OTHER = 0,  /* a valid token that is no method we know */
	KA_METHOD_GET,
	KA_METHOD_HEAD,
	KA_METHOD_POST,
	KA_METHOD_PUT,
	KA_METHOD_DELETE,
	KA_METHOD_OPTIONS,
	KA_METHOD_CONNECT,
	KA_METHOD_TRACE,
	KA_METHOD_PATCH,  /* RFC 5789; the others are RFC 9110's */
};

struct ka_http_header {
	struct ka_str name;   /* as sent (case preserved) */
	struct ka_str value;  /* leading and trailing SP/HTAB stripped */
};

struct ka_http_request {
	struct ka_str method;
	enum ka_http_method method_id;
	struct ka_str target;  /* request-target as sent */
	struct ka_str path;    /* target up to '?' (not decoded) */
	struct ka_str query;   /* after '?', without it; len 0 when absent */
	int minor_version;     /* 0 or 1: only HTTP/1.0 and HTTP/1.1 parse */
	size_t num_headers;
	struct ka_http_header headers[KA_HTTP_MAX_HEADERS];

	/* Derived while parsing, so that framing is decided in exactly one place. */
	int64_t content_length;  /* -1 when there is no Content-Length; at most 2^62 */
	bool is_chunked;         /* Transfer-Encoding ends in chunked */
	bool conn_close;         /* Connection carries the token "close" */
	bool conn_keep_alive;    /* Connection carries the token "keep-alive" */
	bool expect_continue;    /* Expect: 100-continue */

	/* Set when the parser returns KA_PARSE_ERROR. */
	int status;         /* 400, 414, 431, 501 or 505 */
	const char *error;  /* static, short, names the problem: "space before colon" */
};

struct ka_http_limits {
	size_t max_head;    /* from buf[0], skipped empty lines included; over it: 431.
	                     * Keep it well above max_target, or a long target shows up
	                     * as 431: only the first max_head bytes are looked at. */
	size_t max_target;  /* over it: 414 (KA_HTTP_MAX_TARGET normally) */
};

enum {
	KA_PARSE_PARTIAL = -1,  /* need more bytes */
	KA_PARSE_ERROR = -2,    /* req->status and req->error say why */
};

/*
 * Parses the request head at buf[0..len). prev_len is how many of these bytes the
 * previous call already saw (0 the first time) so a slowly arriving head is not
 * re-scanned from the start. Empty lines before the request line are skipped
 * (RFC 9112 2.2). Returns the length of the head including its final empty line
 * (body bytes start there), KA_PARSE_PARTIAL, or KA_PARSE_ERROR. A partial head that
 * already breaks a limit (len >= max_head, or a request line whose target is
 * already over max_target) is an error, not partial; so is a line that starts with a
 * bare CR. The verdict never depends on how the bytes were split across calls: a
 * prefix is either partial or gets the answer the whole input gets. Only the first
 * max_head bytes are examined; 414 wins over 431 when those bytes show it. Besides the
 * framing headers, Host is checked: one at most, required in HTTP/1.1, and made of
 * RFC 3986 host characters (an empty value is allowed, RFC 9112 3.2). The authority of
 * an http(s) absolute-form target is held to the same characters, and must name a
 * host and carry no userinfo. The request-target is visible ASCII (RFC 3986 2): a raw
 * byte over 0x7f in it is a 400; percent-encoded, it is the handler's to decode.
 */
ssize_t ka_http_parse_request(const char *buf, size_t len, size_t prev_len,
                              const struct ka_http_limits *limits,
                              struct ka_http_request *req);

/* Chunked transfer-coding decoder (RFC 9112 7.1), resumable across reads. */
struct ka_chunked {
	int state;               /* internal; zero-initialise before the first call */
	uint64_t chunk_left;     /* internal: chunk-size being read, then data bytes left */
	size_t line_len;         /* internal: bytes of the current size line (max 4 KiB) */
	size_t trailer_len;      /* internal: bytes of trailer section so far */
	uint64_t body_len;       /* decoded body bytes so far */
	const char *error;       /* set on KA_PARSE_ERROR: "bad chunk size", ... */
};

/*
 * Decodes buf[0..*len) in place: on return buf[0..*len) holds the decoded body bytes
 * of this call. Returns KA_PARSE_PARTIAL when all input was used and more is needed,
 * KA_PARSE_ERROR on malformed input (d->error), or, once the last chunk and the
 * trailer section are complete, the number of bytes that followed the body in the
 * input; those bytes now start at buf + *len. Chunk extensions and trailer fields are
 * validated and ignored; trailers longer than 8 KiB are an error. Chunk sizes are at
 * most 16 hex digits and 2^62; BWS is accepted only where RFC 9112 7.1.1 puts it
 * (before ";" or "="), so "5 \r\n" is an error. Every line ends with exactly CRLF (a bare LF
 * is an error here, unlike in the head: framing is where smuggling happens). Once done, further calls return all
 * their input as following bytes (*len = 0); after an error every call fails.
 */
ssize_t ka_http_chunked_decode(struct ka_chunked *d, char *buf, size_t *len);

/* Body bytes announced by the chunk being read and not decoded yet: the size already
 * read while its line is still arriving (the final size can only be larger), then the
 * data bytes still to come; 0 between chunks. */
static inline uint64_t ka_http_chunked_pending(const struct ka_chunked *d)
{
	return d->chunk_left;
}

/* Case-insensitive lookup of the first header with this name; NULL when absent. */
const struct ka_http_header *ka_http_header_find(const struct ka_http_request *req,
                                                 const char *name);

/* True when the comma-separated list holds this token (case-insensitive, OWS tolerated). */
bool ka_http_token_list_has(struct ka_str list, const char *token);

/* Case-insensitive comparison of a slice with a C string. */
bool ka_str_ieq(struct ka_str s, const char *c);

/* IMF-fixdate (RFC 9110 5.6.7), "Sun, 06 Nov 1994 08:49:37 GMT": exactly 29 chars + NUL.
 * Locale-free arithmetic; times outside 1970..9999 are clamped to those years. */
#define KA_HTTP_DATE_LEN 29
void ka_http_date_format(int64_t unix_seconds, char out[KA_HTTP_DATE_LEN + 1]);
/* Parses IMF-fixdate (and the two obsolete forms RFC 9110 requires recipients to
 * accept); returns unix seconds or -1. Names are case-sensitive, the weekday must
 * match the date, second 60 is allowed, and dates before 1970 give -1. RFC 850 years
 * are placed per RFC 9110 5.6.7 (not more than 50 years in the future). */
int64_t ka_http_date_parse(struct ka_str s);

#endif
