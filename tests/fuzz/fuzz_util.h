/*
 * What the parser fuzz targets share: require, which turns a broken invariant into a
 * crash libFuzzer keeps, and dup_exact, an exact-size heap copy so that AddressSanitizer
 * catches any read past the end of an input. Header-only (static inline): each target
 * is one source file.
 */
#ifndef KA_FUZZ_UTIL_H
#define KA_FUZZ_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline void require(bool ok)
{
	if (!ok)
		abort();
}

static inline char *dup_exact(const uint8_t *p, size_t n)
{
	char *b = malloc(n ? n : 1);
	require(b != NULL);
	if (n)
		memcpy(b, p, n);
	return b;
}

#endif
