/*
 * The chunked transfer-coding decoder (RFC 9112 7.1) declared in http_parse.h: a
 * byte-at-a-time state machine for size lines, extensions and trailers, with a fast
 * path that moves chunk data in bulk. It decodes in place and can stop and resume at
 * any byte, so a body that arrives one byte per read is decoded exactly like one that
 * arrives whole.
 */
#include <string.h>

#include "core/http_chars.h"
#include "core/http_parse.h"

/* ---- chunked transfer coding (RFC 9112 7.1) ------------------------------------------ */

enum chunked_state {
	CH_SIZE_FIRST = 0,  /* expecting the first hex digit of chunk-size */
	CH_SIZE,            /* in chunk-size */
	CH_EXT_WS,          /* BWS that must lead to ";" */
	CH_EXT_NAME_WS,     /* after ";": BWS, then the ext name */
	CH_EXT_NAME,        /* in chunk-ext-name */
	CH_EXT_AFTER_NAME,  /* BWS after a name: "=" or ";" must follow */
	CH_EXT_VALUE_WS,    /* after "=": BWS, then token or quoted-string */
	CH_EXT_VALUE,       /* in a token value */
	CH_EXT_QUOTED,      /* in a quoted-string value */
	CH_EXT_QUOTED_ESC,  /* after a backslash in a quoted-string */
	CH_EXT_AFTER_QUOTE, /* after the closing quote */
	CH_SIZE_LF,         /* after the CR ending the size line */
	CH_DATA,            /* chunk_left data bytes to copy */
	CH_DATA_CR,         /* the CR after the data */
	CH_DATA_LF,         /* the LF after the data */
	CH_TRAILER_START,   /* start of a trailer line, or of the final empty line */
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE,
	CH_TRAILER_LF,      /* after a CR ending a trailer line */
	CH_FINAL_LF,        /* after the CR of the final empty line */
	CH_DONE,
	CH_ERROR,
};

#define MAX_CHUNK_LINE 4096     /* size line with extensions; nobody needs more */
#define MAX_TRAILER_BYTES 8192  /* the header's promise: trailers over 8 KiB fail */

static ssize_t chunked_fail(struct ka_chunked *d, const char *error)
{
	d->state = CH_ERROR;
	d->error = error;
	return KA_PARSE_ERROR;
}

/* The end of a size line: data next, or trailers after the last chunk. */
static int after_size_line(const struct ka_chunked *d)
{
	return d->chunk_left == 0 ? CH_TRAILER_START : CH_DATA;
}

/* Sets *error for a byte that was looked at and refused; true, as the byte is dealt with. */
static bool refuse(const char **error, const char *what)
{
	*error = what;
	return true;
}

/* A byte in chunk-size: a hex digit is taken (or refused past 16 digits or 2^62);
 * anything else ends the size, and is read by separator_byte. */
static bool size_digit(struct ka_chunked *d, unsigned char c, const char **error)
{
	int hv = ka_hex_value(c);
	if (hv < 0) {
		if (d->state == CH_SIZE_FIRST)
			return refuse(error, "bad chunk size");
		return false;
	}
	/* More than 16 digits is refused even as leading zeros: no honest sender pads that
	 * much, and it bounds the work per size. */
	if (d->line_len > 16)
		return refuse(error, "bad chunk size");
	d->chunk_left = d->chunk_left * 16 + (uint64_t)hv;
	if (d->chunk_left > KA_MAX_BODY_LENGTH)
		return refuse(error, "bad chunk size");
	d->state = CH_SIZE;
	return true;
}

/* A byte in a chunk extension, by state: true when taken or refused (*error), false
 * when it is for separator_byte; *line_may_end is cleared where BWS was last. */
static bool ext_byte(struct ka_chunked *d, unsigned char c, const char **error,
                     bool *line_may_end)
{
	switch (d->state) {
	case CH_EXT_WS:
		*line_may_end = false;
		return false;
	case CH_EXT_NAME_WS:
		if (ka_is_ows((char)c))
			return true;
		if (!ka_tchar[c])
			return refuse(error, "bad chunk extension");
		d->state = CH_EXT_NAME;
		return true;
	case CH_EXT_NAME:
		if (ka_tchar[c])
			return true;
		if (c == '=' || ka_is_ows((char)c)) {
			d->state = c == '=' ? CH_EXT_VALUE_WS : CH_EXT_AFTER_NAME;
			return true;
		}
		return false;
	case CH_EXT_AFTER_NAME:
		if (c == '=')
			d->state = CH_EXT_VALUE_WS;
		else if (!ka_is_ows((char)c))
			*line_may_end = false;
		return c == '=' || ka_is_ows((char)c);
	case CH_EXT_VALUE_WS:
		if (ka_is_ows((char)c))
			return true;
		if (c != '"' && !ka_tchar[c])
			return refuse(error, "bad chunk extension");
		d->state = c == '"' ? CH_EXT_QUOTED : CH_EXT_VALUE;
		return true;
	case CH_EXT_VALUE:
		return ka_tchar[c];
	case CH_EXT_QUOTED:
		if (c == '"')
			d->state = CH_EXT_AFTER_QUOTE;
		else if (c == '\\')
			d->state = CH_EXT_QUOTED_ESC;
		else if (!ka_qdtext_char[c])
			return refuse(error, "bad chunk extension");
		return true;
	case CH_EXT_QUOTED_ESC:
		/* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
		if (c != '\t' && ka_is_ctl(c))
			return refuse(error, "bad chunk extension");
		d->state = CH_EXT_QUOTED;
		return true;
	default:  /* CH_EXT_AFTER_QUOTE */
		return false;
	}
}

