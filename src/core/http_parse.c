/*
 * HTTP/1 request-head parser (RFC 9112), plus the small header helpers the server
 * and the probe share; http_parse.h is the contract (the chunked decoder it declares
 * is in http_chunked.c). The
 * parser is stateless: each call finds the end of the head (resuming the search near
 * prev_len), and only once the head is complete parses it line by line, in order,
 * reporting the first problem it meets. Errors that can be known before the head is
 * complete (a bare CR at the start of a line, a request-target already over the
 * limit, a head over max_head) are reported early, and in an order that makes the
 * answer for a prefix of the input the same as the answer for the whole of it.
 * Limits: the head is measured from buf[0], so empty lines skipped before the request
 * line count towards max_head; only the first max_head bytes are ever looked at.
 */
#include <string.h>

#include "core/http_chars.h"
#include "core/http_parse.h"

bool ka_str_ieq(struct ka_str s, const char *c)
{
	size_t i = 0;
	for (; i < s.len; i++) {
		if (c[i] == '\0' || ka_lower((unsigned char)s.p[i]) != ka_lower((unsigned char)c[i]))
			return false;
	}
	return c[i] == '\0';
}

const struct ka_http_header *ka_http_header_find(const struct ka_http_request *req,
                                                 const char *name)
{
	return ka_http_headers_find(req->headers, req->num_headers, name);
}

bool ka_http_token_list_has(struct ka_str list, const char *token)
{
	struct ka_list_iter it = ka_list_begin(list);
	struct ka_str m;
	if (list.len == 0)
		return false;
	while (ka_list_next(&it, &m))
		if (ka_str_ieq(m, token))
			return true;
	return false;
}

static ssize_t fail(struct ka_http_request *req, int status, const char *error)
{
	req->status = status;
	req->error = error;
	return KA_PARSE_ERROR;
}

/* fail() for the line parsers, which return the next line's start or NULL. */
static const char *reject(struct ka_http_request *req, int status, const char *error)
{
	fail(req, status, error);
	return NULL;
}

/* ---- finding the end of the head --------------------------------------------------- */


/*
 * Skips the empty lines a client may send before the request line (RFC 9112 2.2) and
 * sets *start to the request line. Redone on every call, which costs nothing for the
 * one CRLF real clients send after a body; a client sending nothing but empty lines
 * is cut off by max_head, which bounds the rescans.
 */
static enum ka_head_scan skip_empty_lines(const char *buf, size_t slen, size_t *start)
{
	size_t i = 0;
	while (i < slen) {
		if (buf[i] == '\n') {
			i++;
		} else if (buf[i] == '\r') {
			if (i + 1 == slen)
				return KA_SCAN_MORE;
			if (buf[i + 1] != '\n')
				return KA_SCAN_BARE_CR;
			i += 2;
		} else {
			*start = i;
			return KA_SCAN_FOUND;
		}
	}
	return KA_SCAN_MORE;
}

/*
 * Looks for the empty line that ends the head: LF (CR) LF, from `from` on. A line
 * that starts with CR not followed by LF is a bare CR (RFC 9112 2.2) and can be
 * rejected now; bare CRs inside lines are found when the head is parsed.
 */
enum ka_head_scan ka_http_find_head_end(const char *buf, size_t from, size_t slen,
                                        size_t *end)
{
	const char *nl;
	while (from < slen && (nl = memchr(buf + from, '\n', slen - from)) != NULL) {
		size_t i = (size_t)(nl - buf);
		if (i + 1 >= slen)
			return KA_SCAN_MORE;
		if (buf[i + 1] == '\n') {
			*end = i + 2;
			return KA_SCAN_FOUND;
		}
		if (buf[i + 1] == '\r') {
			if (i + 2 >= slen)
				return KA_SCAN_MORE;
			if (buf[i + 2] != '\n')
				return KA_SCAN_BARE_CR;
			*end = i + 3;
			return KA_SCAN_FOUND;
		}
		from = i + 1;
	}
	return KA_SCAN_MORE;
}

/*
 * True when the request line at p (possibly incomplete) is a method, one SP, and a
 * run of target bytes longer than max_target. This is exactly the point at which
 * parse_request_line reports 414, so a prefix and the whole input agree.
 */
