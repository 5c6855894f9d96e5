/*
 * libFuzzer target for the connection state machine (src/server/conn.c and what it
 * calls: output, static files, demo handlers, admin pages, access log, drain,
 * eviction). Each input is one client connection: the real worker code runs its real
 * epoll loop, and the client is the other end of a socketpair, writing the input in
 * pieces at input-chosen points and reading whatever comes back. Time is driven
 * explicitly: an input can make the next timer fire (header, idle, io, linger, drain
 * or a handler's), so every timeout path is reached without waiting for it. At the
 * end the client closes, and the connection must then be freed by the server itself
 * with everything it borrowed: no connection, buffer, exchange or descriptor may
 * outlive the input, and the loop must settle (a connection that keeps the loop busy
 * without progress is a hang).
 *
 * Input layout: byte 0 picks one of five server configurations (the fifth is the
 * --admin listener's worker), byte 1 holds flags (bit 0: the client half-closes after
 * its last byte; bit 1: it reads nothing until the end), the rest is the byte stream.
 * In the stream 0xFF starts a command:
 *   0xFF 0xFF  a literal 0xFF byte
 *   0xFF 't'   send what came before, then let time pass until the next timer is
 *              due; the loop sees the bytes and the deadline in the same iteration
 *   0xFF 'd'   send, then drain the worker as SIGTERM does
 *   0xFF 'e'   send, then evict the connection if it is idle (--max-connections),
 *              before the loop has seen the bytes (the close race)
 *   0xFF 'r'   send, then the client stops or resumes reading
 *   0xFF 'h'   send, then the client half-closes (shutdown SHUT_WR)
 *   0xFF 'x'   send, then the client closes at once, leaving output unread (a reset)
 *   0xFF '*' N send, then send that piece N + 1 times more (up to 256 KiB)
 *   0xFF other send what came before: a cut between two reads
 * See README.md for seeds and how to run it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/http_response.h"
#include "core/sockopt.h"
#include "core/util.h"
#include "server/accesslog.h"
#include "server/conn.h"
#include "server/handlers.h"
#include "server/server.h"

#define VARIANTS 5
#define ADMIN_VARIANT 4  /* the --admin worker: /status, /metrics, /connections */
/* The client keeps this much of the server's output for the checks. */
#define OUT_KEEP (64 * 1024)
/* After this much output the client stops reading: an endless stream then stalls. */
#define READ_BUDGET (4 * 1024 * 1024)
/* Loop iterations that may pass with something happening before we call it a hang. */
#define PUMP_MAX 20000
/* Timers fired while settling, before and after the client closes. */
#define SETTLE_TIMERS 64
/* Bytes one '*' command may send at most. */
#define REPEAT_MAX (256 * 1024)
/* Descriptors above the baseline that one input could have used (a bit set's worth). */
#define FD_RANGE 64

static void require(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_conn: invariant broken: %s\n", what);
		abort();
	}
}

/* ---- a clock that the harness can move forward ---------------------------------------- */

/* Timers fire because time passes, so the harness makes time pass: this definition of
 * clock_gettime takes the place of libc's for the whole program, and adds the skew to
 * the monotonic clock that the loop reads. Handlers that compare loop->now with their
 * own deadlines then see exactly what they would see after a real wait. The skew only
 * grows, so the clock stays monotonic across inputs; wall-clock time is untouched
 * (libFuzzer's -max_total_time reads that). */
static int64_t clock_skew_ns;

int clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	int r;

	if (!real)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	r = real(id, ts);
	if (r == 0 && clock_skew_ns &&
	    (id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_COARSE || id == CLOCK_MONOTONIC_RAW)) {
		int64_t ns = (int64_t)ts->tv_nsec + clock_skew_ns % 1000000000;

		ts->tv_sec += clock_skew_ns / 1000000000 + ns / 1000000000;
		ts->tv_nsec = ns % 1000000000;
	}
	return r;
}

/* ---- the fixture, built once --------------------------------------------------------- */

