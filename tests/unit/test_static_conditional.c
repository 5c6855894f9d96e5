/*
 * Unit tests for the conditional and range requests of the static handler
 * (src/server/static_file.c, RFC 9110 13 and 14): If-None-Match and If-Modified-Since
 * against the file's validators, Range, and If-Range deciding whether a Range counts.
 * The fixture is static_fixture.h; every file there has the same known mtime.
 */
#include <string.h>

#include "static_fixture.h"

/* ---- conditional requests --------------------------------------------------------- */

static void assert_not_modified(void)
{
	assert_int_equal(resp.status, 304);
	assert_int_equal(resp.body, KA_BODY_NONE);
	assert_int_equal(resp.file_fd, -1);
	assert_null(resp.content_type);
	assert_string_equal(resp_header("ETag"), HELLO_ETAG);
	assert_string_equal(resp_header("Last-Modified"), MTIME_DATE);
}

static void test_if_none_match_current_etag_is_304(void **state)
{
	(void)state;
	request(KA_METHOD_GET, "/hello.txt");
	header("If-None-Match", HELLO_ETAG);
	serve();
	assert_not_modified();
}

static void test_if_none_match_star_is_304(void **state)
{
	(void)state;
	request(KA_METHOD_GET, "/hello.txt");
	header("if-none-match", "*");
	serve();
	assert_not_modified();
}

static void test_if_none_match_weak_tag_matches(void **state)
{
	(void)state;
	request(KA_METHOD_GET, "/hello.txt");
	header("If-None-Match", "W/" HELLO_ETAG);
	serve();
	assert_not_modified();
}

static void test_if_none_match_any_list_member_matches(void **state)
{
	(void)state;
	request(KA_METHOD_GET, "/hello.txt");
	header("If-None-Match", "\"abc\" ,W/\"def\",, " HELLO_ETAG " , \"x\"");
	serve();
	assert_not_modified();

	request(KA_METHOD_GET, "/hello.txt");
	header("If-None-Match", "\"abc\"");
	header("If-None-Match", HELLO_ETAG);
	serve();
	assert_not_modified();
}

static void test_if_none_match_other_etag_is_200(void **state)
{
	(void)state;
	const char *others[] = { "\"6553f100-e\"", "\"6553f100-d", "6553f100-d",
	                         "w/" HELLO_ETAG, "\"a\" " HELLO_ETAG, "**" };
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		request(KA_METHOD_GET, "/hello.txt");
		header("If-None-Match", others[i]);
		serve();
		assert_int_equal(resp.status, 200);
		done();
	}
}

static void test_if_none_match_present_ignores_if_modified_since(void **state)
{
	(void)state;
	request(KA_METHOD_GET, "/hello.txt");
	header("If-None-Match", "\"other\"");
	header("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT");
	serve();
	assert_int_equal(resp.status, 200);
	done();
}

static void test_if_modified_since_not_older_than_file_is_304(void **state)
{
	(void)state;
	request(KA_METHOD_GET, "/hello.txt");
	header("If-Modified-Since", MTIME_DATE);
	serve();
	assert_not_modified();

	request(KA_METHOD_GET, "/hello.txt");
	header("If-Modified-Since", "Wed, 15 Nov 2023 00:00:00 GMT");
	serve();
	assert_not_modified();
}

static void test_if_modified_since_older_than_file_is_200(void **state)
{
	(void)state;
	request(KA_METHOD_GET, "/hello.txt");
	header("If-Modified-Since", "Tue, 14 Nov 2023 22:13:19 GMT");
	serve();
	assert_int_equal(resp.status, 200);
	done();
}

static void test_invalid_if_modified_since_is_ignored(void **state)
{
	(void)state;
	request(KA_METHOD_GET, "/hello.txt");
	header("If-Modified-Since", "yesterday");
	serve();
	assert_int_equal(resp.status, 200);
	done();
}

static void test_head_conditional_is_304(void **state)
{
	(void)state;
	request(KA_METHOD_HEAD, "/hello.txt");
	header("If-None-Match", HELLO_ETAG);
	serve();
	assert_not_modified();
}

