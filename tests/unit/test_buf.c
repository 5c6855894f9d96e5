/*
 * Unit tests for src/core/buf.c and the inline buffer helpers in buf.h. The pool tests
 * check reuse (the same block comes back), the max_free bound and in_use accounting;
 * blocks the pool must free are caught by the sanitizer build's leak checker, which is
 * why every test returns what it took and destroys its pool. The buffer tests pin the
 * pos/len/cap rules the connection code relies on, consume-to-empty resetting to 0 in
 * particular, and fill buffers to the last byte so a wrong cap overflows under ASan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

/* ---- pool -------------------------------------------------------------------------------- */

static void test_pool_init_starts_empty(void **state)
{
	(void)state;
	struct ka_pool pool;

	ka_pool_init(&pool, 128, 4);
	assert_int_equal(pool.block_size, 128);
	assert_null(pool.free_list);
	assert_int_equal(pool.nfree, 0);
	assert_int_equal(pool.max_free, 4);
	assert_int_equal(pool.in_use, 0);
	ka_pool_destroy(&pool);
}

static void test_pool_block_is_at_least_a_pointer_for_the_free_link(void **state)
{
	(void)state;
	struct ka_pool pool;

	ka_pool_init(&pool, 1, 4);
	assert_true(pool.block_size >= sizeof(void *));
	void *a = ka_pool_get(&pool);
	assert_non_null(a);
	ka_pool_put(&pool, a);  /* writes the link into the block: must fit */
	assert_ptr_equal(ka_pool_get(&pool), a);
	ka_pool_put(&pool, a);
	ka_pool_destroy(&pool);
}

static void test_pool_put_then_get_returns_the_same_block(void **state)
{
	(void)state;
	struct ka_pool pool;

	ka_pool_init(&pool, 64, 4);
	char *a = ka_pool_get(&pool);
	assert_non_null(a);
	memset(a, 0xab, 64);  /* the whole block is usable */
	ka_pool_put(&pool, a);
	assert_int_equal(pool.nfree, 1);
	assert_ptr_equal(ka_pool_get(&pool), a);
	assert_int_equal(pool.nfree, 0);
	ka_pool_put(&pool, a);
	ka_pool_destroy(&pool);
}

static void test_pool_reuses_most_recently_returned_block_first(void **state)
{
	(void)state;
	struct ka_pool pool;

	ka_pool_init(&pool, 64, 4);
	void *a = ka_pool_get(&pool);
	void *b = ka_pool_get(&pool);
	assert_ptr_not_equal(a, b);
	ka_pool_put(&pool, a);
	ka_pool_put(&pool, b);
	/* LIFO: the block touched last is the one most likely still in cache. */
	assert_ptr_equal(ka_pool_get(&pool), b);
	assert_ptr_equal(ka_pool_get(&pool), a);
	ka_pool_put(&pool, a);
	ka_pool_put(&pool, b);
	ka_pool_destroy(&pool);
}

static void test_pool_keeps_at_most_max_free_blocks(void **state)
{
	(void)state;
	struct ka_pool pool;
	void *blocks[6];

	ka_pool_init(&pool, 256, 2);
	for (size_t i = 0; i < 6; i++)
		assert_non_null(blocks[i] = ka_pool_get(&pool));
	for (size_t i = 0; i < 6; i++) {
		ka_pool_put(&pool, blocks[i]);
		assert_int_equal(pool.nfree, i < 2 ? i + 1 : 2);
	}
	/* The first two returned are kept; the other four went back to malloc (a leak
	 * here would show in the sanitizer build). */
	void *x = ka_pool_get(&pool);
	void *y = ka_pool_get(&pool);
	assert_true((x == blocks[0] && y == blocks[1]) || (x == blocks[1] && y == blocks[0]));
	assert_int_equal(pool.nfree, 0);
	ka_pool_put(&pool, x);
	ka_pool_put(&pool, y);
	ka_pool_destroy(&pool);
}

static void test_pool_with_max_free_zero_keeps_nothing(void **state)
{
	(void)state;
	struct ka_pool pool;

	ka_pool_init(&pool, 32, 0);
	void *a = ka_pool_get(&pool);
	assert_non_null(a);
	ka_pool_put(&pool, a);
	assert_int_equal(pool.nfree, 0);
	assert_null(pool.free_list);
	assert_int_equal(pool.in_use, 0);
	ka_pool_destroy(&pool);
}

