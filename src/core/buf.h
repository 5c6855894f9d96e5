/*
 * Buffers and fixed-size object pools, one set per worker thread (no locking). A
 * connection borrows a read buffer, a write buffer and its request state from these
 * pools while a request is under way and gives them back before it goes idle, so an
 * idle keep-alive connection holds none of them (nginx's ngx_http_set_keepalive idea).
 * Pools keep a bounded number of free blocks so a burst does not pin memory forever.
 */
#ifndef KA_BUF_H
#define KA_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- fixed-size pool --------------------------------------------------------------------- */

struct ka_pool {
	size_t block_size;
	void *free_list;   /* singly linked through each free block's first word */
	size_t nfree;
	size_t max_free;   /* blocks beyond this go back to malloc */
	size_t in_use;
};

void ka_pool_init(struct ka_pool *pool, size_t block_size, size_t max_free);
void ka_pool_destroy(struct ka_pool *pool);
void *ka_pool_get(struct ka_pool *pool);  /* NULL when out of memory */
void ka_pool_put(struct ka_pool *pool, void *block);

/* ---- byte buffers -------------------------------------------------------------------------- */

/* Unconsumed bytes are data[pos..len); free room is data[len..cap). */
struct ka_buf {
	uint32_t pos, len, cap;
	char data[];
};

/* A pool of ka_buf with cap bytes of data each. */
void ka_buf_pool_init(struct ka_pool *pool, size_t cap, size_t max_free);
struct ka_buf *ka_buf_get(struct ka_pool *pool);
static inline void ka_buf_put(struct ka_pool *pool, struct ka_buf *b)
{
	ka_pool_put(pool, b);
}

static inline size_t ka_buf_used(const struct ka_buf *b)
{
	return b->len - b->pos;
}

static inline size_t ka_buf_room(const struct ka_buf *b)
{
	return b->cap - b->len;
}

static inline void ka_buf_consume(struct ka_buf *b, size_t n)
{
	b->pos += n;
	if (b->pos == b->len)
		b->pos = b->len = 0;
}

/* Moves the unconsumed bytes to the start, making all free room contiguous. */
static inline void ka_buf_compact(struct ka_buf *b)
{
	if (b->pos) {
		memmove(b->data, b->data + b->pos, b->len - b->pos);
		b->len -= b->pos;
		b->pos = 0;
	}
}

/* Appends n bytes; the caller has checked the room. */
static inline void ka_buf_append(struct ka_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;  /* p may be NULL then, which memcpy does not allow */
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

#endif
