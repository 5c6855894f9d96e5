/*
 * Building a response description (resp.h): the status line's reason phrases, the
 * extra header lines a handler adds, and the short text/plain bodies every error
 * carries. Nothing here touches a socket; conn.c serialises what this fills in.
 */
#include <stdbool.h>
#include <string.h>

#include "core/http_chars.h"
#include "server/resp.h"

void ka_resp_init(struct ka_resp *r, int status)
{
	r->status = status;
	r->content_type = NULL;
	r->extra[0] = '\0';
	r->extra_len = 0;
	r->more = NULL;
	r->more_len = 0;
	r->content_length = 0;
	r->body = KA_BODY_NONE;
	r->mem = NULL;
	r->mem_len = 0;
	r->file_fd = -1;
	r->file_off = 0;
	r->file_len = 0;
	r->pin = NULL;
	r->unpin = NULL;
}

/* A header name is a token (RFC 9110 5.1) and a value VCHAR, obs-text, SP and HTAB
 * (RFC 9110 5.5): anything else (CR, LF and NUL in particular are response splitting)
 * would let a caller's string break the header section apart, so it is refused here,
 * never sanitised, rather than trusting every caller. */
int ka_resp_add_header(struct ka_resp *r, const char *name, const char *value)
{
	size_t name_len = strlen(name), value_len = strlen(value);
	if (name_len == 0)
		return -1;
	for (size_t i = 0; i < name_len; i++)
		if (!ka_tchar[(unsigned char)name[i]])
			return -1;
	for (size_t i = 0; i < value_len; i++)
		if (!ka_value_char[(unsigned char)value[i]])
			return -1;

	/* name ": " value CRLF, and one byte to keep extra NUL-terminated for debugging. */
	size_t need = name_len + 2 + value_len + 2;
	if (r->extra_len + need + 1 > sizeof(r->extra))
		return -1;
	char *p = r->extra + r->extra_len;
	memcpy(p, name, name_len);
	p += name_len;
	*p++ = ':';
	*p++ = ' ';
	memcpy(p, value, value_len);
	p += value_len;
	*p++ = '\r';
	*p++ = '\n';
	*p = '\0';
	r->extra_len += need;
	return 0;
}

int ka_resp_add_lines(struct ka_resp *r, const char *lines, size_t len)
{
	if (r->extra_len + len + 1 > sizeof(r->extra))
		return -1;
	memcpy(r->extra + r->extra_len, lines, len);
	r->extra_len += len;
	r->extra[r->extra_len] = '\0';
	return 0;
}

void ka_resp_text(struct ka_resp *r, int status, const char *text, size_t len)
{
	r->status = status;
	r->content_type = "text/plain; charset=utf-8";
	r->content_length = (int64_t)len;
	r->body = KA_BODY_MEM;
	r->mem = text;
	r->mem_len = len;
}

/* Bytes a detail may show as they are: printable ASCII. Everything else (control
 * bytes that could drive a terminal reading a log or a curl -v, and raw non-ASCII
 * that may not be UTF-8) becomes '?'. */
static bool is_echo_safe(unsigned char c)
{
	return c == ' ' || ka_is_vchar(c);
}

size_t ka_resp_format_text(char *buf, size_t cap, int status, const char *detail,
                           size_t detail_len)
{
	if (buf == NULL || cap == 0)
		return 0;
	const char *reason = ka_status_reason(status);
	size_t n = 0;
	if (status < 100 || status > 999)
		status = 0;  /* never sent; keeps the three digits below digits */
	char code[4] = { (char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
	                 (char)('0' + status % 10), ' ' };

	/* Every append stops at cap - 1 so that the final '\n' always fits. */
	size_t limit = cap - 1;
	for (size_t i = 0; i < sizeof(code) && n < limit; i++)
		buf[n++] = code[i];
	for (const char *p = reason; *p != '\0' && n < limit; p++)
		buf[n++] = *p;
	if (detail != NULL && detail_len > 0) {
		bool cut = detail_len > KA_RESP_DETAIL_MAX;
		size_t shown = cut ? KA_RESP_DETAIL_MAX : detail_len;
		if (n < limit)
			buf[n++] = ':';
		if (n < limit)
			buf[n++] = ' ';
		for (size_t i = 0; i < shown && n < limit; i++) {
			unsigned char c = (unsigned char)detail[i];
			buf[n++] = is_echo_safe(c) ? (char)c : '?';
		}
		for (int i = 0; cut && i < 3 && n < limit; i++)
			buf[n++] = '.';
	}
	buf[n++] = '\n';
	return n;
}

void ka_resp_error(struct ka_resp *r, int status, const char *detail, char *scratch,
                   size_t cap)
{
	size_t n = ka_resp_format_text(scratch, cap, status, detail, detail ? strlen(detail) : 0);

	ka_resp_text(r, status, scratch, n);
}

const char *ka_status_reason(int status)
{
	/* RFC 9110 15 (and RFC 6585 for 428, 429, 431): the phrases the RFCs use, for every
	 * code the server sends or a proxied backend may; others are "Unknown". */
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 103: return "Early Hints";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 305: return "Use Proxy";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}