static bool target_over_limit(const char *p, const char *end, size_t max_target)
{
	const char *q = p;
	while (q < end && ka_tchar[(unsigned char)*q])
		q++;
	if (q == p || q == end || *q != ' ')
		return false;
	const char *t = ++q;
	size_t room = (size_t)(end - t);
	const char *stop = room > max_target ? t + max_target + 1 : end;
	while (q < stop && ka_target_char[(unsigned char)*q])
		q++;
	return (size_t)(q - t) > max_target;
}

/* ---- parsing the complete head ----------------------------------------------------- */

/* Framing facts gathered across header lines, judged once all are seen. */
struct framing {
	unsigned host_count;
	bool has_cl;
	bool has_te;
	struct ka_codings te;  /* the codings of every Transfer-Encoding line, in order */
};

static enum ka_http_method method_id(const char *m, size_t n)
{
	/* Methods are case-sensitive (RFC 9110 9.1); nine length-checked compares. */
	static const struct { char name[8]; size_t len; enum ka_http_method id; } known[] = {
		{ "GET", 3, KA_METHOD_GET }, { "HEAD", 4, KA_METHOD_HEAD },
		{ "POST", 4, KA_METHOD_POST }, { "PUT", 3, KA_METHOD_PUT },
		{ "DELETE", 6, KA_METHOD_DELETE }, { "OPTIONS", 7, KA_METHOD_OPTIONS },
		{ "CONNECT", 7, KA_METHOD_CONNECT }, { "TRACE", 5, KA_METHOD_TRACE },
		{ "PATCH", 5, KA_METHOD_PATCH },
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (n == known[i].len && memcmp(m, known[i].name, n) == 0)
			return known[i].id;
	return KA_METHOD_OTHER;
}

/*
 * RFC 9112 3.2.2: the authority of an absolute-form target stands in for Host, so it is
 * held to Host's rules, and more: an http(s) URI with an empty host MUST be rejected
 * (RFC 9110 4.2.1), and userinfo ("user@host", not a host character) is an error
 * (RFC 9110 4.2.4 SHOULD; nginx refuses it too). Other targets pass unchanged.
 */
static bool absolute_form_authority_ok(struct ka_str target)
{
	size_t skip;
	if (target.len >= 7 && ka_str_ieq_lc((struct ka_str){ target.p, 7 }, "http://", 7))
		skip = 7;
	else if (target.len >= 8 && ka_str_ieq_lc((struct ka_str){ target.p, 8 }, "https://", 8))
		skip = 8;
	else
		return true;
	size_t i = skip;
	while (i < target.len && target.p[i] != '/' && target.p[i] != '?') {
		if (!ka_host_char[(unsigned char)target.p[i]])
			return false;
		i++;
	}
	return i > skip && target.p[skip] != ':';
}

/*
 * RFC 9112 3: method SP request-target SP HTTP-version, nothing more, nothing less.
 * The byte loops need no bound: they stop at the LF that ends every complete head.
 */
static const char *parse_request_line(const char *p, const char *stop, size_t max_target,
                                      struct ka_http_request *req)
{
	const char *q = p;
	while (ka_tchar[(unsigned char)*q])
		q++;
	if (*q == '\r' && q[1] != '\n')
		return reject(req, 400, "bare CR in request line");
	if (q == p)
		return reject(req, 400, "bad method");
	if (*q != ' ')
		return reject(req, 400, "bad character after method");
	req->method = (struct ka_str){ p, (size_t)(q - p) };
	req->method_id = method_id(p, (size_t)(q - p));

