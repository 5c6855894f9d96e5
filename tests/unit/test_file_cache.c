/*
 * The small-file cache: a hit only while the file on disk is the one cached, pinned
 * entries outlive their slot, recently changed and large files are not cached.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/file_cache.h"
#include "server/static_file.h"

struct fixture {
	char dir[64];
	int dir_fd;
	struct ka_file_cache fc;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/kahttpd-fcache-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->dir_fd = open(f->dir, O_PATH | O_DIRECTORY);
	assert_true(f->dir_fd >= 0);
	ka_file_cache_init(&f->fc);
	f->fc.stable_ns = 0;  /* the two-second rule has its own test */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	ka_file_cache_clear(&f->fc);
	close(f->dir_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void write_file(struct fixture *f, const char *name, const char *text)
{
	char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* Opens name and puts it in the cache under the same key; returns the pinned entry. */
static struct ka_cached_file *put(struct fixture *f, const char *name)
{
	char path[128];
	struct stat st;
	struct ka_cached_file *c;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	c = ka_file_cache_put(&f->fc, name, strlen(name), name, strlen(name), fd, &st,
	                      "text/plain");
	close(fd);
	return c;
}

static void test_put_then_get_returns_the_bytes_and_validators(void **state)
{
	struct fixture *f = *state;
	struct ka_cached_file *c, *hit;

	write_file(f, "a.txt", "hello");
	c = put(f, "a.txt");
	assert_non_null(c);
	hit = ka_file_cache_get(&f->fc, f->dir_fd, "a.txt", 5);
	assert_ptr_equal(hit, c);
	assert_memory_equal(hit->data, "hello", 5);
	assert_int_equal(hit->size, 5);
	assert_int_equal(hit->etag[0], '"');
	assert_non_null(strstr(hit->validators, "Last-Modified: "));
	assert_non_null(strstr(hit->validators, "ETag: \""));
	ka_cached_file_unpin(hit);
	ka_cached_file_unpin(c);
}

static void test_changed_file_is_a_miss(void **state)
{
	struct fixture *f = *state;
	struct ka_cached_file *c;

	write_file(f, "a.txt", "hello");
	c = put(f, "a.txt");
	ka_cached_file_unpin(c);
	write_file(f, "a.txt", "HELLO, longer");  /* size, mtime and ctime all move */
	f->fc.pass++;  /* a later pass of the loop */
	assert_null(ka_file_cache_get(&f->fc, f->dir_fd, "a.txt", 5));
}

static void test_same_size_rewrite_is_a_miss(void **state)
{
	struct fixture *f = *state;
	struct ka_cached_file *c;
	char path[128];
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 12345, 0 } };

	write_file(f, "a.txt", "hello");
	c = put(f, "a.txt");
	ka_cached_file_unpin(c);
	/* Same size, and an mtime set back by hand: ctime still tells. */
	write_file(f, "a.txt", "HELLO");
	snprintf(path, sizeof(path), "%s/a.txt", f->dir);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	f->fc.pass++;  /* a later pass of the loop */
	assert_null(ka_file_cache_get(&f->fc, f->dir_fd, "a.txt", 5));
}

/* One check per pass: the requests of one pass share it, the next pass looks again. */
static void test_checked_once_per_pass(void **state)
{
	struct fixture *f = *state;
	struct ka_cached_file *c, *hit;

	write_file(f, "a.txt", "hello");
	f->fc.pass = 7;
	c = put(f, "a.txt");
	ka_cached_file_unpin(c);
	write_file(f, "a.txt", "HELLO, longer");
	hit = ka_file_cache_get(&f->fc, f->dir_fd, "a.txt", 5);  /* same pass: not looked at */
	assert_ptr_equal(hit, c);
	ka_cached_file_unpin(hit);
	f->fc.pass = 8;
	assert_null(ka_file_cache_get(&f->fc, f->dir_fd, "a.txt", 5));
}

static void test_replaced_file_is_a_miss(void **state)
{
	struct fixture *f = *state;
	struct ka_cached_file *c;
	char from[128], to[128];

	write_file(f, "a.txt", "hello");
	c = put(f, "a.txt");
	ka_cached_file_unpin(c);
	write_file(f, "b.txt", "hello");
	snprintf(from, sizeof(from), "%s/b.txt", f->dir);
	snprintf(to, sizeof(to), "%s/a.txt", f->dir);
	assert_int_equal(rename(from, to), 0);  /* another inode under the same name */
	f->fc.pass++;  /* a later pass of the loop */
	assert_null(ka_file_cache_get(&f->fc, f->dir_fd, "a.txt", 5));
}

static void test_deleted_file_is_a_miss(void **state)
{
	struct fixture *f = *state;
	char path[128];

	write_file(f, "a.txt", "hello");
	ka_cached_file_unpin(put(f, "a.txt"));
	snprintf(path, sizeof(path), "%s/a.txt", f->dir);
	assert_int_equal(unlink(path), 0);
	f->fc.pass++;  /* a later pass of the loop */
	assert_null(ka_file_cache_get(&f->fc, f->dir_fd, "a.txt", 5));
}