static void test_pool_in_use_counts_blocks_handed_out(void **state)
{
	(void)state;
	struct ka_pool pool;
	void *blocks[5];

	ka_pool_init(&pool, 48, 1);
	for (size_t i = 0; i < 5; i++) {
		blocks[i] = ka_pool_get(&pool);
		assert_int_equal(pool.in_use, i + 1);
	}
	for (size_t i = 0; i < 5; i++) {
		ka_pool_put(&pool, blocks[i]);
		assert_int_equal(pool.in_use, 4 - i);
	}
	/* A reused block counts the same as a fresh one. */
	void *a = ka_pool_get(&pool);
	assert_int_equal(pool.in_use, 1);
	assert_int_equal(pool.nfree, 0);
	ka_pool_put(&pool, a);
	assert_int_equal(pool.in_use, 0);
	ka_pool_destroy(&pool);
}

static void test_pool_put_null_changes_nothing(void **state)
{
	(void)state;
	struct ka_pool pool;

	ka_pool_init(&pool, 64, 4);
	void *a = ka_pool_get(&pool);
	ka_pool_put(&pool, NULL);
	assert_int_equal(pool.in_use, 1);
	assert_int_equal(pool.nfree, 0);
	ka_pool_put(&pool, a);
	ka_pool_destroy(&pool);
}

static void test_pool_destroy_frees_every_free_block(void **state)
{
	(void)state;
	struct ka_pool pool;
	void *blocks[8];

	ka_pool_init(&pool, 100, 8);
	for (size_t i = 0; i < 8; i++)
		blocks[i] = ka_pool_get(&pool);
	for (size_t i = 0; i < 8; i++)
		ka_pool_put(&pool, blocks[i]);
	assert_int_equal(pool.nfree, 8);
	ka_pool_destroy(&pool);
	assert_null(pool.free_list);
	assert_int_equal(pool.nfree, 0);
	/* The pool is usable again after destroy. */
	void *a = ka_pool_get(&pool);
	assert_non_null(a);
	ka_pool_put(&pool, a);
	ka_pool_destroy(&pool);
}

/* ---- buffers ----------------------------------------------------------------------------- */

static void test_buf_get_gives_empty_buffer_with_requested_cap(void **state)
{
	(void)state;
	struct ka_pool pool;

	ka_buf_pool_init(&pool, 4096, 2);
	struct ka_buf *b = ka_buf_get(&pool);
	assert_non_null(b);
	assert_int_equal(b->cap, 4096);
	assert_int_equal(b->pos, 0);
	assert_int_equal(b->len, 0);
	assert_int_equal(ka_buf_used(b), 0);
	assert_int_equal(ka_buf_room(b), 4096);
	assert_int_equal(pool.in_use, 1);
	ka_buf_put(&pool, b);
	assert_int_equal(pool.in_use, 0);
	ka_pool_destroy(&pool);
}

static void test_buf_get_resets_a_reused_buffer(void **state)
{
	(void)state;
	struct ka_pool pool;

	ka_buf_pool_init(&pool, 64, 2);
	struct ka_buf *b = ka_buf_get(&pool);
	ka_buf_append(b, "hello world", 11);
	ka_buf_consume(b, 3);
	ka_buf_put(&pool, b);

	struct ka_buf *again = ka_buf_get(&pool);
	assert_ptr_equal(again, b);
	assert_int_equal(again->pos, 0);
	assert_int_equal(again->len, 0);
	assert_int_equal(again->cap, 64);
	ka_buf_put(&pool, again);
	ka_pool_destroy(&pool);
}

static void test_buf_can_be_filled_to_the_last_byte_of_cap(void **state)
{
	(void)state;
	struct ka_pool pool;
	char fill[100];

	memset(fill, 'x', sizeof(fill));
	ka_buf_pool_init(&pool, sizeof(fill), 1);
	struct ka_buf *b = ka_buf_get(&pool);
	ka_buf_append(b, fill, sizeof(fill));
	assert_int_equal(ka_buf_room(b), 0);
	assert_int_equal(ka_buf_used(b), sizeof(fill));
	assert_memory_equal(b->data, fill, sizeof(fill));
	ka_buf_put(&pool, b);
	ka_pool_destroy(&pool);
}

static void test_buf_append_adds_at_len_and_shrinks_room(void **state)
{
	(void)state;
	struct ka_pool pool;

	ka_buf_pool_init(&pool, 32, 1);
	struct ka_buf *b = ka_buf_get(&pool);
	ka_buf_append(b, "GET ", 4);
	ka_buf_append(b, "/ HTTP/1.1", 10);
	assert_int_equal(b->len, 14);
	assert_int_equal(b->pos, 0);
	assert_int_equal(ka_buf_used(b), 14);
	assert_int_equal(ka_buf_room(b), 32 - 14);
	assert_memory_equal(b->data, "GET / HTTP/1.1", 14);
	ka_buf_append(b, "", 0);
	assert_int_equal(b->len, 14);
	ka_buf_put(&pool, b);
	ka_pool_destroy(&pool);
}