static void test_304_wins_over_range(void **state)
{
	(void)state;
	request(KA_METHOD_GET, "/hello.txt");
	header("If-None-Match", HELLO_ETAG);
	header("Range", "bytes=0-1");
	serve();
	assert_not_modified();
}

/* ---- ranges ----------------------------------------------------------------------- */

static void expect_range(const char *range, int status, const char *content_range,
                         const char *body)
{
	request(KA_METHOD_GET, "/hello.txt");
	header("Range", range);
	serve();
	assert_int_equal(resp.status, status);
	if (content_range == NULL)
		assert_null(resp_header("Content-Range"));
	else
		assert_string_equal(resp_header("Content-Range"), content_range);
	if (body != NULL) {
		assert_int_equal(resp.body, KA_BODY_FILE);
		assert_int_equal(resp.content_length, (int64_t)strlen(body));
		assert_int_equal(resp.file_len, strlen(body));
		assert_string_equal(body_text(), body);
		assert_string_equal(resp.content_type, "text/plain; charset=utf-8");
	}
	done();
}

static void test_range_first_last_is_206(void **state)
{
	(void)state;
	expect_range("bytes=0-4", 206, "bytes 0-4/13", "Hello");
	expect_range("bytes=7-11", 206, "bytes 7-11/13", "world");
	expect_range("bytes=12-12", 206, "bytes 12-12/13", "\n");
	assert_non_null(resp_header("ETag"));
	assert_string_equal(resp_header("Accept-Ranges"), "bytes");
}

static void test_range_open_ended_is_206(void **state)
{
	(void)state;
	expect_range("bytes=7-", 206, "bytes 7-12/13", "world\n");
}

static void test_range_suffix_is_206(void **state)
{
	(void)state;
	expect_range("bytes=-6", 206, "bytes 7-12/13", "world\n");
	expect_range("bytes=-13", 206, "bytes 0-12/13", "Hello, world\n");
	expect_range("bytes=-100", 206, "bytes 0-12/13", "Hello, world\n");
	expect_range("bytes=-99999999999999999999999", 206, "bytes 0-12/13", "Hello, world\n");
}

static void test_range_last_past_end_is_clamped(void **state)
{
	(void)state;
	expect_range("bytes=5-1000", 206, "bytes 5-12/13", ", world\n");
	expect_range("bytes=0-99999999999999999999999", 206, "bytes 0-12/13", "Hello, world\n");
}

static void test_range_whitespace_is_tolerated(void **state)
{
	(void)state;
	expect_range(" bytes=0-4 ", 206, "bytes 0-4/13", "Hello");
	expect_range("bytes = 0 - 4", 206, "bytes 0-4/13", "Hello");
	expect_range("bytes=\t-6", 206, "bytes 7-12/13", "world\n");
	expect_range("BYTES=0-4", 206, "bytes 0-4/13", "Hello");
	expect_range("bytes=0-4, ,", 206, "bytes 0-4/13", "Hello");
}

static void test_range_starting_past_end_is_416(void **state)
{
	(void)state;
	request(KA_METHOD_GET, "/hello.txt");
	header("Range", "bytes=13-");
	serve();
	assert_error_body(416, "416 Range Not Satisfiable: /hello.txt (no such bytes)\n");
	assert_string_equal(resp_header("Content-Range"), "bytes */13");
	expect_range("bytes=100-200", 416, "bytes */13", NULL);
	expect_range("bytes=99999999999999999999999-", 416, "bytes */13", NULL);
}

static void test_range_suffix_zero_is_416(void **state)
{
	(void)state;
	expect_range("bytes=-0", 416, "bytes */13", NULL);
}

static void test_two_ranges_get_whole_file(void **state)
{
	(void)state;
	expect_range("bytes=0-1,3-4", 200, NULL, "Hello, world\n");
	expect_range("bytes=0-1, -2", 200, NULL, "Hello, world\n");
	expect_range("bytes=0-0,0-0", 200, NULL, "Hello, world\n");
}