static struct ka_server servers[VARIANTS];
static int listen_master[VARIANTS];
static char root_dir[256];
static int fd_baseline;  /* lowest free descriptor once the fixture is built */
static bool verbose;     /* FUZZ_CONN_VERBOSE set: print what the client received */

/* The command lines of the five configurations. The first logs to /dev/null, so the
 * access-log escaping runs on every request; the next three shrink limits, turn
 * persistence off, or fill the server so that idle timeouts shrink; the last runs the
 * connection on the --admin worker. */
static const char *const variant_args[VARIANTS][12] = {
	{ "--demo", "--access-log", "/dev/null" },
	{ "--demo", "--max-header-size", "512", "--max-body-size", "100", "--keepalive-requests", "3" },
	{ "--demo", "--keepalive-timeout", "0" },
	{ "--demo", "--max-connections", "1", "--keepalive-time", "5", "--heartbeat", "1" },
	{ "--admin", "127.0.0.1:0" },
};

static void write_file(const char *name, size_t size, char fill)
{
	char path[320];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root_dir, name);
	f = fopen(path, "w");
	require(f != NULL, "cannot create a document root file");
	for (size_t i = 0; i < size; i++)
		fputc(i % 64 == 63 ? '\n' : fill, f);
	fclose(f);
}

static void remove_root(void)
{
	static const char *const names[] = { "index.html", "a.txt", "style.css", "mid.bin",
	                                     "big.bin",    "dir/index.html", "passwd" };
	char path[320];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root_dir, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/dir", root_dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/noindex", root_dir);
	rmdir(path);
	rmdir(root_dir);
}

static void make_root(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[320];

	snprintf(root_dir, sizeof(root_dir), "%s/kahttpd-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	require(mkdtemp(root_dir) != NULL, "cannot create the document root");
	write_file("index.html", 120, 'i');
	write_file("a.txt", 6, 'a');
	write_file("style.css", 300, 'c');
	write_file("mid.bin", 20 * 1024, 'm');    /* over the small-file cache: sendfile */
	write_file("big.bin", 300 * 1024, 'b');   /* over a socketpair's buffer */
	snprintf(path, sizeof(path), "%s/dir", root_dir);
	require(mkdir(path, 0755) == 0, "mkdir dir");
	write_file("dir/index.html", 50, 'd');
	snprintf(path, sizeof(path), "%s/noindex", root_dir);
	require(mkdir(path, 0755) == 0, "mkdir noindex");
	snprintf(path, sizeof(path), "%s/passwd", root_dir);
	require(symlink("/etc/passwd", path) == 0, "symlink");  /* must never be served */
	atexit(remove_root);
}

static void make_server(struct ka_server *srv, int *master, const char *const *extra)
{
	char *argv[32];
	int argc = 0;
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	argv[argc++] = "kahttpd";
	argv[argc++] = "--listen";
	argv[argc++] = "127.0.0.1:0";
	argv[argc++] = "--workers";
	argv[argc++] = "1";
	argv[argc++] = "--root";
	argv[argc++] = root_dir;
	for (int i = 0; extra[i]; i++)
		argv[argc++] = (char *)extra[i];
	argv[argc] = NULL;
	require(ka_config_load(&srv->cfg, argc, argv, stdout, stderr) == KA_CONFIG_OK, "config");
	require(ka_static_root_open(&srv->root, srv->cfg.root) == 0, "root");
	require(ka_access_log_open(srv) == 0, "access log");
	require(ka_handlers_build(srv) == 0, "routes");
	srv->n_workers = 1;
	srv->n_public = srv->cfg.n_listen;  /* as main.c binds them */
	srv->buf_size = srv->cfg.max_header_size > 16384 ? srv->cfg.max_header_size : 16384;
	srv->admin_fd = -1;
	srv->listen_fds = calloc(1, sizeof(*srv->listen_fds));
	require(srv->listen_fds != NULL, "calloc");
	/* A listener nobody connects to: the worker wants one, and drain closes it. */
	*master = ka_sock_listen((struct sockaddr *)&any, sizeof(any), false, 1);
	require(*master >= 0, "listen");
}

static void fixture_init(void)
{
	signal(SIGPIPE, SIG_IGN);  /* as main.c: a vanished peer is EPIPE */
	make_root();
	for (int i = 0; i < VARIANTS; i++)
		make_server(&servers[i], &listen_master[i], variant_args[i]);
	fd_baseline = dup(0);
	close(fd_baseline);
}

/* ---- one connection ------------------------------------------------------------------- */

static struct ka_worker w;
static int client_fd;
static bool client_reading, client_eof;
static size_t out_total, out_len;
static char out[OUT_KEEP];

/* Reads what the server sent, while the client reads; returns the bytes read. */
static size_t client_read(void)
{
	static char sink[65536];
	size_t got = 0;

	while (client_reading && !client_eof && client_fd >= 0) {
		ssize_t n = recv(client_fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EINTR))
				client_eof = true;
			break;
		}
		if (out_len < OUT_KEEP) {
			size_t keep = KA_MIN((size_t)n, OUT_KEEP - out_len);

			memcpy(out + out_len, sink, keep);
			out_len += keep;
		}
		out_total += (size_t)n;
		got += (size_t)n;
		if (out_total > READ_BUDGET)
			client_reading = false;  /* enough: a client that stops reading */
	}
	return got;
}

