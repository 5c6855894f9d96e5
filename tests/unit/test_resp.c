/*
 * Unit tests for src/server/resp.c: building a response description, the error-text
 * format every handler uses, and the reason phrases of every status the server sends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/resp.h"

static void test_init_gives_empty_response_without_fd(void **state)
{
	(void)state;
	struct ka_resp r;
	memset(&r, 0x5a, sizeof(r));
	ka_resp_init(&r, 404);
	assert_int_equal(r.status, 404);
	assert_null(r.content_type);
	assert_int_equal(r.extra_len, 0);
	assert_int_equal(r.content_length, 0);
	assert_int_equal(r.body, KA_BODY_NONE);
	assert_null(r.mem);
	assert_int_equal(r.mem_len, 0);
	assert_int_equal(r.file_fd, -1);
	assert_int_equal(r.file_off, 0);
	assert_int_equal(r.file_len, 0);
}

static void test_add_header_appends_name_colon_value_crlf(void **state)
{
	(void)state;
	struct ka_resp r;
	ka_resp_init(&r, 200);
	assert_int_equal(ka_resp_add_header(&r, "ETag", "\"1-2\""), 0);
	assert_int_equal(ka_resp_add_header(&r, "Accept-Ranges", "bytes"), 0);
	const char want[] = "ETag: \"1-2\"\r\nAccept-Ranges: bytes\r\n";
	assert_int_equal(r.extra_len, sizeof(want) - 1);
	assert_memory_equal(r.extra, want, sizeof(want) - 1);
	assert_string_equal(r.extra, want);  /* kept NUL-terminated */
}

static void test_add_header_that_does_not_fit_adds_nothing(void **state)
{
	(void)state;
	struct ka_resp r;
	ka_resp_init(&r, 200);
	char value[KA_RESP_EXTRA_MAX];
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	assert_int_equal(ka_resp_add_header(&r, "X-Big", value), -1);
	assert_int_equal(r.extra_len, 0);

	/* Fill to the last byte that still leaves room for the NUL, then one more. */
	size_t fill = KA_RESP_EXTRA_MAX - 1 - (strlen("X-A: ") + 2);
	value[fill] = '\0';
	assert_int_equal(ka_resp_add_header(&r, "X-A", value), 0);
	assert_int_equal(r.extra_len, KA_RESP_EXTRA_MAX - 1);
	assert_int_equal(ka_resp_add_header(&r, "X", ""), -1);
	assert_int_equal(r.extra_len, KA_RESP_EXTRA_MAX - 1);
}

static void test_add_header_refuses_response_splitting(void **state)
{
	(void)state;
	struct ka_resp r;
	ka_resp_init(&r, 301);
	assert_int_equal(ka_resp_add_header(&r, "Location", "/a\r\nSet-Cookie: x=1"), -1);
	assert_int_equal(ka_resp_add_header(&r, "Location", "/a\nb"), -1);
	assert_int_equal(ka_resp_add_header(&r, "Location", "/a\x01"), -1);
	assert_int_equal(ka_resp_add_header(&r, "Bad Name", "x"), -1);
	assert_int_equal(ka_resp_add_header(&r, "Bad:Name", "x"), -1);
	assert_int_equal(ka_resp_add_header(&r, "", "x"), -1);
	assert_int_equal(r.extra_len, 0);
	/* HTAB and obs-text are legal field-value bytes. */
	assert_int_equal(ka_resp_add_header(&r, "X-Ok", "a\tb \xc3\xa9"), 0);
}

static void test_text_sets_plain_body_and_keeps_headers(void **state)
{
	(void)state;
	static const char body[] = "405 Method Not Allowed\n";
	struct ka_resp r;
	ka_resp_init(&r, 200);
	assert_int_equal(ka_resp_add_header(&r, "Allow", "GET, HEAD"), 0);
	ka_resp_text(&r, 405, body, sizeof(body) - 1);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.content_type, "text/plain; charset=utf-8");
	assert_int_equal(r.body, KA_BODY_MEM);
	assert_ptr_equal(r.mem, body);
	assert_int_equal(r.mem_len, sizeof(body) - 1);
	assert_int_equal(r.content_length, (int64_t)(sizeof(body) - 1));
	assert_string_equal(r.extra, "Allow: GET, HEAD\r\n");
}

