/*
 * HTTP/1.x response heads, the client's side of http_parse.h: the status line, the
 * header fields, and the facts a client needs to find where the body ends (RFC 9112
 * 6.3) and whether the connection stays open (RFC 9112 9.3), plus the Keep-Alive
 * header's parameters. Same contract as ka_http_parse_request: stateless, no
 * allocation, slices into the caller's buffer, prev_len to resume a scan. Strict where
 * two readings of the framing are possible; a byte stream that cannot be the start of
 * a response ("hello\n") is an error as soon as its first bytes show it, so a client
 * talking to something that is not an HTTP server finds out without waiting.
 */
#ifndef KA_HTTP_RESPONSE_H
#define KA_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/http_parse.h"

/* A head longer than this is an error (no limit argument: a client has no 431 to
 * send, it only needs a bound on what it buffers). */
#define KA_HTTP_MAX_RESPONSE_HEAD (64 * 1024)

struct ka_http_response {
	int minor_version;   /* HTTP/1.minor: any digit parses */
	int status;          /* 100..999 (RFC 9110 15: a client treats 600+ as 5xx) */
	struct ka_str reason;  /* may be empty */
	size_t num_headers;
	struct ka_http_header headers[KA_HTTP_MAX_HEADERS];

	/* Derived while parsing, for ka_http_response_framing(). */
	int64_t content_length;  /* -1 when absent; at most 2^62 */
	bool has_transfer_encoding;
	bool is_chunked;         /* Transfer-Encoding ends in chunked */
	bool conn_close;         /* Connection carries the token "close" */
	bool conn_keep_alive;    /* Connection carries the token "keep-alive" */

	const char *error;  /* set with KA_PARSE_ERROR: static, names the problem */
};

/*
 * Parses the response head at buf[0..len); prev_len is how many of these bytes the
 * previous call saw (0 the first time). Returns the head length including its empty
 * line (the body starts there), KA_PARSE_PARTIAL, or KA_PARSE_ERROR with resp->error.
 * The first 12 bytes are checked as they arrive ("HTTP/1.1 200", then SP or a line
 * end), so a peer that is not an HTTP server is an error at its first wrong byte. A
 * prefix of an input is either partial or gets the whole input's verdict. Lines end
 * in CRLF or a bare LF (RFC 9112 2.2). Not accepted: obs-fold (RFC 9112 5.2 asks a
 * user agent to unfold, and a parser that copies nothing cannot), whitespace before a
 * colon, a Content-Length that is not 1*DIGIT or conflicts with another, Transfer-
 * Encoding together with Content-Length or in an HTTP/1.0 response (RFC 9112 6.1 and
 * 6.3 call both faulty framing), chunked applied twice. Accepted: a status line
 * without the SP before an empty reason ("HTTP/1.1 204\r\n"), which deployed servers
 * send.
 */
ssize_t ka_http_parse_response(const char *buf, size_t len, size_t prev_len,
                               struct ka_http_response *resp);

/* How a response's body is delimited (RFC 9112 6.3), in the order the rules apply. */
enum ka_http_body_framing {
	KA_HTTP_BODY_NONE,     /* answer to HEAD, or 1xx, 204, 304: the head is all */
	KA_HTTP_BODY_CHUNKED,  /* Transfer-Encoding ending in chunked: ka_http_chunked_decode */
	KA_HTTP_BODY_LENGTH,   /* exactly content_length bytes */
	KA_HTTP_BODY_CLOSE,    /* until the server closes: no length, or a final coding
	                        * other than chunked (RFC 9112 6.3 rule 4) */
};

/* The framing of a parsed response to a request made with this method. */
enum ka_http_body_framing ka_http_response_framing(const struct ka_http_response *resp,
                                                   enum ka_http_method method);

/* RFC 9112 9.3, the client's reading: the server means to keep the connection open
 * after this response: no "close" option, HTTP/1.1 or HTTP/1.0 with "keep-alive", and
 * a body that does not end with the connection. */
bool ka_http_response_keeps_open(const struct ka_http_response *resp,
                                 enum ka_http_body_framing framing);

/* Case-insensitive lookup of the first header with this name; NULL when absent. */
const struct ka_http_header *ka_http_response_header_find(const struct ka_http_response *resp,
                                                          const char *name);

/*
 * The parameters of a Keep-Alive header value ("timeout=5, max=100"): names are
 * case-insensitive, whitespace around members and around "=" is allowed, a value may
 * be quoted, the first occurrence of a name counts. Each out-parameter is a
 * non-negative integer, or -1 when the parameter is absent or its value is not
 * 1*DIGIT (or over 18 digits).
 */
void ka_http_keep_alive_parse(struct ka_str value, int64_t *timeout, int64_t *max);

#endif