	const char *t = ++q;
	q = ka_skip_plain_words(q, stop, 0x21, true);
	while (ka_target_char[(unsigned char)*q])
		q++;
	size_t tlen = (size_t)(q - t);
	if (tlen > max_target)
		return reject(req, 414, "request-target too long");
	/* RFC 9112 3.2, RFC 3986 2: a target is ASCII; UTF-8 comes percent-encoded. Raw
	 * bytes would reach path lookup, logs and error bodies unencoded. */
	if ((unsigned char)*q >= 0x80)
		return reject(req, 400, "request-target has a byte outside ASCII");
	if (*q == '\r' && q[1] != '\n')
		return reject(req, 400, "bare CR in request line");
	if (tlen == 0)
		return reject(req, 400, "empty request-target");
	if (ka_http_line_end(q) != NULL)
		return reject(req, 400, "missing HTTP version");
	if (*q != ' ')
		return reject(req, 400, "bad character in request-target");
	req->target = (struct ka_str){ t, tlen };
	const char *qm = memchr(t, '?', tlen);
	if (qm != NULL) {
		req->path = (struct ka_str){ t, (size_t)(qm - t) };
		req->query = (struct ka_str){ qm + 1, tlen - (size_t)(qm - t) - 1 };
	} else {
		req->path = req->target;
		req->query = (struct ka_str){ t + tlen, 0 };
	}

	/* RFC 9112 2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive. A valid
	 * version is followed by a line end inside the head, so v[8] and v[9] are readable. */
	const char *v = q + 1;
	if (stop - v < 8 || memcmp(v, "HTTP/", 5) != 0 || !ka_is_digit(v[5]) || v[6] != '.' ||
	    !ka_is_digit(v[7]))
		return reject(req, 400, "malformed HTTP version");
	const char *next = ka_http_line_end(v + 8);
	if (next == NULL) {
		if (v[8] == '\r')
			return reject(req, 400, "bare CR in request line");
		return reject(req, 400, "malformed HTTP version");
	}
	/* RFC 9110 15.6.6: a well-formed version we do not speak is 505, not 400. That
	 * includes HTTP/1.2 to 1.9: no such version exists, and a client naming one is
	 * told so rather than served as 1.1. */
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return reject(req, 505, "HTTP version not supported");
	req->minor_version = v[7] == '0' ? 0 : 1;
	if (!absolute_form_authority_ok(req->target))
		return reject(req, 400, "bad authority in absolute-form target");
	return next;
}

/* Content-Length must be 1*DIGIT (RFC 9110 8.6), and appear once. RFC 9110 lets a
 * recipient accept a list of equal values ("5, 5"); we do not: a list is how one parser
 * sees a length another ignores. Two Content-Length lines are that same list (RFC 9110
 * 5.3), so they are refused too, equal or not, as nginx and Apache refuse them. */
static ssize_t note_content_length(struct ka_str value, struct framing *f,
                                   struct ka_http_request *req)
{
	uint64_t v = 0;

