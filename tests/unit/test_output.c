/*
 * Unit tests for src/server/output.c: the framing of every response, decided there
 * alone. A response description and a keep-alive decision go in; the bytes queued in
 * the write buffer come out and are checked whole. Streams are framed chunked for
 * HTTP/1.1 and delimited by the close for HTTP/1.0. Nothing is sent: no socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/conn.h"

static struct ka_worker w;
static struct ka_exchange ex;
static struct ka_conn c;

static int setup(void **state)
{
	(void)state;
	memset(&w, 0, sizeof(w));
	memset(&ex, 0, sizeof(ex));
	memset(&c, 0, sizeof(c));
	ka_buf_pool_init(&w.bufs, 16384, 4);
	w.loop.wall = 1764000000;  /* Date: Mon, 24 Nov 2025 16:00:00 GMT */
	c.w = &w;
	c.wbuf = ka_buf_get(&w.bufs);
	c.ex = &ex;
	ex.conn = &c;
	ex.tail = KA_TAIL_NONE;
	ex.tail_fd = -1;
	ex.req.minor_version = 1;
	ka_resp_init(&ex.resp, 200);
	return c.wbuf ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	ka_buf_put(&w.bufs, c.wbuf);
	ka_pool_destroy(&w.bufs);
	return 0;
}

/* What is queued, as a string, and the queue emptied. */
static const char *queued(void)
{
	static char out[16384 + 1];
	size_t n = ka_buf_used(c.wbuf);

	memcpy(out, c.wbuf->data + c.wbuf->pos, n);
	out[n] = '\0';
	ka_buf_consume(c.wbuf, n);
	return out;
}

static const char DATE[] = "Date: Mon, 24 Nov 2025 16:00:00 GMT\r\n";

static void keep(void)
{
	ex.decision = (struct ka_decision){ .keep = true, .advertise_s = 4, .advertise_max = 9 };
}

static void test_known_length_persisting(void **state)
{
	(void)state;
	keep();
	ka_resp_text(&ex.resp, 200, "hello\n", 6);
	ka_output_response(&c);
	assert_string_equal(queued(), "HTTP/1.1 200 OK\r\nServer: kahttpd\r\nDate: Mon, 24 Nov 2025 "
	                              "16:00:00 GMT\r\nContent-Type: text/plain; charset=utf-8\r\n"
	                              "Content-Length: 6\r\nConnection: keep-alive\r\n"
	                              "Keep-Alive: timeout=4, max=9\r\n\r\nhello\n");
	assert_false(ex.streaming);
	assert_false(ex.send_queued);
	assert_int_equal(ex.body_bytes, 6);
}

static void test_head_has_length_and_no_body(void **state)
{
	const char *out;

	(void)state;
	ex.decision = (struct ka_decision){ .keep = false };
	ex.is_head = true;
	ka_resp_text(&ex.resp, 200, "hello\n", 6);
	ka_output_response(&c);
	out = queued();
	assert_non_null(strstr(out, "Content-Length: 6\r\nConnection: close\r\n\r\n"));
	assert_null(strstr(out, "hello"));
	assert_non_null(strstr(out, DATE));
}

static void test_no_length_for_204_and_304(void **state)
{
	(void)state;
	keep();
	ex.resp.status = 304;
	ex.resp.content_length = 100;  /* the length a 200 would have had: never sent */
	ka_output_response(&c);
	assert_null(strstr(queued(), "Content-Length"));
	ex.resp.status = 204;
	ka_output_response(&c);
	assert_null(strstr(queued(), "Content-Length"));
}

static void start_stream(int minor)
{
	ex.req.minor_version = minor;
	ex.resp.content_length = -1;
	ex.resp.body = KA_BODY_STREAM;
	ka_output_response(&c);
	assert_true(ex.streaming);
}

static void test_stream_to_http11_is_chunked(void **state)
{
	const char *head;

	(void)state;
	keep();
	start_stream(1);
	head = queued();
	assert_non_null(strstr(head, "Transfer-Encoding: chunked\r\n"));
	assert_null(strstr(head, "Content-Length"));
	ka_output_stream_write(&c, "hello", 5);
	ka_output_stream_write(&c, "", 0);  /* nothing: a 0-size chunk would end the body */
	ka_output_stream_write(&c, "0123456789abcdefg", 17);
	assert_string_equal(queued(), "5\r\nhello\r\n11\r\n0123456789abcdefg\r\n");
	ka_output_stream_end(&c);
	assert_string_equal(queued(), "0\r\n\r\n");
	assert_false(ex.streaming);
	assert_int_equal(ex.body_bytes, 22);
}

static void test_stream_to_http10_is_close_delimited(void **state)
{
	const char *head;

	(void)state;
	ex.decision = (struct ka_decision){ .keep = false };
	start_stream(0);
	head = queued();
	assert_null(strstr(head, "Transfer-Encoding"));
	assert_null(strstr(head, "Content-Length"));
	assert_non_null(strstr(head, "Connection: close\r\n\r\n"));
	ka_output_stream_write(&c, "hello", 5);
	ka_output_stream_end(&c);
	assert_string_equal(queued(), "hello");
	assert_false(ex.streaming);
}

static void test_stream_room_keeps_room_for_framing_and_the_end(void **state)
{
	static char fill[16384];
	size_t room;

	(void)state;
	keep();
	start_stream(1);
	memset(fill, 'x', sizeof(fill));
	while ((room = ka_output_stream_room(&c)) > 0)
		ka_output_stream_write(&c, fill, room < 1000 ? room : 1000);
	ka_output_stream_end(&c);
	assert_true(ka_buf_used(c.wbuf) <= c.wbuf->cap);
	assert_memory_equal(c.wbuf->data + c.wbuf->len - 7, "\r\n0\r\n\r\n", 7);
}

static void test_large_body_is_a_tail_and_not_sent_at_once(void **state)
{
	static char big[40000];

	(void)state;
	keep();
	ex.resp.body = KA_BODY_MEM;
	ex.resp.mem = big;
	ex.resp.mem_len = sizeof(big);
	ex.resp.content_length = sizeof(big);
	ka_output_response(&c);
	assert_int_equal(ex.tail, KA_TAIL_MEM);
	assert_true(ex.send_queued);
	assert_non_null(strstr(queued(), "Content-Length: 40000\r\n"));
	ka_output_drop_tail(&ex);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_known_length_persisting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_has_length_and_no_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_length_for_204_and_304, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_to_http11_is_chunked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_to_http10_is_close_delimited, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_stream_room_keeps_room_for_framing_and_the_end,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_body_is_a_tail_and_not_sent_at_once, setup,
		                                teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
