/*
 * The character-class tables of http_chars.h, and the header-field helpers that the
 * request and response parsers share. Ranges use the GNU "[a ... b]" designator (we
 * build with -std=gnu11).
 */
#include "core/http_chars.h"

/* tchar (RFC 9110 5.6.2): methods, field names, codings, chunk-ext names. */
const unsigned char ka_tchar[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
	['~'] = 1,
};

/* request-target bytes (RFC 9112 3.2, RFC 3986 2): visible ASCII only; no SP, no CTL,
 * no DEL, and no byte over 0x7f: a URI's other characters come percent-encoded. */
const unsigned char ka_target_char[256] = {
	[0x21 ... 0x7e] = 1,
};

/* field-value bytes (RFC 9110 5.5): VCHAR, SP, HTAB and obs-text. */
const unsigned char ka_value_char[256] = {
	['\t'] = 1, [0x20 ... 0x7e] = 1, [0x80 ... 0xff] = 1,
};

/* Host (RFC 9112 3.2, RFC 3986 3.2.2): reg-name, IP-literal or IPv4, then ":" port. */
const unsigned char ka_host_char[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
	['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['%'] = 1, ['!'] = 1, ['$'] = 1,
	['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1,
	[';'] = 1, ['='] = 1, [':'] = 1, ['['] = 1, [']'] = 1,
};

/* qdtext (RFC 9110 5.6.4) for quoted chunk-ext values. */
const unsigned char ka_qdtext_char[256] = {
	['\t'] = 1, [' '] = 1, ['!'] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7e] = 1,
	[0x80 ... 0xff] = 1,
};


/* ---- header fields ------------------------------------------------------------------ */

static const char *field_error(const char **error, const char *what)
{
	*error = what;
	return NULL;
}

const char *ka_http_parse_field_line(const char *p, const char *stop,
                                     struct ka_http_header *h, const char **error)
{
	/* RFC 9112 5.2: obs-fold is rejected by a recipient that does not unfold. */
	if (ka_is_ows(*p))
		return field_error(error, "obs-fold (line starts with whitespace)");
	const char *q = p;
	while (ka_tchar[(unsigned char)*q])
		q++;
	if (*q != ':') {
		if (ka_is_ows(*q))  /* RFC 9112 5.1: MUST reject, a smuggling vector */
			return field_error(error, "space before colon in header field");
		if (ka_http_line_end(q) != NULL)
			return field_error(error, "no colon in header field");
		if (*q == '\r')
			return field_error(error, "bare CR in header field");
		return field_error(error, "bad character in header field name");
	}
	if (q == p)
		return field_error(error, "empty header field name");
	h->name = (struct ka_str){ p, (size_t)(q - p) };

	const char *v = q + 1;
	while (ka_is_ows(*v))
		v++;
	q = ka_http_value_end(v, stop);
	const char *next = ka_http_line_end(q);
	if (next == NULL)
		return field_error(error, *q == '\r' ? "bare CR in header field"
		                                       : "control character in header field value");
	while (q > v && ka_is_ows(q[-1]))
		q--;
	h->value = (struct ka_str){ v, (size_t)(q - v) };
	return next;
}

const char *ka_http_parse_length(struct ka_str value, uint64_t *length)
{
	uint64_t v = 0;
	if (value.len == 0)
		return "bad Content-Length";
	for (size_t i = 0; i < value.len; i++) {
		unsigned digit = (unsigned char)value.p[i] - '0';
		if (digit > 9)
			return "bad Content-Length";
		/* Checked before multiplying, so that no value can wrap around. */
		if (v > (KA_MAX_BODY_LENGTH - digit) / 10)
			return "Content-Length too large";
		v = v * 10 + digit;
	}
	*length = v;
	return NULL;
}

void ka_http_note_codings(struct ka_str value, struct ka_codings *c)
{
	struct ka_list_iter it = ka_list_begin(value);
	struct ka_str m;
	while (ka_list_next(&it, &m)) {
		size_t n = 0;
		while (n < m.len && ka_tchar[(unsigned char)m.p[n]])
			n++;
		size_t rest = n;
		while (rest < m.len && ka_is_ows(m.p[rest]))
			rest++;
		if (n == 0 || (n < m.len && m.p[rest] != ';')) {
			c->is_malformed = true;
			continue;
		}
		bool is_named_chunked = ka_str_ieq_lc((struct ka_str){ m.p, n }, "chunked", 7);
		c->chunked_count += is_named_chunked;
		c->is_last_chunked = is_named_chunked && n == m.len;
		if (!c->is_last_chunked)
			c->has_other = true;
	}
}

void ka_http_note_connection(struct ka_str value, bool *has_close, bool *has_keep_alive)
{
	struct ka_list_iter it = ka_list_begin(value);
	struct ka_str m;
	while (ka_list_next(&it, &m)) {
		if (ka_str_ieq_lc(m, "close", 5))
			*has_close = true;
		else if (ka_str_ieq_lc(m, "keep-alive", 10))
			*has_keep_alive = true;
	}
}

const struct ka_http_header *ka_http_headers_find(const struct ka_http_header *headers,
                                                  size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (ka_str_ieq(headers[i].name, name))
			return &headers[i];
	return NULL;
}
