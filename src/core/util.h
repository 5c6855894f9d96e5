/*
 * Small helpers every module needs and no module owns.
 */
#ifndef KA_UTIL_H
#define KA_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The struct that embeds member at ptr: how intrusive timer and list nodes find their
 * connection without a back pointer. */
#define ka_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define KA_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KA_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Writes v in decimal at p (no NUL); returns the end. For response heads, where
 * snprintf would cost more than the rest of the head. */
static inline char *ka_put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

#endif