/* The earliest deadline of the worker's timers (its FIFO lists and the heap of
 * handler and idle timers), INT64_MAX when none is armed. */
static int64_t next_due(void)
{
	const struct ka_fifo *lists[] = { &w.header_q, &w.idle_q, &w.io_q, &w.linger_q,
	                                  &w.drain_q };
	int64_t due = ka_heap_next(&w.loop.heap);

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		due = KA_MIN(due, ka_fifo_next(lists[i]));
	return due;
}

/* Runs the loop without waiting until nothing more happens: no event, nothing read by
 * the client, no timer due. */
static void pump(void)
{
	for (int i = 0; i < PUMP_MAX; i++) {
		int n = ka_loop_run_once(&w.loop, 0);
		size_t got = client_read();

		require(n >= 0, "epoll_wait failed");
		if (n == 0 && got == 0 && next_due() > w.loop.now)
			return;
	}
	require(false, "the loop never settles (busy without end)");
}

/* Moves the clock to the earliest deadline of the worker's timers and lets the loop
 * run what is due then; false when no timer is armed. */
static bool fire_next_timer(void)
{
	int64_t due = next_due();

	if (due == INT64_MAX)
		return false;
	if (due > w.loop.now)
		clock_skew_ns += (due - w.loop.now) * 1000000;
	pump();
	return true;
}

/* The client closes at once, leaving unread whatever the server sent: on a Unix
 * socket the server's next read or write then fails with ECONNRESET, as after a
 * TCP reset. */
static void abort_client(void)
{
	if (client_fd < 0)
		return;
	close(client_fd);
	client_fd = -1;
	client_eof = true;
}

/* Sends p[0..n) without letting the server see it yet, unless the socket fills:
 * then the server reads, and when nothing moves time passes; the client gives up (as
 * one whose peer stopped reading would) when even that does not help. Returns whether
 * everything went. */
static bool client_send(const uint8_t *p, size_t n)
{
	int stuck = 0;

	while (n > 0) {
		ssize_t k;

		if (client_fd < 0 || stuck >= 8)
			return false;
		k = send(client_fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
			stuck = 0;
			continue;
		}
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return false;  /* EPIPE after a half-close, ECONNRESET: nothing more to send */
		pump();
		if (++stuck > 1 && !fire_next_timer())
			return false;
	}
	return true;
}

/* The server's output is a sequence of well-formed responses, each framed so that a
 * client knows where it ends, and nothing follows the one that ends the connection.
 * Answers to HEAD carry a Content-Length but no body, so when the stream the client
 * sent may hold a HEAD request only the first response is checked. The walk stops at a response the
 * client did not receive whole: a stream cut by a timeout or a drain, or output
 * beyond what the client kept. */