static void test_invalid_range_is_ignored(void **state)
{
	(void)state;
	const char *bad[] = { "items=0-4", "bytes=abc", "bytes=5-2", "bytes=", "bytes=,",
	                      "bytes 0-4", "bytes=0-4;x", "bytes=-", "bytes=--1",
	                      "bytes=0-4,x", "=0-4", "bytes=0x1-2", "bytes=+1-2" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_range(bad[i], 200, NULL, "Hello, world\n");
}

static void test_range_on_head_is_ignored(void **state)
{
	(void)state;
	request(KA_METHOD_HEAD, "/hello.txt");
	header("Range", "bytes=0-4");
	serve();
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.content_length, 13);
	assert_null(resp_header("Content-Range"));
}

static void test_range_on_empty_file(void **state)
{
	(void)state;
	request(KA_METHOD_GET, "/empty.txt");
	header("Range", "bytes=0-");
	serve();
	assert_int_equal(resp.status, 416);
	assert_string_equal(resp_header("Content-Range"), "bytes */0");

	request(KA_METHOD_GET, "/empty.txt");
	header("Range", "bytes=-5");
	serve();
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.content_length, 0);
	done();
}

static void expect_if_range(const char *if_range, int status)
{
	request(KA_METHOD_GET, "/hello.txt");
	header("Range", "bytes=0-4");
	header("If-Range", if_range);
	serve();
	assert_int_equal(resp.status, status);
	done();
}

static void test_if_range_current_etag_allows_range(void **state)
{
	(void)state;
	expect_if_range(HELLO_ETAG, 206);
}

static void test_if_range_other_or_weak_etag_ignores_range(void **state)
{
	(void)state;
	expect_if_range("\"6553f100-e\"", 200);
	expect_if_range("W/" HELLO_ETAG, 200);
	expect_if_range("\"6553f100-d", 200);
}

static void test_if_range_exact_date_allows_range(void **state)
{
	(void)state;
	expect_if_range(MTIME_DATE, 206);
	expect_if_range("Wed, 15 Nov 2023 00:00:00 GMT", 200);
	expect_if_range("Tue, 14 Nov 2023 22:13:19 GMT", 200);
	expect_if_range("garbage", 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_if_none_match_current_etag_is_304),
		cmocka_unit_test(test_if_none_match_star_is_304),
		cmocka_unit_test(test_if_none_match_weak_tag_matches),
		cmocka_unit_test(test_if_none_match_any_list_member_matches),
		cmocka_unit_test(test_if_none_match_other_etag_is_200),
		cmocka_unit_test(test_if_none_match_present_ignores_if_modified_since),
		cmocka_unit_test(test_if_modified_since_not_older_than_file_is_304),
		cmocka_unit_test(test_if_modified_since_older_than_file_is_200),
		cmocka_unit_test(test_invalid_if_modified_since_is_ignored),
		cmocka_unit_test(test_head_conditional_is_304),
		cmocka_unit_test(test_304_wins_over_range),
		cmocka_unit_test(test_range_first_last_is_206),
		cmocka_unit_test(test_range_open_ended_is_206),
		cmocka_unit_test(test_range_suffix_is_206),
		cmocka_unit_test(test_range_last_past_end_is_clamped),
		cmocka_unit_test(test_range_whitespace_is_tolerated),
		cmocka_unit_test(test_range_starting_past_end_is_416),
		cmocka_unit_test(test_range_suffix_zero_is_416),
		cmocka_unit_test(test_two_ranges_get_whole_file),
		cmocka_unit_test(test_invalid_range_is_ignored),
		cmocka_unit_test(test_range_on_head_is_ignored),
		cmocka_unit_test(test_range_on_empty_file),
		cmocka_unit_test(test_if_range_current_etag_allows_range),
		cmocka_unit_test(test_if_range_other_or_weak_etag_ignores_range),
		cmocka_unit_test(test_if_range_exact_date_allows_range),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