static void test_pinned_entry_outlives_its_slot(void **state)
{
	struct fixture *f = *state;
	struct ka_cached_file *old, *newer;

	write_file(f, "a.txt", "hello");
	old = put(f, "a.txt");       /* pinned, as by a response still sending it */
	write_file(f, "a.txt", "world!");
	newer = put(f, "a.txt");     /* takes the slot */
	assert_ptr_not_equal(old, newer);
	assert_memory_equal(old->data, "hello", 5);  /* ASan: still valid */
	ka_cached_file_unpin(old);
	ka_cached_file_unpin(newer);
}

static void test_recently_changed_file_is_not_cached(void **state)
{
	struct fixture *f = *state;

	f->fc.stable_ns = 2LL * 1000000000;
	write_file(f, "a.txt", "hello");
	assert_null(put(f, "a.txt"));
	f->fc.pass++;  /* a later pass of the loop */
	assert_null(ka_file_cache_get(&f->fc, f->dir_fd, "a.txt", 5));
}

static void test_large_file_is_not_cached(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(KA_FILE_CACHE_MAX_SIZE + 2);

	memset(big, 'x', KA_FILE_CACHE_MAX_SIZE + 1);
	big[KA_FILE_CACHE_MAX_SIZE + 1] = '\0';
	write_file(f, "big.bin", big);
	free(big);
	assert_null(put(f, "big.bin"));
}

static void test_key_and_file_may_differ(void **state)
{
	struct fixture *f = *state;
	char path[128];
	struct stat st;
	struct ka_cached_file *c, *hit;
	int fd;

	/* "dir/" is served from "dir/index.html": the key is the request path. */
	snprintf(path, sizeof(path), "%s/dir", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	write_file(f, "dir/index.html", "<p>hi</p>");
	snprintf(path, sizeof(path), "%s/dir/index.html", f->dir);
	fd = open(path, O_RDONLY);
	assert_int_equal(fstat(fd, &st), 0);
	c = ka_file_cache_put(&f->fc, "dir/", 4, "dir/index.html", 14, fd, &st, "text/html");
	close(fd);
	assert_non_null(c);
	hit = ka_file_cache_get(&f->fc, f->dir_fd, "dir/", 4);
	assert_ptr_equal(hit, c);
	assert_null(ka_file_cache_get(&f->fc, f->dir_fd, "dir", 3));
	ka_cached_file_unpin(hit);
	ka_cached_file_unpin(c);
}

/* Through the static handler: the second request is a hit, and conditionals and
 * ranges work on the cached bytes as on the file. */
static void serve(struct fixture *f, const char *head, struct ka_resp *resp)
{
	static struct ka_http_request req;
	static char scratch[4096];
	const struct ka_http_limits lim = { 16384, KA_HTTP_MAX_TARGET };
	struct ka_static_root root = { f->dir_fd };

	assert_true(ka_http_parse_request(head, strlen(head), 0, &lim, &req) > 0);
	ka_static_serve(&root, &f->fc, &req, resp, scratch, sizeof(scratch));
}

static void release(struct ka_resp *r)
{
	if (r->file_fd >= 0)
		close(r->file_fd);
	if (r->pin)
		r->unpin(r->pin);
}

static void test_static_handler_serves_hits_from_memory(void **state)
{
	struct fixture *f = *state;
	struct ka_resp first, hit, cond, range;
	char inm[160];

	write_file(f, "a.txt", "hello world");
	serve(f, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &first);
	assert_int_equal(first.status, 200);
	assert_int_equal(first.body, KA_BODY_MEM);  /* put, then served from the entry */
	release(&first);

	serve(f, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &hit);
	assert_int_equal(hit.status, 200);
	assert_int_equal(hit.body, KA_BODY_MEM);
	assert_int_equal(hit.content_length, 11);
	assert_memory_equal(hit.mem, "hello world", 11);
	assert_non_null(strstr(hit.extra, "ETag: \""));
	snprintf(inm, sizeof(inm), "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: %.*s\r\n\r\n",
	         (int)(strchr(strstr(hit.extra, "ETag: ") + 6, '\r') - (strstr(hit.extra, "ETag: ") + 6)),
	         strstr(hit.extra, "ETag: ") + 6);
	release(&hit);

	serve(f, inm, &cond);
	assert_int_equal(cond.status, 304);
	release(&cond);

	serve(f, "GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=6-\r\n\r\n", &range);
	assert_int_equal(range.status, 206);
	assert_int_equal(range.content_length, 5);
	assert_memory_equal(range.mem, "world", 5);
	release(&range);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_then_get_returns_the_bytes_and_validators,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_file_is_a_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_size_rewrite_is_a_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checked_once_per_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_file_is_a_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_file_is_a_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pinned_entry_outlives_its_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recently_changed_file_is_not_cached, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_large_file_is_not_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_and_file_may_differ, setup, teardown),
		cmocka_unit_test_setup_teardown(test_static_handler_serves_hits_from_memory, setup,
		                                teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