static void check_output(const uint8_t *stream, size_t size)
{
	bool maybe_head = memmem(stream, size, "HEAD", 4) != NULL;
	size_t off = 0;

	while (off < out_len) {
		struct ka_http_response resp;
		ssize_t r = ka_http_parse_response(out + off, out_len - off, 0, &resp);
		enum ka_http_body_framing framing;
		size_t end;

		if (r == KA_PARSE_PARTIAL)
			return;
		if (r < 0 && verbose)
			fprintf(stderr, "fuzz_conn: response at %zu: %s\n", off, resp.error);
		require(r > 0, "a response head does not parse");
		require(resp.minor_version == 1 && resp.status >= 100 && resp.status <= 599,
		        "bad status line");
		if (maybe_head)
			return;
		framing = ka_http_response_framing(&resp, KA_METHOD_GET);
		end = off + (size_t)r;
		if (framing == KA_HTTP_BODY_LENGTH) {
			if ((uint64_t)resp.content_length > out_len - end)
				return;
			end += (size_t)resp.content_length;
		} else if (framing == KA_HTTP_BODY_CHUNKED) {
			struct ka_chunked d = { 0 };
			size_t len = out_len - end;
			char *copy = malloc(len ? len : 1);
			ssize_t rest;

			require(copy != NULL, "malloc");
			memcpy(copy, out + end, len);
			rest = ka_http_chunked_decode(&d, copy, &len);
			free(copy);
			if (rest == KA_PARSE_PARTIAL)
				return;
			require(rest >= 0, "a chunked response body does not decode");
			end = out_len - (size_t)rest;
		} else if (framing == KA_HTTP_BODY_CLOSE) {
			end = out_len;
		}
		off = end;
		if (resp.status >= 200 && !ka_http_response_keeps_open(&resp, framing)) {
			require(off == out_len, "bytes after the response that ended the connection");
			return;
		}
	}
}

static void check_released(const struct ka_server *srv)
{
	require(w.nconns == 0, "the connection outlived its client");
	require(atomic_load(&srv->nconns) == 0, "server connection count not back to 0");
	require(w.bufs.in_use == 0, "a buffer was not given back to the pool");
	require(w.exchanges.in_use == 0, "an exchange was not given back to the pool");
	for (int s = 0; s < KA_CONN_STATES; s++)
		require(atomic_load(&w.stats.in_state[s]) == 0, "a per-state gauge is not back to 0");
	require(w.conns.next == &w.conns && w.closed.next == &w.closed, "connection lists not empty");
}

/* Which descriptors of the range are open: libFuzzer itself may open some between
 * inputs (the symbolizer's pipes), so each input compares with its own start. */
static uint64_t fds_open(void)
{
	uint64_t set = 0;

	for (int i = 0; i < FD_RANGE; i++)
		if (fcntl(fd_baseline + i, F_GETFD) >= 0)
			set |= 1ull << i;
	return set;
}