/* What may follow a size, a name or a value: ";", BWS, or the CR that ends the line.
 * RFC 9112 7.1.1: chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ), so
 * whitespace must lead to ";" (or "=" after a name); trailing BWS is an error. */
static const char *separator_byte(struct ka_chunked *d, unsigned char c, bool line_may_end)
{
	if (c == ';') {
		d->state = CH_EXT_NAME_WS;
		return NULL;
	}
	if (ka_is_ows((char)c)) {
		d->state = CH_EXT_WS;
		return NULL;
	}
	if (line_may_end && c == '\r') {
		d->state = CH_SIZE_LF;
		return NULL;
	}
	if (line_may_end && c == '\n')
		return "bare LF in chunk line";
	return d->state == CH_SIZE ? "bad chunk size" : "bad chunk extension";
}

/*
 * One byte of a size line (chunk-size [chunk-ext] CRLF). Returns NULL when the byte
 * was accepted, else the error to report. Unlike the head, a bare LF is an error:
 * framing is where two parsers reading one stream differently becomes request
 * smuggling, so chunk lines end with CRLF and nothing else.
 */
static const char *size_line_byte(struct ka_chunked *d, unsigned char c)
{
	if (++d->line_len > MAX_CHUNK_LINE)
		return "chunk line too long";
	const char *error = NULL;
	bool line_may_end = true;  /* after a size, a name or a value; not after BWS */
	bool is_dealt_with = (d->state == CH_SIZE_FIRST || d->state == CH_SIZE)
	                     ? size_digit(d, c, &error)
	                     : ext_byte(d, c, &error, &line_may_end);
	if (is_dealt_with)
		return error;
	return separator_byte(d, c, line_may_end);
}

/* One byte of the trailer section (RFC 9112 7.1.2), checked like a header line. */
static const char *trailer_byte(struct ka_chunked *d, unsigned char c)
{
	if (++d->trailer_len > MAX_TRAILER_BYTES)
		return "trailer section too large";
	switch (d->state) {
	case CH_TRAILER_START:
		d->line_len = 0;
		if (c == '\r') {
			d->state = CH_FINAL_LF;
		} else if (c == '\n') {
			return "bare LF in trailer";
		} else if (ka_is_ows((char)c)) {
			return "obs-fold in trailer";
		} else if (ka_tchar[c]) {
			d->state = CH_TRAILER_NAME;
			d->line_len = 1;
		} else {
			return "bad trailer field name";
		}
		return NULL;
	case CH_TRAILER_NAME:
		if (ka_tchar[c])
			return NULL;
		if (c == ':') {
			d->state = CH_TRAILER_VALUE;
			return NULL;
		}
		if (ka_is_ows((char)c))
			return "space before colon in trailer field";
		if (c == '\r' || c == '\n')
			return "no colon in trailer field";
		return "bad trailer field name";
	case CH_TRAILER_VALUE:
		if (ka_value_char[c])
			return NULL;
		if (c == '\r')
			d->state = CH_TRAILER_LF;
		else if (c == '\n')
			return "bare LF in trailer";
		else
			return "control character in trailer field";
		return NULL;
	case CH_TRAILER_LF:
		if (c != '\n')
			return "bare CR in trailer";
		d->state = CH_TRAILER_START;
		return NULL;
	case CH_FINAL_LF:
		if (c != '\n')
			return "bare CR in trailer";
		d->state = CH_DONE;
		return NULL;
	}
	return "chunked decoder state";
}

ssize_t ka_http_chunked_decode(struct ka_chunked *d, char *buf, size_t *len)
{
	size_t n = *len, rd = 0, wr = 0;
	if (d->state == CH_ERROR) {
		*len = 0;
		return KA_PARSE_ERROR;
	}
	while (rd < n && d->state != CH_DONE) {
		unsigned char c = (unsigned char)buf[rd];
		const char *err = NULL;
		switch (d->state) {
		case CH_DATA: {
			size_t take = n - rd;
			if (take > d->chunk_left)
				take = (size_t)d->chunk_left;
			if (wr != rd)
				memmove(buf + wr, buf + rd, take);
			wr += take;
			rd += take;
			d->chunk_left -= take;
			d->body_len += take;
			if (d->chunk_left == 0)
				d->state = CH_DATA_CR;
			continue;
		}
		case CH_DATA_CR:
			if (c != '\r')
				err = "bad chunk data CRLF";
			d->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (c != '\n')
				err = "bad chunk data CRLF";
			d->state = CH_SIZE_FIRST;
			d->line_len = 0;
			d->chunk_left = 0;
			break;
		case CH_SIZE_LF:
			if (c != '\n')
				err = "bare CR in chunk line";
			d->state = after_size_line(d);
			break;
		case CH_TRAILER_START:
		case CH_TRAILER_NAME:
		case CH_TRAILER_VALUE:
		case CH_TRAILER_LF:
		case CH_FINAL_LF:
			err = trailer_byte(d, c);
			break;
		default:
			err = size_line_byte(d, c);
			break;
		}
		rd++;
		if (err != NULL) {
			*len = wr;
			return chunked_fail(d, err);
		}
	}
	*len = wr;
	if (d->state != CH_DONE)
		return KA_PARSE_PARTIAL;
	/* The caller finds the bytes after the body (a pipelined request) at buf + *len. */
	if (rd < n)
		memmove(buf + wr, buf + rd, n - rd);
	return (ssize_t)(n - rd);
}
