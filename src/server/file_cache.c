/*
 * The small-file cache (see file_cache.h). One worker owns one cache, so there is no
 * locking: a reference count keeps an entry alive while a response still points into
 * it, after a newer version of the file has taken its slot.
 */
#include "server/file_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void ka_file_cache_init(struct ka_file_cache *fc)
{
	memset(fc, 0, sizeof(*fc));
	fc->stable_ns = 2LL * 1000000000;
}

static size_t slot_of(const char *key, size_t len)
{
	uint64_t h = 1469598103934665603ULL;  /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
	return (size_t)(h % KA_FILE_CACHE_SLOTS);
}

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool still_same(const struct ka_cached_file *f, const struct stat *st)
{
	return S_ISREG(st->st_mode) && st->st_dev == f->dev && st->st_ino == f->ino &&
	       st->st_size == f->size && same_time(st->st_mtim, f->mtime) &&
	       same_time(st->st_ctim, f->ctime);
}

int ka_file_validators(int64_t mtime, uint64_t size, char etag[48], int *etag_len,
                       char lines[128])
{
	char date[KA_HTTP_DATE_LEN + 1];

	*etag_len = snprintf(etag, 48, "\"%llx-%llx\"", (unsigned long long)mtime,
	                     (unsigned long long)size);
	ka_http_date_format(mtime, date);
	return snprintf(lines, 128, "Last-Modified: %s\r\nETag: %s\r\n", date, etag);
}

void ka_cached_file_unpin(void *cached_file)
{
	struct ka_cached_file *f = cached_file;

	if (f && --f->refs == 0)
		free(f);
}

static void drop_slot(struct ka_file_cache *fc, size_t i)
{
	ka_cached_file_unpin(fc->slot[i]);
	fc->slot[i] = NULL;
}

struct ka_cached_file *ka_file_cache_get(struct ka_file_cache *fc, int dir_fd,
                                         const char *key, size_t key_len)
{
	size_t i = slot_of(key, key_len);
	struct ka_cached_file *f = fc->slot[i];
	struct stat st;

	if (!f || f->key_len != key_len || memcmp(f->key, key, key_len) != 0)
		return NULL;
	/* Following symlinks without RESOLVE_BENEATH is safe here: a match means the very
	 * inode that openat2 once reached beneath the root, whatever the path is now. */
	if (f->checked != fc->pass) {
		if (fstatat(dir_fd, f->file, &st, 0) < 0 || !still_same(f, &st)) {
			drop_slot(fc, i);
			return NULL;
		}
		f->checked = fc->pass;
	}
	f->refs++;
	return f;
}

struct ka_cached_file *ka_file_cache_put(struct ka_file_cache *fc, const char *key,
                                         size_t key_len, const char *file, size_t file_len,
                                         int fd, const struct stat *st,
                                         const char *content_type)
{
	struct ka_cached_file *f;
	struct timespec now;
	size_t size = (size_t)st->st_size, got = 0;
	long long age;

	if (st->st_size > KA_FILE_CACHE_MAX_SIZE || !S_ISREG(st->st_mode))
		return NULL;
	clock_gettime(CLOCK_REALTIME, &now);
	age = (long long)(now.tv_sec - st->st_ctim.tv_sec) * 1000000000LL +
	      (now.tv_nsec - st->st_ctim.tv_nsec);
	if (age < fc->stable_ns)  /* ctime moves with every write, so it covers mtime too */
		return NULL;
	f = malloc(sizeof(*f) + size + key_len + 1 + file_len + 1);
	if (!f)
		return NULL;
	while (got < size) {
		ssize_t n = pread(fd, f->data + got, size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(f);
			return NULL;
		}
		got += (size_t)n;
	}
	f->refs = 2;  /* the cache's and the caller's */
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = st->st_size;
	f->mtime = st->st_mtim;
	f->ctime = st->st_ctim;
	f->content_type = content_type;
	f->mtime_s = (int64_t)st->st_mtime;
	f->checked = fc->pass;  /* st is this pass's */
	f->validators_len = ka_file_validators(f->mtime_s, size, f->etag, &f->etag_len,
	                                       f->validators);
	f->key = f->data + size;
	memcpy(f->key, key, key_len);
	f->key[key_len] = '\0';
	f->key_len = key_len;
	f->file = f->key + key_len + 1;
	memcpy(f->file, file, file_len);
	f->file[file_len] = '\0';
	f->file_len = file_len;
	drop_slot(fc, slot_of(key, key_len));
	fc->slot[slot_of(key, key_len)] = f;
	return f;
}

void ka_file_cache_clear(struct ka_file_cache *fc)
{
	for (size_t i = 0; i < KA_FILE_CACHE_SLOTS; i++)
		drop_slot(fc, i);
}
