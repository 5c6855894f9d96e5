/*
 * Pools and buffers (see buf.h). A free block stores the free-list link in its first
 * word, so a pool needs no memory of its own beyond the counters.
 */
#include "core/buf.h"

#include <stdlib.h>

void ka_pool_init(struct ka_pool *pool, size_t block_size, size_t max_free)
{
	pool->block_size = block_size < sizeof(void *) ? sizeof(void *) : block_size;
	pool->free_list = NULL;
	pool->nfree = 0;
	pool->max_free = max_free;
	pool->in_use = 0;
}

void ka_pool_destroy(struct ka_pool *pool)
{
	while (pool->free_list) {
		void *next = *(void **)pool->free_list;

		free(pool->free_list);
		pool->free_list = next;
	}
	pool->nfree = 0;
}

void *ka_pool_get(struct ka_pool *pool)
{
	void *block = pool->free_list;

	if (block) {
		pool->free_list = *(void **)block;
		pool->nfree--;
	} else {
		block = malloc(pool->block_size);
		if (!block)
			return NULL;
	}
	pool->in_use++;
	return block;
}

void ka_pool_put(struct ka_pool *pool, void *block)
{
	if (!block)
		return;
	pool->in_use--;
	if (pool->nfree >= pool->max_free) {
		free(block);
		return;
	}
	*(void **)block = pool->free_list;
	pool->free_list = block;
	pool->nfree++;
}

void ka_buf_pool_init(struct ka_pool *pool, size_t cap, size_t max_free)
{
	ka_pool_init(pool, sizeof(struct ka_buf) + cap, max_free);
}

struct ka_buf *ka_buf_get(struct ka_pool *pool)
{
	struct ka_buf *b = ka_pool_get(pool);

	if (b) {
		b->pos = b->len = 0;
		b->cap = (uint32_t)(pool->block_size - sizeof(struct ka_buf));
	}
	return b;
}