static void test_format_text_names_status_and_detail(void **state)
{
	(void)state;
	char buf[256];
	size_t n = ka_resp_format_text(buf, sizeof(buf), 404, "/missing.html", 13);
	assert_int_equal(n, strlen("404 Not Found: /missing.html\n"));
	assert_memory_equal(buf, "404 Not Found: /missing.html\n", n);

	n = ka_resp_format_text(buf, sizeof(buf), 503, NULL, 0);
	assert_memory_equal(buf, "503 Service Unavailable\n", n);
	assert_int_equal(n, strlen("503 Service Unavailable\n"));
}

static void test_format_text_cuts_long_detail_and_masks_unprintable_bytes(void **state)
{
	(void)state;
	char detail[1000], buf[2048];
	memset(detail, 'a', sizeof(detail));
	detail[3] = '\x1b';
	detail[4] = '\n';
	detail[5] = (char)0xc3;
	size_t n = ka_resp_format_text(buf, sizeof(buf), 400, detail, sizeof(detail));
	const char *prefix = "400 Bad Request: aaa???";
	assert_memory_equal(buf, prefix, strlen(prefix));
	assert_int_equal(n, strlen("400 Bad Request: ") + KA_RESP_DETAIL_MAX + 3 + 1);
	assert_memory_equal(buf + n - 4, "...\n", 4);
	for (size_t i = 0; i + 1 < n; i++)
		assert_true(buf[i] >= 0x20 && buf[i] < 0x7f);
}

static void test_format_text_fits_small_buffers(void **state)
{
	(void)state;
	char buf[8];
	memset(buf, '#', sizeof(buf));
	size_t n = ka_resp_format_text(buf, sizeof(buf), 404, "/x", 2);
	assert_int_equal(n, sizeof(buf));
	assert_memory_equal(buf, "404 Not\n", 8);
	assert_int_equal(ka_resp_format_text(buf, 1, 404, "/x", 2), 1);
	assert_int_equal(buf[0], '\n');
	assert_int_equal(ka_resp_format_text(NULL, 0, 404, "/x", 2), 0);
}

static void test_every_status_the_server_sends_has_its_reason(void **state)
{
	(void)state;
	static const struct {
		int status;
		const char *reason;
	} want[] = {
		{ 100, "Continue" },
		{ 200, "OK" },
		{ 204, "No Content" },
		{ 206, "Partial Content" },
		{ 301, "Moved Permanently" },
		{ 304, "Not Modified" },
		{ 400, "Bad Request" },
		{ 403, "Forbidden" },
		{ 404, "Not Found" },
		{ 405, "Method Not Allowed" },
		{ 408, "Request Timeout" },
		{ 411, "Length Required" },
		{ 413, "Content Too Large" },
		{ 414, "URI Too Long" },
		{ 416, "Range Not Satisfiable" },
		{ 417, "Expectation Failed" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" },
		{ 501, "Not Implemented" },
		{ 503, "Service Unavailable" },
		{ 505, "HTTP Version Not Supported" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(ka_status_reason(want[i].status), want[i].reason);
}

static void test_status_never_sent_is_unknown(void **state)
{
	(void)state;
	assert_string_equal(ka_status_reason(418), "Unknown");
	assert_string_equal(ka_status_reason(0), "Unknown");
	assert_string_equal(ka_status_reason(-1), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_gives_empty_response_without_fd),
		cmocka_unit_test(test_add_header_appends_name_colon_value_crlf),
		cmocka_unit_test(test_add_header_that_does_not_fit_adds_nothing),
		cmocka_unit_test(test_add_header_refuses_response_splitting),
		cmocka_unit_test(test_text_sets_plain_body_and_keeps_headers),
		cmocka_unit_test(test_format_text_names_status_and_detail),
		cmocka_unit_test(test_format_text_cuts_long_detail_and_masks_unprintable_bytes),
		cmocka_unit_test(test_format_text_fits_small_buffers),
		cmocka_unit_test(test_every_status_the_server_sends_has_its_reason),
		cmocka_unit_test(test_status_never_sent_is_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
