/*
 * A response as a handler describes it: status, a few headers, and where the body
 * comes from. Handlers fill one in; the connection layer (conn.c) turns it into bytes
 * and adds everything that is about the connection rather than the resource: Date,
 * Server, Content-Length or chunked framing, Connection and Keep-Alive. Keeping the
 * two apart means no handler can get persistence wrong.
 */
#ifndef KA_RESP_H
#define KA_RESP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum ka_body_kind {
	KA_BODY_NONE,    /* no body bytes (HEAD, 304, 204, or an empty 200) */
	KA_BODY_MEM,     /* mem[0..mem_len): static or owned by the exchange */
	KA_BODY_FILE,    /* file_len bytes of fd from file_off; fd is closed after sending */
	KA_BODY_STREAM,  /* length unknown: the handler produces it later */
};

#define KA_RESP_EXTRA_MAX 512

struct ka_resp {
	int status;
	const char *content_type;  /* NULL: no Content-Type header */
	/* Further header lines, each "Name: value\r\n", built with ka_resp_add_header(). */
	char extra[KA_RESP_EXTRA_MAX];
	size_t extra_len;
	/* More header lines, checked and owned by the handler (a proxy's forwarded
	 * fields), written after extra; they must fit the write buffer with the rest. */
	const char *more;
	size_t more_len;
	/* Representation length for Content-Length: the body length, or for HEAD the
	 * length a GET would have sent; -1 for a stream (chunked, or close-delimited for
	 * HTTP/1.0). Ignored for 1xx, 204 and 304, which never carry one. */
	int64_t content_length;
	enum ka_body_kind body;
	const char *mem;
	size_t mem_len;
	int file_fd;  /* -1 when none */
	off_t file_off;
	size_t file_len;
	/* Keeps mem alive until it is sent (a cached file); released with unpin(pin). */
	void *pin;
	void (*unpin)(void *pin);
};

/* Resets r to an empty response with this status (no body, no headers, fd -1). */
void ka_resp_init(struct ka_resp *r, int status);

/* Appends "name: value\r\n" to r->extra (which stays NUL-terminated); returns -1 (and
 * adds nothing) if it does not fit, if name is not a token, or if value holds CR, LF,
 * NUL or another control byte but HTAB: a header can never split the response. */
int ka_resp_add_header(struct ka_resp *r, const char *name, const char *value);

/* Makes text[0..len) the body: sets status, Content-Type text/plain; charset=utf-8,
 * content_length and KA_BODY_MEM. Headers already added are kept. text is not copied:
 * it must outlive r (a literal, or the caller's scratch). Used for every error so that
 * each names its problem; ka_resp_format_text() writes the usual form. */
void ka_resp_text(struct ka_resp *r, int status, const char *text, size_t len);

/* Appends header lines the caller built and checked itself ("Name: value\r\n"...);
 * returns -1 (and adds nothing) if they do not fit. For the hot path, where checking
 * byte by byte what never changes would cost more than the rest of the response. */
int ka_resp_add_lines(struct ka_resp *r, const char *lines, size_t len);

/* Writes "<code> <reason phrase>: <detail>\n" ("404 Not Found: /x.html\n") into
 * buf[0..cap) and returns its length (no NUL is added). detail may be NULL (then
 * "404 Not Found\n"); at most KA_RESP_DETAIL_MAX bytes of it are shown, followed by
 * "..." when cut, and bytes that are not printable ASCII are shown as '?', so a
 * request can neither flood an error page nor put control bytes into it. Output that
 * would not fit in cap is cut short, always ending in '\n'; cap 0 writes nothing. */
#define KA_RESP_DETAIL_MAX 200
size_t ka_resp_format_text(char *buf, size_t cap, int status, const char *detail,
                           size_t detail_len);

/* The one way to build an error (or any short text) response: formats
 * "<code> <reason phrase>: <detail>\n" into scratch[0..cap) with ka_resp_format_text
 * and makes it r's text/plain body (ka_resp_text). Headers already added are kept. */
void ka_resp_error(struct ka_resp *r, int status, const char *detail, char *scratch,
                   size_t cap);

/* The reason phrase for a status code ("Not Found"); "Unknown" for codes we never send. */
const char *ka_status_reason(int status);

#endif
