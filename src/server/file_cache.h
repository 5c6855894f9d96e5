/*
 * A per-worker cache of small static files: their bytes and their ready-made
 * validators, so that a request for a small file costs at most one fstatat instead of
 * openat2, fstat, pread and close. Exact, not time-based: an entry is checked against
 * the file's current identity and times (device, inode, size, mtime and ctime in
 * nanoseconds) by the first request that uses it in each pass of the event loop, and
 * a file changed within the last two seconds is not cached at all, because the
 * kernel's file timestamps advance in clock ticks and two writes within one tick
 * would look the same. The requests of one pass (one epoll_wait's batch: pipelined
 * requests, many connections under load) share the check, so a change is seen at most
 * one pass late: the time it takes to answer one batch of ready events.
 */
#ifndef KA_FILE_CACHE_H
#define KA_FILE_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "core/http_parse.h"

/* Formats the validators of a file of this mtime and size: its strong entity-tag
 * ("<mtime hex>-<size hex>") into etag, and the Last-Modified and ETag header lines
 * into lines; returns the length of lines. */
int ka_file_validators(int64_t mtime, uint64_t size, char etag[48], int *etag_len,
                       char lines[128]);

#define KA_FILE_CACHE_SLOTS 512     /* direct-mapped by path hash */
#define KA_FILE_CACHE_MAX_SIZE 16384 /* larger files go out with sendfile instead */

struct ka_cached_file {
	unsigned refs;  /* the cache's, plus one per response still sending it */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	const char *content_type;
	char etag[48];
	int etag_len;
	int64_t mtime_s;
	int64_t checked;  /* the pass in which it last matched the file on disk */
	/* "Last-Modified: ...\r\nETag: ...\r\n", ready to copy into a response */
	char validators[128];
	int validators_len;
	size_t key_len;   /* the request path, relative to the root */
	size_t file_len;  /* the file's path, relative to the root (may add index.html) */
	char *key, *file;
	char data[];      /* size bytes, then key and file */
};

struct ka_file_cache {
	int64_t stable_ns;  /* files changed more recently than this are not cached */
	int64_t pass;       /* the event loop's pass, set by the owner before each use */
	struct ka_cached_file *slot[KA_FILE_CACHE_SLOTS];
};

/* An empty cache with the two-second stability rule. */
void ka_file_cache_init(struct ka_file_cache *fc);

/* The cached file for the request path key (relative to the root), if it is there and
 * still the file on disk (checked once per fc->pass); pinned for the caller
 * (ka_cached_file_unpin). */
struct ka_cached_file *ka_file_cache_get(struct ka_file_cache *fc, int dir_fd,
                                         const char *key, size_t key_len);

/* Caches the open regular file fd (described by st, found at file for the request
 * path key) when it is small and has not changed in the last two seconds; returns it
 * pinned for the caller, or NULL when it is not cached. */
struct ka_cached_file *ka_file_cache_put(struct ka_file_cache *fc, const char *key,
                                         size_t key_len, const char *file, size_t file_len,
                                         int fd, const struct stat *st,
                                         const char *content_type);

void ka_cached_file_unpin(void *cached_file);
void ka_file_cache_clear(struct ka_file_cache *fc);

#endif
