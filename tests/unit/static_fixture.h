/*
 * The fixture of the static handler tests (test_static_file.c, test_static_conditional.c):
 * a document root built under mkdtemp() (with a secret file beside it, outside the
 * root, for the escape tests), requests built by hand as the parser would slice them,
 * and helpers that read back the response description. Header-only, static: each test
 * binary has its own root, made by group_setup and removed by group_teardown.
 */
#ifndef KA_TEST_STATIC_FIXTURE_H
#define KA_TEST_STATIC_FIXTURE_H

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/static_file.h"

/* Every file gets this mtime, so validators are known in advance. */
#define MTIME 1700000000  /* 0x6553f100 */
#define MTIME_DATE "Tue, 14 Nov 2023 22:13:20 GMT"
#define HELLO_ETAG "\"6553f100-d\""

static char outer_dir[64];  /* holds root/ and secret.txt */
static char root_dir[96];
static struct ka_static_root root;
static char scratch[4096];

/* ---- fixture ---------------------------------------------------------------------- */

static inline void write_file(const char *rel, const char *data, size_t len, mode_t mode)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root_dir, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	struct timespec times[2] = { { MTIME, 0 }, { MTIME, 0 } };
	assert_int_equal(futimens(fd, times), 0);
	close(fd);
}

static inline void make_dir(const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root_dir, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static inline void make_symlink(const char *target, const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root_dir, rel);
	assert_int_equal(symlink(target, path), 0);
}

static inline int group_setup(void **state)
{
	(void)state;
	strcpy(outer_dir, "/tmp/ka-static-XXXXXX");
	assert_non_null(mkdtemp(outer_dir));
	assert_int_equal(chmod(outer_dir, 0755), 0);  /* the unprivileged test walks it */
	snprintf(root_dir, sizeof(root_dir), "%s/root", outer_dir);
	assert_int_equal(mkdir(root_dir, 0755), 0);

	char path[512];
	snprintf(path, sizeof(path), "%s/secret.txt", outer_dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("secret\n", f);
	fclose(f);

	write_file("hello.txt", "Hello, world\n", 13, 0644);
	write_file("empty.txt", "", 0, 0644);
	write_file("index.html", "<p>root</p>\n", 12, 0644);
	write_file("a b.txt", "space\n", 6, 0644);
	write_file("back\\slash.txt", "bs\n", 3, 0644);
	write_file("unreadable.txt", "no\n", 3, 0000);
	make_dir("dir");
	write_file("dir/index.html", "<p>dir</p>\n", 11, 0644);
	write_file("dir/style.CSS", "p{}\n", 4, 0644);
	make_dir("noindex");
	write_file("noindex/file.txt", "x\n", 2, 0644);
	make_dir("searchable");
	write_file("searchable/index.html", "<p>x</p>\n", 9, 0644);
	snprintf(path, sizeof(path), "%s/searchable", root_dir);
	assert_int_equal(chmod(path, 0711), 0);
	make_dir("private");
	write_file("private/index.html", "<p>x</p>\n", 9, 0644);
	snprintf(path, sizeof(path), "%s/private", root_dir);
	assert_int_equal(chmod(path, 0700), 0);
	make_dir("index-is-dir");
	make_dir("index-is-dir/index.html");
	make_symlink("hello.txt", "link-in.txt");
	make_symlink("dir", "link-dir");
	make_symlink("../secret.txt", "escape-rel.txt");
	snprintf(path, sizeof(path), "%s/secret.txt", outer_dir);
	make_symlink(path, "escape-abs.txt");
	make_symlink("/proc/self/root/etc/hostname", "magic.txt");
	make_symlink("loop-b", "loop-a");
	make_symlink("loop-a", "loop-b");
	snprintf(path, sizeof(path), "%s/fifo", root_dir);
	assert_int_equal(mkfifo(path, 0644), 0);

	assert_int_equal(ka_static_root_open(&root, root_dir), 0);
	return 0;
}

static inline int remove_entry(const char *path, const struct stat *st, int flag,
                               struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static inline int group_teardown(void **state)
{
	(void)state;
	ka_static_root_close(&root);
	return nftw(outer_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- requests and responses ------------------------------------------------------- */

static struct ka_http_request req;

static inline void request(enum ka_http_method method, const char *target)
{
	static const char *const names[] = { "BREW", "GET", "HEAD", "POST", "PUT", "DELETE",
	                                     "OPTIONS", "CONNECT", "TRACE", "PATCH" };
	memset(&req, 0, sizeof(req));
	req.method = (struct ka_str){ names[method], strlen(names[method]) };
	req.method_id = method;
	req.target = (struct ka_str){ target, strlen(target) };
	const char *q = strchr(target, '?');
	req.path = (struct ka_str){ target, q ? (size_t)(q - target) : strlen(target) };
	if (q != NULL)
		req.query = (struct ka_str){ q + 1, strlen(q + 1) };
	req.minor_version = 1;
	req.content_length = -1;
}

static inline void header(const char *name, const char *value)
{
	assert_true(req.num_headers < KA_HTTP_MAX_HEADERS);
	struct ka_http_header *h = &req.headers[req.num_headers++];
	h->name = (struct ka_str){ name, strlen(name) };
	h->value = (struct ka_str){ value, strlen(value) };
}

static struct ka_resp resp;

static inline void serve(void)
{
	memset(scratch, 0, sizeof(scratch));
	ka_static_serve(&root, NULL, &req, &resp, scratch, sizeof(scratch));
}

/* What conn.c does once the response is sent. */
static inline void done(void)
{
	if (resp.file_fd >= 0)
		close(resp.file_fd);
	resp.file_fd = -1;
}

static inline int status_of(enum ka_http_method method, const char *target)
{
	request(method, target);
	serve();
	done();
	return resp.status;
}

/* The value of a header in resp.extra, or NULL. */
static inline const char *resp_header(const char *name)
{
	static char value[KA_RESP_EXTRA_MAX];
	size_t name_len = strlen(name);
	const char *p = resp.extra, *end = resp.extra + resp.extra_len;
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		assert_non_null(eol);
		if ((size_t)(eol - p) >= name_len + 2 && strncasecmp(p, name, name_len) == 0 &&
		    p[name_len] == ':') {
			size_t len = (size_t)(eol - p) - name_len - 2;
			memcpy(value, p + name_len + 2, len);
			value[len] = '\0';
			return value;
		}
		p = eol + 2;
	}
	return NULL;
}

/* The body bytes the connection layer would send, NUL-terminated. */
static inline const char *body_text(void)
{
	static char body[8192];
	size_t len = 0;
	if (resp.body == KA_BODY_MEM) {
		len = resp.mem_len;
		memcpy(body, resp.mem, len);
	} else if (resp.body == KA_BODY_FILE) {
		len = resp.file_len;
		assert_true(len < sizeof(body));
		assert_int_equal(pread(resp.file_fd, body, len, resp.file_off), (ssize_t)len);
	}
	body[len] = '\0';
	return body;
}

static inline void assert_error_body(int status, const char *text)
{
	assert_int_equal(resp.status, status);
	assert_int_equal(resp.body, KA_BODY_MEM);
	assert_int_equal(resp.file_fd, -1);
	assert_string_equal(resp.content_type, "text/plain; charset=utf-8");
	assert_int_equal(resp.content_length, (int64_t)resp.mem_len);
	assert_string_equal(body_text(), text);
}

#endif
