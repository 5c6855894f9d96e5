/*
 * Unit tests for src/core/sockopt.c: the HOST:PORT grammar (table of accepted and
 * rejected inputs), printing addresses back, listening on port 0, SO_REUSEPORT
 * sharing, and the per-connection options, each read back with getsockopt so the test
 * checks what the kernel was told rather than what the wrapper returned. Sockets bind
 * to loopback on port 0 only; IPv6 cases skip when the host has no ::1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/sockopt.h"

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static int get_int(int fd, int level, int name)
{
	int value = -1;
	socklen_t len = sizeof(value);

	assert_int_equal(getsockopt(fd, level, name, &value, &len), 0);
	assert_int_equal(len, sizeof(value));
	return value;
}

/* A plain TCP socket, for the per-connection options. */
static int tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);

	assert_true(fd >= 0);
	return fd;
}

static int listen_on(const char *text, bool reuseport)
{
	struct sockaddr_storage ss;
	socklen_t len;

	assert_int_equal(ka_sock_parse_addr(text, &ss, &len), 0);
	return ka_sock_listen((struct sockaddr *)&ss, len, reuseport, 16);
}

/* ---- parsing ----------------------------------------------------------------------------- */

static void test_parse_accepts_ipv4_with_port(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	socklen_t len = 0;

	assert_int_equal(ka_sock_parse_addr("127.0.0.1:80", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)&ss;
	assert_int_equal(ntohl(a4->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(ntohs(a4->sin_port), 80);

	assert_int_equal(ka_sock_parse_addr("0.0.0.0:65535", &ss, &len), 0);
	assert_int_equal(port_of(&ss), 65535);
}

static void test_parse_accepts_bracketed_ipv6_with_port_zero(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	socklen_t len = 0;

	assert_int_equal(ka_sock_parse_addr("[::1]:0", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ss;
	assert_true(IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr));
	assert_int_equal(ntohs(a6->sin6_port), 0);
}

static void test_parse_resolves_a_host_name(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	socklen_t len = 0;

	assert_int_equal(ka_sock_parse_addr("localhost:8080", &ss, &len), 0);
	assert_true(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
	assert_int_equal(port_of(&ss), 8080);
	if (ss.ss_family == AF_INET)
		assert_int_equal(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), INADDR_LOOPBACK);
	else
		assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr));
}

struct bad_addr {
	const char *in;
	const char *comment;
};

/* Tries every case, prints each wrong one, then fails once. */
static void assert_all_rejected(const struct bad_addr *cases, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int wrong = 0;

	for (size_t i = 0; i < n; i++) {
		int rc = ka_sock_parse_addr(cases[i].in, &ss, &len);

		if (rc != -EINVAL) {
			print_error("%s: \"%s\" gave %d, want -EINVAL\n", cases[i].comment,
			            cases[i].in, rc);
			wrong++;
		}
	}
	assert_int_equal(wrong, 0);
}

static void test_parse_rejects_malformed_addresses(void **state)
{
	(void)state;
	static const struct bad_addr cases[] = {
		{ "127.0.0.1", "no port" },
		{ ":80", "no host" },
		{ "1.2.3.4:65536", "port above 65535" },
		{ "1.2.3.4:-1", "negative port" },
		{ "[::1]80", "no colon after the bracket" },
		{ "::1:80", "IPv6 without brackets" },
		{ "host:port", "port not a number" },
		{ "1.2.3.4:", "empty port" },
		{ "1.2.3.4:80x", "junk after the port" },
		{ "1.2.3.4:0x50", "hex port" },
		{ "[::1", "unclosed bracket" },
		{ "[]:80", "empty brackets" },
		{ "[127.0.0.1]:80", "IPv4 in brackets" },
		{ "[::1]:", "IPv6 with empty port" },
		{ "", "empty" },
	};

	assert_all_rejected(cases, sizeof(cases) / sizeof(cases[0]));
}

/* The port is digits only, as --help and the error message say ("port 0-65535");
 * strtol alone would also take a sign and leading white space. */
static void test_parse_rejects_sign_or_space_before_the_port(void **state)
{
	(void)state;
	static const struct bad_addr cases[] = {
		{ "1.2.3.4:+80", "plus sign" },
		{ "1.2.3.4:-0", "minus zero" },
		{ "1.2.3.4: 80", "space" },
		{ "1.2.3.4:\t80", "tab" },
		{ "[::1]:+80", "plus sign after IPv6" },
	};

	assert_all_rejected(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- printing ---------------------------------------------------------------------------- */

static void test_addr_text_round_trips_ipv4_and_ipv6(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"127.0.0.1:80", "0.0.0.0:0", "10.1.2.3:65535", "[::1]:8080", "[::]:0",
		"[2001:db8::1]:443", "[fe80::1:2]:1",
	};
	struct sockaddr_storage ss;
	socklen_t len;
	char out[KA_ADDR_TEXT_MAX];

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(ka_sock_parse_addr(texts[i], &ss, &len), 0);
		assert_ptr_equal(ka_sock_addr_text((struct sockaddr *)&ss, out, sizeof(out)), out);
		assert_string_equal(out, texts[i]);
	}
}

static void test_addr_text_fits_the_longest_ipv6_address(void **state)
{
	(void)state;
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(65535) };
	char out[KA_ADDR_TEXT_MAX];

	/* Eight full groups and a five-digit port: nothing for inet_ntop to compress. */
	memset(&a6.sin6_addr, 0xff, sizeof(a6.sin6_addr));
	ka_sock_addr_text((struct sockaddr *)&a6, out, sizeof(out));
	assert_string_equal(out, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

static void test_addr_text_of_unknown_family_is_a_question_mark(void **state)
{
	(void)state;
	struct sockaddr sa = { .sa_family = AF_UNIX };
	char out[KA_ADDR_TEXT_MAX];

	assert_string_equal(ka_sock_addr_text(&sa, out, sizeof(out)), "?");
}

/* ---- listening --------------------------------------------------------------------------- */

static void test_listen_on_port_zero_gets_a_real_port(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = listen_on("127.0.0.1:0", false);

	assert_true(fd >= 0);
	assert_int_equal(ka_sock_local_addr(fd, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_not_equal(port_of(&ss), 0);
	assert_int_equal(get_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
	close(fd);
}

static void test_listen_socket_is_nonblocking_and_close_on_exec(void **state)
{
	(void)state;
	int fd = listen_on("127.0.0.1:0", false);

	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(get_int(fd, SOL_SOCKET, SO_REUSEADDR), 1);
	close(fd);
}

static void test_listen_on_ipv6_is_v6_only(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = listen_on("[::1]:0", false);

	if (fd == -EADDRNOTAVAIL || fd == -EAFNOSUPPORT)
		skip();  /* no IPv6 loopback here */
	assert_true(fd >= 0);
	assert_int_equal(get_int(fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
	assert_int_equal(ka_sock_local_addr(fd, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_not_equal(port_of(&ss), 0);
	close(fd);
}

static void test_two_reuseport_sockets_bind_the_same_port(void **state)
{
	(void)state;
	struct sockaddr_storage ss, ss2;
	socklen_t len, len2;
	int first = listen_on("127.0.0.1:0", true);

	assert_true(first >= 0);
	assert_int_equal(get_int(first, SOL_SOCKET, SO_REUSEPORT), 1);
	assert_int_equal(ka_sock_local_addr(first, &ss, &len), 0);

	int second = ka_sock_listen((struct sockaddr *)&ss, len, true, 16);
	assert_true(second >= 0);
	assert_int_equal(ka_sock_local_addr(second, &ss2, &len2), 0);
	assert_int_equal(port_of(&ss2), port_of(&ss));
	close(second);
	close(first);
}

static void test_without_reuseport_a_second_bind_fails_with_eaddrinuse(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	socklen_t len;
	int first = listen_on("127.0.0.1:0", false);

	assert_true(first >= 0);
	assert_int_equal(ka_sock_local_addr(first, &ss, &len), 0);
	assert_int_equal(ka_sock_listen((struct sockaddr *)&ss, len, false, 16), -EADDRINUSE);
	close(first);
}

/* ---- per-connection options -------------------------------------------------------------- */

static void test_set_nodelay_turns_nagle_off(void **state)
{
	(void)state;
	int fd = tcp_socket();

	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
	assert_int_equal(ka_sock_set_nodelay(fd), 0);
	assert_int_not_equal(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
	close(fd);
}

static void test_set_tcp_keepalive_sets_all_four_options(void **state)
{
	(void)state;
	int fd = tcp_socket();

	assert_int_equal(ka_sock_set_tcp_keepalive(fd, 30, 7, 4), 0);
	assert_int_not_equal(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 30);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 7);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
	close(fd);
}

static void test_set_tcp_keepalive_with_idle_zero_turns_it_off(void **state)
{
	(void)state;
	int fd = tcp_socket();

	assert_int_equal(ka_sock_set_tcp_keepalive(fd, 60, 10, 3), 0);
	assert_int_not_equal(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
	assert_int_equal(ka_sock_set_tcp_keepalive(fd, 0, 10, 3), 0);
	assert_int_equal(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
	close(fd);
}

static void test_set_tcp_keepalive_reports_a_rejected_value(void **state)
{
	(void)state;
	int fd = tcp_socket();

	/* The kernel refuses a probe count of 0 (and above 127). */
	assert_int_equal(ka_sock_set_tcp_keepalive(fd, 30, 7, 0), -EINVAL);
	assert_int_equal(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);  /* not half set */
	close(fd);
}

static void test_set_user_timeout_reads_back(void **state)
{
	(void)state;
	int fd = tcp_socket();

	assert_int_equal(ka_sock_set_user_timeout(fd, 5000), 0);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 5000);
	assert_int_equal(ka_sock_set_user_timeout(fd, 0), 0);  /* back to the default */
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
	close(fd);
}

static void test_set_options_on_a_bad_fd_return_negative_errno(void **state)
{
	(void)state;
	assert_int_equal(ka_sock_set_nodelay(-1), -EBADF);
	assert_int_equal(ka_sock_set_tcp_keepalive(-1, 1, 1, 1), -EBADF);
	assert_int_equal(ka_sock_set_user_timeout(-1, 1), -EBADF);
}

static void test_sock_error_is_zero_on_a_healthy_socket(void **state)
{
	(void)state;
	int fd = tcp_socket();

	assert_int_equal(ka_sock_error(fd), 0);
	close(fd);
	assert_int_equal(ka_sock_error(-1), EBADF);  /* positive errno */
}

/* ---- options inherited by accepted sockets ----------------------------------------------- */

/* Connects to the listener lfd and accepts the connection: returns the accepted socket
 * and stores the client's in *client. */
static int accept_one(int lfd, int *client)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	int cfd = tcp_socket(), fd;

	assert_int_equal(ka_sock_local_addr(lfd, &ss, &len), 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&ss, len), 0);
	/* The listener is non-blocking: wait until the handshake has put the child in the
	 * accept queue rather than assume it already has. */
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	*client = cfd;
	return fd;
}

/* kahttpd sets these options once per listening socket (main.c): Linux clones the
 * accepted socket from its listener, options included, and starts its keepalive timer. */
static void test_accepted_socket_inherits_the_options_of_its_listener(void **state)
{
	(void)state;
	int lfd = listen_on("127.0.0.1:0", true), cfd, fd;

	assert_true(lfd >= 0);
	assert_int_equal(ka_sock_set_nodelay(lfd), 0);
	assert_int_equal(ka_sock_set_tcp_keepalive(lfd, 7, 3, 4), 0);
	assert_int_equal(ka_sock_set_user_timeout(lfd, 5000), 0);
	fd = accept_one(lfd, &cfd);

	assert_int_not_equal(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
	assert_int_not_equal(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 7);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 3);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 5000);
	/* The client end of the same connection has none of them: they came from the
	 * listener, not from the connection. */
	assert_int_equal(get_int(cfd, SOL_SOCKET, SO_KEEPALIVE), 0);
	assert_int_equal(get_int(cfd, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
	close(fd);
	close(cfd);
	close(lfd);
}

/* The control for the test above: a listener without the options gives sockets without
 * them, so the values seen there are not kernel defaults. */
static void test_accepted_socket_of_a_plain_listener_has_none_of_the_options(void **state)
{
	(void)state;
	int lfd = listen_on("127.0.0.1:0", true), cfd, fd;

	assert_true(lfd >= 0);
	fd = accept_one(lfd, &cfd);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
	assert_int_equal(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
	assert_int_not_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 7);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
	close(fd);
	close(cfd);
	close(lfd);
}

/* --tcp-keepalive off: a listener whose keepalive was turned off again passes "off" on. */
static void test_keepalive_turned_off_on_the_listener_is_off_on_accepted_sockets(void **state)
{
	(void)state;
	int lfd = listen_on("127.0.0.1:0", true), cfd, fd;

	assert_true(lfd >= 0);
	assert_int_equal(ka_sock_set_tcp_keepalive(lfd, 7, 3, 4), 0);
	assert_int_equal(ka_sock_set_tcp_keepalive(lfd, 0, 0, 0), 0);
	fd = accept_one(lfd, &cfd);
	assert_int_equal(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
	close(fd);
	close(cfd);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_accepts_ipv4_with_port),
		cmocka_unit_test(test_parse_accepts_bracketed_ipv6_with_port_zero),
		cmocka_unit_test(test_parse_resolves_a_host_name),
		cmocka_unit_test(test_parse_rejects_malformed_addresses),
		cmocka_unit_test(test_parse_rejects_sign_or_space_before_the_port),
		cmocka_unit_test(test_addr_text_round_trips_ipv4_and_ipv6),
		cmocka_unit_test(test_addr_text_fits_the_longest_ipv6_address),
		cmocka_unit_test(test_addr_text_of_unknown_family_is_a_question_mark),
		cmocka_unit_test(test_listen_on_port_zero_gets_a_real_port),
		cmocka_unit_test(test_listen_socket_is_nonblocking_and_close_on_exec),
		cmocka_unit_test(test_listen_on_ipv6_is_v6_only),
		cmocka_unit_test(test_two_reuseport_sockets_bind_the_same_port),
		cmocka_unit_test(test_without_reuseport_a_second_bind_fails_with_eaddrinuse),
		cmocka_unit_test(test_set_nodelay_turns_nagle_off),
		cmocka_unit_test(test_set_tcp_keepalive_sets_all_four_options),
		cmocka_unit_test(test_set_tcp_keepalive_with_idle_zero_turns_it_off),
		cmocka_unit_test(test_set_tcp_keepalive_reports_a_rejected_value),
		cmocka_unit_test(test_set_user_timeout_reads_back),
		cmocka_unit_test(test_set_options_on_a_bad_fd_return_negative_errno),
		cmocka_unit_test(test_sock_error_is_zero_on_a_healthy_socket),
		cmocka_unit_test(test_accepted_socket_inherits_the_options_of_its_listener),
		cmocka_unit_test(test_accepted_socket_of_a_plain_listener_has_none_of_the_options),
		cmocka_unit_test(test_keepalive_turned_off_on_the_listener_is_off_on_accepted_sockets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