static void check_no_fd_leak(uint64_t before)
{
	uint64_t leaked = fds_open() & ~before;

	for (int i = 0; i < FD_RANGE; i++) {
		int fd = fd_baseline + i;
		char link[64], target[256] = "?";

		if (!(leaked & (1ull << i)))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if (readlink(link, target, sizeof(target) - 1) < 0)
			strcpy(target, "?");
		fprintf(stderr, "fuzz_conn: descriptor %d (%s) left open\n", fd, target);
		require(false, "a descriptor was left open");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct ka_server *srv;
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(40000),
	                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int sv[2], fd, variant;
	uint64_t fds_before;
	uint8_t *stream, *piece;  /* every byte the client sends; the part not yet sent */
	size_t slen = 0, plen = 0;
	enum ka_role role;
	const uint8_t *last = NULL;  /* the piece sent last, for '*' */
	size_t last_len = 0;

	if (!ready) {
		verbose = getenv("FUZZ_CONN_VERBOSE") != NULL;
		fixture_init();
		ready = true;
	}
	if (size < 2)
		return 0;
	fds_before = fds_open();
	variant = data[0] % VARIANTS;
	srv = &servers[variant];
	srv->workers = &w;
	/* The admin worker comes after the request workers and owns the admin socket. */
	fd = fcntl(listen_master[variant], F_DUPFD_CLOEXEC, 0);
	require(fd >= 0, "dup listener");
	if (variant == ADMIN_VARIANT)
		srv->admin_fd = fd;
	else
		srv->listen_fds[0][0] = fd;
	require(ka_worker_init(&w, srv, variant == ADMIN_VARIANT ? srv->n_workers : 0) == 0,
	        "worker init");
	/* The access log's once-a-second flush would be the earliest timer for ever; the
	 * log is flushed at the end instead. */
	ka_loop_timer_remove(&w.loop, &w.log_timer);

	require(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0,
	        "socketpair");
	client_fd = sv[1];
	client_reading = !(data[1] & 2);
	client_eof = false;
	out_total = out_len = 0;
	role = variant == ADMIN_VARIANT ? KA_ROLE_ADMIN : KA_ROLE_PUBLIC;
	if (role == KA_ROLE_PUBLIC)
		atomic_fetch_add(&srv->nconns, 1);  /* as on_accept does */
	/* As accepted on the worker's first listener: the admin's, or the first public one. */
	require(ka_conn_new(&w, sv[0], (struct sockaddr *)&peer, &w.listeners[0]) != NULL,
	        "ka_conn_new");
	pump();

	stream = malloc(size);
	require(stream != NULL, "malloc");
	piece = stream;
	for (size_t i = 2; i <= size; i++) {
		uint8_t op;

		if (i < size && data[i] != 0xff) {
			piece[plen++] = data[i];
			continue;
		}
		op = i + 1 < size ? data[i + 1] : 0;
		if (i < size && op == 0xff) {
			piece[plen++] = 0xff;
			i++;
			continue;
		}
		client_send(piece, plen);
		last = piece;
		last_len = plen;
		slen += plen;
		piece = stream + slen;
		plen = 0;
		i++;  /* the command byte */
		if (i >= size) {
			pump();
			break;
		}
		switch (op) {
		case 't':
			/* Before the loop has looked: the bytes race the timer, as they can
			 * when a request arrives just as the idle timeout expires. */
			fire_next_timer();
			break;
		default:
			pump();
			break;
		case 'd':
			pump();
			ka_worker_wake(&w, KA_WAKE_STOP);
			pump();
			break;
		case 'e':
			/* Also before the loop has looked: the race guard answers a request
			 * that reached an idle connection chosen for eviction. */
			ka_conn_evict_one(&w);
			ka_conn_free_closed(&w);
			pump();
			break;
		case 'r':
			pump();
			client_reading = !client_reading && out_total <= READ_BUDGET;
			pump();
			break;
		case 'h':
			pump();
			shutdown(client_fd, SHUT_WR);
			pump();
			break;
		case 'x':
			abort_client();
			pump();
			break;
		case '*':
			/* Small inputs make big pipelines: full read buffers, heads over the
			 * limit, a handler that stops reading. */
			if (++i < size && last_len > 0) {
				size_t times = KA_MIN((size_t)data[i] + 1, REPEAT_MAX / last_len);

				for (size_t k = 0; k < times && client_send(last, last_len); k++)
					;
			}
			pump();
			break;
		}
	}

	/* The end of the input: the client half-closes if asked, reads what comes, lets
	 * the timers run, then closes. The server must then free the connection itself. */
	if (data[1] & 1)
		shutdown(client_fd, SHUT_WR);
	client_reading = out_total <= READ_BUDGET;
	pump();
	for (int i = 0; i < SETTLE_TIMERS && w.nconns > 0 && fire_next_timer(); i++)
		;
	check_output(stream, slen);
	free(stream);
	if (client_fd >= 0)
		close(client_fd);
	client_fd = -1;
	pump();
	for (int i = 0; i < SETTLE_TIMERS && w.nconns > 0 && fire_next_timer(); i++)
		;
	if (verbose)
		fprintf(stderr, "fuzz_conn: %zu bytes of output:\n%.*s\n", out_total, (int)out_len, out);
	ka_access_log_flush(&w);
	check_released(srv);
	ka_worker_destroy(&w);
	check_no_fd_leak(fds_before);
	return 0;
}