	if (f->has_cl)
		return fail(req, 400, "repeated Content-Length");
	const char *error = ka_http_parse_length(value, &v);
	if (error != NULL)
		return fail(req, 400, error);
	f->has_cl = true;
	req->content_length = (int64_t)v;
	return 0;
}

/* The headers the parser itself must understand to decide framing (RFC 9112 6). */
static ssize_t note_header(const struct ka_http_header *h, struct framing *f,
                           struct ka_http_request *req)
{
	struct ka_str name = h->name;  /* ka_str_ieq_lc compares lengths first: cheap misses */
	if (ka_str_ieq_lc(name, "host", 4)) {
		if (++f->host_count > 1)
			return fail(req, 400, "more than one Host header");
		for (size_t i = 0; i < h->value.len; i++)
			if (!ka_host_char[(unsigned char)h->value.p[i]])
				return fail(req, 400, "bad Host header");
	} else if (ka_str_ieq_lc(name, "content-length", 14)) {
		return note_content_length(h->value, f, req);
	} else if (ka_str_ieq_lc(name, "transfer-encoding", 17)) {
		f->has_te = true;  /* RFC 9112 6.1: the codings in order, across all lines */
		ka_http_note_codings(h->value, &f->te);
	} else if (ka_str_ieq_lc(name, "connection", 10)) {
		ka_http_note_connection(h->value, &req->conn_close, &req->conn_keep_alive);
	} else if (ka_str_ieq_lc(name, "expect", 6) && ka_str_ieq_lc(h->value, "100-continue", 12)) {
		req->expect_continue = true;
	}
	return 0;
}

/* Framing decisions once every header is seen (RFC 9112 3.2, 6.1, 6.3). */
static ssize_t judge_framing(const struct framing *f, struct ka_http_request *req)
{
	if (req->minor_version == 1 && f->host_count == 0)
		return fail(req, 400, "missing Host header");
	if (!f->has_te)
		return 0;
	if (f->has_cl)  /* RFC 9112 6.1: a smuggling attempt; reject, do not guess */
		return fail(req, 400, "Transfer-Encoding with Content-Length");
	if (req->minor_version == 0)  /* RFC 9112 6.1: framing is faulty */
		return fail(req, 400, "Transfer-Encoding in HTTP/1.0");
	if (f->te.is_malformed)
		return fail(req, 400, "bad Transfer-Encoding");
	if (!f->te.is_last_chunked)  /* RFC 9112 6.3: length cannot be determined */
		return fail(req, 400, "chunked not the final coding");
	if (f->te.chunked_count > 1)  /* RFC 9112 7: MUST NOT apply chunked more than once */
		return fail(req, 400, "chunked applied more than once");
	if (f->te.has_other)  /* RFC 9112 6.1: unknown transfer coding: 501 */
		return fail(req, 501, "unsupported transfer coding");
	req->is_chunked = true;
	return 0;
}

/*
 * Parses the complete head buf[start..end), which ends with its empty line. Lines are
 * read in order and the first problem is the one reported, so the verdict depends on
 * the bytes alone, never on how they arrived.
 */
static ssize_t parse_head(const char *buf, size_t start, size_t end,
                          const struct ka_http_limits *limits, struct ka_http_request *req)
{
	const char *stop = buf + end;
	struct framing f = { 0 };
	const char *p = parse_request_line(buf + start, stop, limits->max_target, req);
	if (p == NULL)
		return KA_PARSE_ERROR;
	for (;;) {
		const char *next = ka_http_line_end(p);
		if (next != NULL) {
			p = next;  /* the empty line that ends the head */
			break;
		}
		if (req->num_headers == KA_HTTP_MAX_HEADERS)
			return fail(req, 431, "too many header fields");
		struct ka_http_header *h = &req->headers[req->num_headers];
		const char *error = NULL;
		p = ka_http_parse_field_line(p, stop, h, &error);
		if (p == NULL)
			return fail(req, 400, error);
		req->num_headers++;
		if (note_header(h, &f, req) < 0)
			return KA_PARSE_ERROR;
	}
	if (judge_framing(&f, req) < 0)
		return KA_PARSE_ERROR;
	return p - buf;
}

ssize_t ka_http_parse_request(const char *buf, size_t len, size_t prev_len,
                              const struct ka_http_limits *limits,
                              struct ka_http_request *req)
{
	req->method = (struct ka_str){ NULL, 0 };
	req->method_id = KA_METHOD_OTHER;
	req->target = req->path = req->query = (struct ka_str){ NULL, 0 };
	req->minor_version = 0;
	req->num_headers = 0;
	req->content_length = -1;
	req->is_chunked = req->conn_close = req->conn_keep_alive = false;
	req->expect_continue = false;
	req->status = 0;
	req->error = NULL;

	/* Bytes past max_head can never belong to an acceptable head: ignoring them makes
	 * the verdict on a long input the same as on its first max_head bytes. */
	bool at_limit = len >= limits->max_head;
	size_t slen = at_limit ? limits->max_head : len;
	if (prev_len > len)
		prev_len = 0;

	size_t start = 0, end = 0;
	enum ka_head_scan r = skip_empty_lines(buf, slen, &start);
	if (r == KA_SCAN_FOUND) {
		/* The previous call already searched below prev_len - 2; 3 is a margin. */
		size_t from = prev_len > start + 3 ? prev_len - 3 : start;
		if (from > slen)
			from = slen;
		r = ka_http_find_head_end(buf, from, slen, &end);
		if (r != KA_SCAN_FOUND && target_over_limit(buf + start, buf + slen,
		                                         limits->max_target))
			return fail(req, 414, "request-target too long");
	}
	if (r == KA_SCAN_BARE_CR)
		return fail(req, 400, "bare CR");
	if (r == KA_SCAN_MORE)
		return at_limit ? fail(req, 431, "request head too large") : KA_PARSE_PARTIAL;
	return parse_head(buf, start, end, limits, req);
}

