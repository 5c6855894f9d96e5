/*
 * HTTP/1 response-head parser (see http_response.h for the contract). Built like the
 * request parser: each call checks the fixed start of the status line, then looks for
 * the empty line that ends the head (resuming near prev_len), and only a complete head
 * is parsed line by line, the first problem met being the one reported. The framing
 * rules are the client's half of RFC 9112 6.3, which differs from the server's: a
 * response may be delimited by the close, and a transfer coding other than chunked
 * means exactly that instead of a 501.
 */
#include <string.h>

#include "core/http_chars.h"
#include "core/http_response.h"

static ssize_t fail(struct ka_http_response *resp, const char *error)
{
	resp->error = error;
	return KA_PARSE_ERROR;
}

static const char *reject(struct ka_http_response *resp, const char *error)
{
	resp->error = error;
	return NULL;
}


/* ---- status line ----------------------------------------------------------------------- */

/*
 * "HTTP/" DIGIT "." DIGIT SP 3DIGIT, then SP or a line end, checked on the n bytes
 * that have arrived. Bytes 0..13 have one fixed meaning each, so the same call judges
 * a prefix and a complete head alike, and a peer that is not an HTTP server is caught
 * at its first byte that could not start a response.
 */
static const char *status_prefix_error(const char *buf, size_t n)
{
	for (size_t i = 0; i < n && i < 14; i++) {
		char c = buf[i];
		switch (i) {
		case 0: case 1: case 2: case 3: case 4:
			if (c != "HTTP/"[i])
				return "not an HTTP response";
			break;
		case 5:
			if (!ka_is_digit(c))
				return "malformed HTTP version";
			if (c != '1')  /* HTTP/2 and later never use this text framing */
				return "unsupported HTTP version";
			break;
		case 6:
			if (c != '.')
				return "malformed HTTP version";
			break;
		case 7:
			if (!ka_is_digit(c))
				return "malformed HTTP version";
			break;
		case 8:
			if (c != ' ')
				return "malformed status line";
			break;
		case 9:
			if (c < '1' || c > '9')
				return "bad status code";
			break;
		case 10: case 11:
			if (!ka_is_digit(c))
				return "bad status code";
			break;
		case 12:
			if (c != ' ' && c != '\r' && c != '\n')
				return "bad status code";
			break;
		case 13:
			if (buf[12] == '\r' && c != '\n')
				return "bare CR in status line";
			break;
		}
	}
	return NULL;
}

/* The whole status line of a complete head; status_prefix_error has passed. */
static const char *parse_status_line(const char *buf, const char *stop,
                                     struct ka_http_response *resp)
{
	resp->minor_version = buf[7] - '0';
	resp->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	const char *q = buf + 12;
	if (*q != ' ') {
		resp->reason = (struct ka_str){ q, 0 };
		return ka_http_line_end(q);  /* a line end, as the prefix check made sure */
	}
	const char *r = ++q;
	q = ka_http_value_end(q, stop);
	const char *next = ka_http_line_end(q);
	if (next == NULL)
		return reject(resp, *q == '\r' ? "bare CR in status line"
		                               : "control character in reason phrase");
	resp->reason = (struct ka_str){ r, (size_t)(q - r) };
	return next;
}

/* ---- header fields --------------------------------------------------------------------- */

struct framing {
	bool has_cl;
	struct ka_codings te;  /* the codings of every Transfer-Encoding line, in order */
};

static ssize_t note_content_length(struct ka_str v, struct framing *f,
                                   struct ka_http_response *resp)
{
	uint64_t n = 0;
	const char *error = ka_http_parse_length(v, &n);
	if (error != NULL)
		return fail(resp, error);
	/* RFC 9112 6.3 rule 5: a user agent facing an invalid length must not guess. */
	if (f->has_cl && (uint64_t)resp->content_length != n)
		return fail(resp, "conflicting Content-Length");
	f->has_cl = true;
	resp->content_length = (int64_t)n;
	return 0;
}

static ssize_t note_header(const struct ka_http_header *h, struct framing *f,
                           struct ka_http_response *resp)
{
	if (ka_str_ieq(h->name, "content-length"))
		return note_content_length(h->value, f, resp);
	if (ka_str_ieq(h->name, "transfer-encoding")) {
		/* RFC 9112 6.1: the codings in order across all lines */
		resp->has_transfer_encoding = true;
		ka_http_note_codings(h->value, &f->te);
	} else if (ka_str_ieq(h->name, "connection")) {
		ka_http_note_connection(h->value, &resp->conn_close, &resp->conn_keep_alive);
	}
	return 0;
}

/* Framing judged once every field is seen (RFC 9112 6.1, 6.3). */
static ssize_t judge_framing(const struct framing *f, struct ka_http_response *resp)
{
	if (!resp->has_transfer_encoding)
		return 0;
	if (f->has_cl)  /* RFC 9112 6.3 rule 3: "ought to be handled as an error" */
		return fail(resp, "Transfer-Encoding with Content-Length");
	if (resp->minor_version == 0)  /* RFC 9112 6.1: faulty framing */
		return fail(resp, "Transfer-Encoding in HTTP/1.0");
	if (f->te.is_malformed)
		return fail(resp, "bad Transfer-Encoding");
	if (f->te.chunked_count > 1)  /* RFC 9112 7: never applied twice */
		return fail(resp, "chunked applied more than once");
	resp->is_chunked = f->te.is_last_chunked;
	return 0;
}