static void test_buf_consume_part_advances_pos_only(void **state)
{
	(void)state;
	struct ka_pool pool;

	ka_buf_pool_init(&pool, 32, 1);
	struct ka_buf *b = ka_buf_get(&pool);
	ka_buf_append(b, "abcdefgh", 8);
	ka_buf_consume(b, 3);
	assert_int_equal(b->pos, 3);
	assert_int_equal(b->len, 8);
	assert_int_equal(ka_buf_used(b), 5);
	assert_memory_equal(b->data + b->pos, "defgh", 5);
	/* Consuming does not give room back: that is compact's job. */
	assert_int_equal(ka_buf_room(b), 32 - 8);
	ka_buf_consume(b, 0);
	assert_int_equal(b->pos, 3);
	ka_buf_put(&pool, b);
	ka_pool_destroy(&pool);
}

static void test_buf_consume_to_empty_resets_pos_and_len_to_zero(void **state)
{
	(void)state;
	struct ka_pool pool;

	ka_buf_pool_init(&pool, 16, 1);
	struct ka_buf *b = ka_buf_get(&pool);
	ka_buf_append(b, "0123456789abcdef", 16);
	assert_int_equal(ka_buf_room(b), 0);
	ka_buf_consume(b, 10);
	ka_buf_consume(b, 6);
	assert_int_equal(b->pos, 0);
	assert_int_equal(b->len, 0);
	assert_int_equal(ka_buf_used(b), 0);
	assert_int_equal(ka_buf_room(b), 16);  /* the whole buffer is free again */

	/* In one step as well. */
	ka_buf_append(b, "xyz", 3);
	ka_buf_consume(b, 3);
	assert_int_equal(b->pos, 0);
	assert_int_equal(b->len, 0);
	ka_buf_put(&pool, b);
	ka_pool_destroy(&pool);
}

static void test_buf_compact_moves_unconsumed_bytes_to_start(void **state)
{
	(void)state;
	struct ka_pool pool;

	ka_buf_pool_init(&pool, 16, 1);
	struct ka_buf *b = ka_buf_get(&pool);
	ka_buf_append(b, "0123456789abcdef", 16);
	ka_buf_consume(b, 12);
	assert_int_equal(ka_buf_room(b), 0);
	ka_buf_compact(b);
	assert_int_equal(b->pos, 0);
	assert_int_equal(b->len, 4);
	assert_memory_equal(b->data, "cdef", 4);
	assert_int_equal(ka_buf_room(b), 12);

	/* Overlapping move: more unconsumed bytes than were consumed. */
	ka_buf_append(b, "ghijklmnopqr", 12);
	ka_buf_consume(b, 2);
	ka_buf_compact(b);
	assert_int_equal(b->len, 14);
	assert_memory_equal(b->data, "efghijklmnopqr", 14);
	ka_buf_put(&pool, b);
	ka_pool_destroy(&pool);
}

static void test_buf_compact_without_consumed_bytes_changes_nothing(void **state)
{
	(void)state;
	struct ka_pool pool;

	ka_buf_pool_init(&pool, 16, 1);
	struct ka_buf *b = ka_buf_get(&pool);
	ka_buf_compact(b);  /* empty */
	assert_int_equal(b->pos, 0);
	assert_int_equal(b->len, 0);
	ka_buf_append(b, "abc", 3);
	ka_buf_compact(b);
	assert_int_equal(b->pos, 0);
	assert_int_equal(b->len, 3);
	assert_memory_equal(b->data, "abc", 3);
	ka_buf_put(&pool, b);
	ka_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_init_starts_empty),
		cmocka_unit_test(test_pool_block_is_at_least_a_pointer_for_the_free_link),
		cmocka_unit_test(test_pool_put_then_get_returns_the_same_block),
		cmocka_unit_test(test_pool_reuses_most_recently_returned_block_first),
		cmocka_unit_test(test_pool_keeps_at_most_max_free_blocks),
		cmocka_unit_test(test_pool_with_max_free_zero_keeps_nothing),
		cmocka_unit_test(test_pool_in_use_counts_blocks_handed_out),
		cmocka_unit_test(test_pool_put_null_changes_nothing),
		cmocka_unit_test(test_pool_destroy_frees_every_free_block),
		cmocka_unit_test(test_buf_get_gives_empty_buffer_with_requested_cap),
		cmocka_unit_test(test_buf_get_resets_a_reused_buffer),
		cmocka_unit_test(test_buf_can_be_filled_to_the_last_byte_of_cap),
		cmocka_unit_test(test_buf_append_adds_at_len_and_shrinks_room),
		cmocka_unit_test(test_buf_consume_part_advances_pos_only),
		cmocka_unit_test(test_buf_consume_to_empty_resets_pos_and_len_to_zero),
		cmocka_unit_test(test_buf_compact_moves_unconsumed_bytes_to_start),
		cmocka_unit_test(test_buf_compact_without_consumed_bytes_changes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
