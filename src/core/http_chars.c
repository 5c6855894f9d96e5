/*
 * The character-class tables of http_chars.h. Ranges use the GNU "[a ... b]"
 * designator (we build with -std=gnu11).
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