static ssize_t parse_head(const char *buf, size_t end, struct ka_http_response *resp)
{
	struct framing f = { 0 };
	const char *stop = buf + end;
	const char *p = parse_status_line(buf, stop, resp);
	if (p == NULL)
		return KA_PARSE_ERROR;
	while (p < stop) {
		const char *next = ka_http_line_end(p);
		if (next != NULL)
			return judge_framing(&f, resp) < 0 ? KA_PARSE_ERROR : next - buf;
		if (resp->num_headers == KA_HTTP_MAX_HEADERS)
			return fail(resp, "too many header fields");
		struct ka_http_header *h = &resp->headers[resp->num_headers];
		const char *error = NULL;
		p = ka_http_parse_field_line(p, stop, h, &error);
		if (p == NULL)
			return fail(resp, error);
		resp->num_headers++;
		if (note_header(h, &f, resp) < 0)
			return KA_PARSE_ERROR;
	}
	return fail(resp, "response head parser overran");  /* unreachable: ends with an empty line */
}

/* ---- finding the end of the head ---------------------------------------------------------- */

ssize_t ka_http_parse_response(const char *buf, size_t len, size_t prev_len,
                               struct ka_http_response *resp)
{
	resp->minor_version = 0;
	resp->status = 0;
	resp->reason = (struct ka_str){ NULL, 0 };
	resp->num_headers = 0;
	resp->content_length = -1;
	resp->has_transfer_encoding = resp->is_chunked = false;
	resp->conn_close = resp->conn_keep_alive = false;
	resp->error = NULL;

	bool at_limit = len >= KA_HTTP_MAX_RESPONSE_HEAD;
	size_t n = at_limit ? KA_HTTP_MAX_RESPONSE_HEAD : len;
	const char *err = status_prefix_error(buf, n);
	if (err != NULL)
		return fail(resp, err);
	if (prev_len > n)
		prev_len = 0;
	size_t end = 0;
	/* The previous call searched all but its last two bytes; 3 is a margin. */
	enum ka_head_scan r = ka_http_find_head_end(buf, prev_len > 3 ? prev_len - 3 : 0, n, &end);
	if (r == KA_SCAN_BARE_CR)
		return fail(resp, "bare CR");
	if (r == KA_SCAN_MORE)
		return at_limit ? fail(resp, "response head too large") : KA_PARSE_PARTIAL;
	return parse_head(buf, end, resp);
}

/* ---- framing and persistence ---------------------------------------------------------------- */

enum ka_http_body_framing ka_http_response_framing(const struct ka_http_response *resp,
                                                   enum ka_http_method method)
{
	/* RFC 9112 6.3 rules 1 and 2 (a CONNECT tunnel is not something we make). */
	if (method == KA_METHOD_HEAD || (resp->status >= 100 && resp->status < 200) ||
	    resp->status == 204 || resp->status == 304)
		return KA_HTTP_BODY_NONE;
	if (resp->has_transfer_encoding)  /* rules 4: chunked last, else until close */
		return resp->is_chunked ? KA_HTTP_BODY_CHUNKED : KA_HTTP_BODY_CLOSE;
	if (resp->content_length >= 0)    /* rule 6 */
		return KA_HTTP_BODY_LENGTH;
	return KA_HTTP_BODY_CLOSE;        /* rule 8 */
}

bool ka_http_response_keeps_open(const struct ka_http_response *resp,
                                 enum ka_http_body_framing framing)
{
	if (framing == KA_HTTP_BODY_CLOSE || resp->conn_close)
		return false;
	return resp->minor_version >= 1 || resp->conn_keep_alive;
}

const struct ka_http_header *ka_http_response_header_find(const struct ka_http_response *resp,
                                                          const char *name)
{
	return ka_http_headers_find(resp->headers, resp->num_headers, name);
}

/* ---- Keep-Alive: timeout=N, max=N ------------------------------------------------------------ */

static int64_t parse_param_value(struct ka_str v)
{
	if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"')
		v = (struct ka_str){ v.p + 1, v.len - 2 };
	if (v.len == 0 || v.len > 18)
		return -1;
	int64_t n = 0;
	for (size_t i = 0; i < v.len; i++) {
		if (!ka_is_digit(v.p[i]))
			return -1;
		n = n * 10 + (v.p[i] - '0');
	}
	return n;
}

void ka_http_keep_alive_parse(struct ka_str value, int64_t *timeout, int64_t *max)
{
	bool seen_timeout = false, seen_max = false;
	struct ka_list_iter it = ka_list_begin(value);
	struct ka_str m;

	*timeout = *max = -1;
	while (ka_list_next(&it, &m)) {
		const char *eq = memchr(m.p, '=', m.len);
		struct ka_str name = { m.p, eq ? (size_t)(eq - m.p) : m.len };
		struct ka_str v = { eq ? eq + 1 : m.p + m.len, eq ? m.len - name.len - 1 : 0 };
		while (name.len && ka_is_ows(name.p[name.len - 1]))
			name.len--;
		while (v.len && ka_is_ows(v.p[0])) {
			v.p++;
			v.len--;
		}
		if (!seen_timeout && ka_str_ieq(name, "timeout")) {
			seen_timeout = true;
			*timeout = parse_param_value(v);
		} else if (!seen_max && ka_str_ieq(name, "max")) {
			seen_max = true;
			*max = parse_param_value(v);
		}
	}
}
