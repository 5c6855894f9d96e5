/*
 * What the parser tests share (picohttpparser's trick): a guarded arena, where an input
 * is copied so that its last byte sits right before a PROT_NONE page and reading one
 * byte too far crashes the test instead of passing by luck; and the vocabulary of their
 * tables (S, ALL, PART, ERR, assert_str). Header-only, static: each test binary has its
 * own arena, set up once by guard_setup as its cmocka group setup.
 */
#ifndef KA_TEST_GUARD_H
#define KA_TEST_GUARD_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/http_parse.h"

#define GUARD_ARENA_SIZE (256 * 1024)

static char *guard_arena_end;  /* first byte of the PROT_NONE page */

/* A cmocka group setup: maps the arena and makes the page after it PROT_NONE. */
static inline int guard_setup(void **state)
{
	(void)state;
	long page = sysconf(_SC_PAGESIZE);
	char *base = mmap(NULL, GUARD_ARENA_SIZE + (size_t)page, PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED || mprotect(base + GUARD_ARENA_SIZE, (size_t)page, PROT_NONE) != 0)
		return -1;
	guard_arena_end = base + GUARD_ARENA_SIZE;
	return 0;
}

/* Copies n bytes so that they end exactly at the guard page; returns where they are. */
static inline char *guard_place(const char *src, size_t n)
{
	assert_true(n <= GUARD_ARENA_SIZE);
	char *dst = guard_arena_end - n;
	memmove(dst, src, n);
	return dst;
}

/* The vocabulary of the parser tables. */
#define S(lit) (lit), sizeof(lit) - 1  /* a literal and its length, NULs included */
#define ALL 0                          /* want: the whole input is the head */
#define PART KA_PARSE_PARTIAL
#define ERR KA_PARSE_ERROR

/* A slice equals a C string, or the test fails showing both. */
static inline void assert_str(struct ka_str s, const char *want)
{
	if (s.len != strlen(want) || memcmp(s.p, want, s.len) != 0)
		fail_msg("got \"%.*s\", want \"%s\"", (int)s.len, s.p, want);
}

#endif
