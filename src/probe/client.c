/*
 * kaprobe's client connections (see client.h). A connection is a small state machine
 * driven by the loop: connecting, then reading responses one after another. Each
 * response head is parsed by the core parser; bodies are counted and dropped as they
 * arrive (length), decoded in place and dropped (chunked), or read until the server
 * closes. Only the head stays in the buffer until the response is complete, so a
 * response of any size costs one buffer. Every timestamp comes from the loop's clock,
 * taken once per iteration right after epoll_wait returned: the moment a FIN or the
 * last byte of a response became readable, give or take the work of one batch.
 *
 * For https a TLS handshake (tls.c) sits between the connect and the first write, and
 * every read and write goes through it (stream_recv, stream_send); the rest of this
 * file sees the same plaintext either way. TLS changes two things about readiness: a
 * read may need the socket writable and a write readable (OpenSSL's WANT_WRITE and
 * WANT_READ), and decrypted bytes OpenSSL holds are invisible to epoll, so a read
 * loop does not stop while OpenSSL has some pending.
 */
#include "probe/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"

#define IN_INITIAL 16384
#define IN_MAX (KA_HTTP_MAX_RESPONSE_HEAD + 16384)
#define READ_ROOM_MIN 4096

/* ---- requests ----------------------------------------------------------------------------- */

size_t kp_request_format(char *buf, size_t cap, const struct kp_target *t, const char *method,
                         int minor_version, const char *extra)
{
	int n = snprintf(buf, cap,
	                 "%s %s HTTP/1.%d\r\nHost: %s\r\nUser-Agent: kaprobe/" KP_VERSION
	                 "\r\nAccept: */*\r\n%s\r\n",
	                 method, t->path, minor_version, t->host, extra);
	return (n < 0 || (size_t)n >= cap) ? 0 : (size_t)n;
}

/* ---- the loop and the graveyard ---------------------------------------------------------- */

static void reap(void *data)
{
	struct kp_net *net = data;
	while (net->dead != NULL) {
		struct kp_conn *c = net->dead;
		net->dead = c->next_dead;
		kp_tls_free(c->tls);  /* freed here, not at release: the closed callback may ask */
		free(c->in);
		free(c->out);
		free(c);
	}
}

int kp_net_init(struct kp_net *net)
{
	memset(net, 0, sizeof(*net));
	int err = ka_loop_init(&net->loop);
	if (err)
		return err;
	net->loop.after = reap;
	net->loop.after_data = net;
	return 0;
}

void kp_net_close(struct kp_net *net)
{
	reap(net);
	ka_loop_close(&net->loop);
}

static inline int64_t now_us(const struct kp_conn *c)
{
	return c->net->loop.now_us;
}

/* The one place a connection's descriptor is released. */
static void release(struct kp_conn *c)
{
	c->closed = true;
	ka_loop_del(&c->net->loop, &c->io);  /* -ENOENT for a connect that failed at once */
	close(c->io.fd);
	c->io.fd = -1;
	ka_loop_timer_remove(&c->net->loop, &c->timer);
	c->next_dead = c->net->dead;
	c->net->dead = c;
}

/* The server ended the connection, or it failed: release it and tell the owner. */
static void finish(struct kp_conn *c, enum kp_end end, int err)
{
	if (c->closed)
		return;
	c->end = end;
	c->err = err;
	c->t_end_us = now_us(c);
	release(c);
	if (c->ops->closed)
		c->ops->closed(c);
}

void kp_conn_close(struct kp_conn *c)
{
	if (c->closed)
		return;
	if (c->end == KP_END_OPEN)
		c->end = KP_END_CLIENT;
	c->t_end_us = now_us(c);
	if (c->tls_ready)
		kp_tls_close_notify(c->tls);
	release(c);
}

void kp_conn_shutdown(struct kp_conn *c)
{
	if (c->closed)
		return;
	if (c->tls_ready)
		kp_tls_close_notify(c->tls);
	shutdown(c->io.fd, SHUT_WR);
}

void kp_conn_set_timer(struct kp_conn *c, int64_t deadline_ms)
{
	if (!c->closed)
		ka_loop_timer_add(&c->net->loop, &c->timer, deadline_ms);
}

void kp_conn_clear_timer(struct kp_conn *c)
{
	ka_loop_timer_remove(&c->net->loop, &c->timer);
}

/* ---- reading responses --------------------------------------------------------------------- */

static void drop_front(struct kp_conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	c->scanned = 0;
}

static void complete(struct kp_conn *c)
{
	struct kp_response r;
	/* Re-parsed: the buffer may have moved since the head was first parsed. */
	ka_http_parse_response(c->in, c->head_len, 0, &r.head);
	const char *eol = memchr(c->in, '\n', c->head_len);
	r.status_line.p = c->in;
	r.status_line.len = eol ? (size_t)(eol - c->in) : 0;
	if (r.status_line.len > 0 && c->in[r.status_line.len - 1] == '\r')
		r.status_line.len--;
	r.method = c->inflight[c->inflight_first];
	r.t_sent_us = c->inflight_sent_us[c->inflight_first];
	c->inflight_first = (c->inflight_first + 1) % KP_INFLIGHT_MAX;
	c->inflight_len--;
	r.framing = c->framing;
	r.keeps_open = ka_http_response_keeps_open(&r.head, c->framing);
	r.body_len = c->body_len;
	r.index = ++c->responses;
	r.t_done_us = now_us(c);
	c->in_body = false;
	c->ops->response(c, &r);
	if (!c->closed)
		drop_front(c, c->head_len);
}

static void start_body(struct kp_conn *c)
{
	enum ka_http_method method = c->inflight[c->inflight_first];
	c->framing = ka_http_response_framing(&c->scratch, method);
	c->in_body = true;
	c->body_len = 0;
	c->body_left = c->scratch.content_length > 0 ? (uint64_t)c->scratch.content_length : 0;
	memset(&c->chunked, 0, sizeof(c->chunked));
}

/* What take_head found. */
enum head_step {
	HEAD_WAIT,  /* more input is needed, or the connection ended */
	HEAD_DONE,  /* a response without a body, or an interim one, is done: look again */
	HEAD_BODY,  /* a body follows the head */
};

/* Reads the next response head from the buffer, if it is all there. */
static enum head_step take_head(struct kp_conn *c)
{
	if (c->in_len == 0)
		return HEAD_WAIT;
	if (c->inflight_len == 0) {  /* nothing was asked: keep a sample, drop it */
		size_t have = KA_MIN(c->unsolicited, (size_t)KP_UNSOLICITED_KEEP);
		size_t keep = KA_MIN(c->in_len, KP_UNSOLICITED_KEEP - have);
		memcpy(c->unsolicited_start + have, c->in, keep);
		c->unsolicited += c->in_len;
		c->in_len = 0;
		c->scanned = 0;
		return HEAD_WAIT;
	}
	ssize_t r = ka_http_parse_response(c->in, c->in_len, c->scanned, &c->scratch);
	if (r == KA_PARSE_PARTIAL) {
		c->scanned = c->in_len;
		return HEAD_WAIT;
	}
	if (r == KA_PARSE_ERROR) {
		c->parse_error = c->scratch.error;
		finish(c, KP_END_PARSE, 0);
		return HEAD_WAIT;
	}
	c->head_len = (size_t)r;
	c->scanned = 0;
	/* RFC 9110 15.2: interim responses precede the final one; skip them. */
	if (c->scratch.status < 200 && c->scratch.status != 101) {
		drop_front(c, c->head_len);
		return HEAD_DONE;
	}
	start_body(c);
	if (c->framing == KA_HTTP_BODY_NONE) {
		complete(c);
		return HEAD_DONE;
	}
	return HEAD_BODY;
}

/* Counts and drops what the buffer holds of the current body. Returns true when the
 * response is complete (the next one may follow), false when more input is needed. */
static bool take_body(struct kp_conn *c)
{
	size_t avail = c->in_len - c->head_len;
	char *body = c->in + c->head_len;

	switch (c->framing) {
	case KA_HTTP_BODY_LENGTH: {
		size_t take = avail < c->body_left ? avail : (size_t)c->body_left;
		c->body_left -= take;
		c->body_len += take;
		memmove(body, body + take, avail - take);
		c->in_len -= take;
		if (c->body_left > 0)
			return false;
		complete(c);
		return true;
	}
	case KA_HTTP_BODY_CHUNKED: {
		size_t n = avail;
		if (n == 0)
			return false;
		ssize_t r = ka_http_chunked_decode(&c->chunked, body, &n);
		c->body_len += n;
		if (r == KA_PARSE_PARTIAL) {
			c->in_len = c->head_len;
			return false;
		}
		if (r == KA_PARSE_ERROR) {
			c->parse_error = c->chunked.error;
			finish(c, KP_END_PARSE, 0);
			return false;
		}
		memmove(body, body + n, (size_t)r);
		c->in_len = c->head_len + (size_t)r;
		complete(c);
		return true;
	}
	case KA_HTTP_BODY_CLOSE:
		c->body_len += avail;
		c->in_len = c->head_len;
		return false;
	case KA_HTTP_BODY_NONE:
		return false;  /* completed with its head */
	}
	return false;
}

/* Consumes what the buffer holds: heads, bodies, and whole responses, in order. */
static void process(struct kp_conn *c)
{
	while (!c->closed) {
		if (!c->in_body) {
			enum head_step step = take_head(c);

			if (step == HEAD_WAIT)
				return;
			if (step == HEAD_DONE)
				continue;
		}
		if (!take_body(c))
			return;
	}
}

/* FIN or reset: a close-delimited body is complete now; then the connection ends. */
static void end_of_input(struct kp_conn *c, enum kp_end end, int err)
{
	/* send() already took the reset's error: recv then only sees the end of input. */
	if (end == KP_END_FIN && c->write_err != 0) {
		end = c->write_err == EPIPE || c->write_err == ECONNRESET ? KP_END_RST : KP_END_ERROR;
		err = c->write_err;
	}
	if (c->in_body && c->framing == KA_HTTP_BODY_CLOSE)
		complete(c);
	finish(c, end, err);
}

static void update_interest(struct kp_conn *c);

/* One read from the byte stream: recv, or what TLS decrypts. Returns the bytes, 0 when
 * the server closed (a FIN; for TLS a close_notify or a bare FIN), or -1 with errno:
 * EAGAIN (wait), ECONNRESET, EPROTO (TLS failed: tls_error says why), another. */
static ssize_t stream_recv(struct kp_conn *c, char *buf, size_t len)
{
	size_t n = 0;

	if (c->tls == NULL)
		return recv(c->io.fd, buf, len, 0);
	c->in_waits_out = false;
	switch (kp_tls_read(c->tls, buf, len, &n)) {
	case KP_TLS_DONE:
		return (ssize_t)n;
	case KP_TLS_EOF:
		return 0;
	case KP_TLS_WANT_WRITE:
		c->in_waits_out = true;
		errno = EAGAIN;
		return -1;
	case KP_TLS_WANT_READ:
		errno = EAGAIN;
		return -1;
	case KP_TLS_RESET:
		errno = ECONNRESET;
		return -1;
	case KP_TLS_FAIL:
		break;
	}
	c->tls_error = kp_tls_error(c->tls);
	errno = EPROTO;
	return -1;
}

static void read_ready(struct kp_conn *c)
{
	while (!c->closed) {
		if (c->in_cap - c->in_len < READ_ROOM_MIN && c->in_cap < IN_MAX) {
			size_t cap = KA_MIN(c->in_cap * 2, (size_t)IN_MAX);
			char *p = realloc(c->in, cap);
			if (p == NULL) {
				finish(c, KP_END_ERROR, ENOMEM);
				return;
			}
			c->in = p;
			c->in_cap = cap;
		}
		size_t room = c->in_cap - c->in_len;
		ssize_t n = stream_recv(c, c->in + c->in_len, room);
		if (n > 0) {
			c->in_len += (size_t)n;
			process(c);
			/* Drained: level-triggered epoll tells us about what the kernel holds,
			 * but not about what OpenSSL decrypted and holds. */
			if ((size_t)n < room && (c->tls == NULL || c->closed || !kp_tls_has_pending(c->tls)))
				return;
			continue;
		}
		if (n == 0) {
			end_of_input(c, KP_END_FIN, 0);
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EPROTO && c->tls != NULL) {
			finish(c, KP_END_TLS, 0);
		} else if (errno != EAGAIN) {
			end_of_input(c, errno == ECONNRESET ? KP_END_RST : KP_END_ERROR, errno);
		} else if (c->tls != NULL) {
			update_interest(c);  /* a read may now wait for writability, or no longer */
		}
		return;
	}
}

/* ---- writing requests ------------------------------------------------------------------------ */

static void set_interest(struct kp_conn *c, bool want_out)
{
	if (c->want_out == want_out)
		return;
	c->want_out = want_out;
	ka_loop_mod(&c->net->loop, &c->io, KA_EV_IN | KA_EV_RDHUP | (want_out ? KA_EV_OUT : 0));
}

/* EPOLLOUT only while something waits for it: level-triggered, it would fire on every
 * iteration otherwise. Readability is always of interest. */
static void update_interest(struct kp_conn *c)
{
	if (c->closed)
		return;
	if (c->tls != NULL && !c->tls_ready)
		set_interest(c, c->hs_waits_out);
	else
		set_interest(c, (c->out_len > 0 && !c->out_waits_in) || c->in_waits_out);
}

/* One write to the byte stream: send, or through TLS. Returns the bytes taken, or -1
 * with errno: EAGAIN (wait), EPIPE or ECONNRESET, EPROTO (TLS failed), another. */
static ssize_t stream_send(struct kp_conn *c, const char *buf, size_t len)
{
	size_t n = 0;

	if (c->tls == NULL)
		return send(c->io.fd, buf, len, MSG_NOSIGNAL);
	c->out_waits_in = false;
	switch (kp_tls_write(c->tls, buf, len, &n)) {
	case KP_TLS_DONE:
		return (ssize_t)n;
	case KP_TLS_WANT_READ:
		c->out_waits_in = true;
		errno = EAGAIN;
		return -1;
	case KP_TLS_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case KP_TLS_EOF:
	case KP_TLS_RESET:
		errno = EPIPE;
		return -1;
	case KP_TLS_FAIL:
		break;
	}
	c->tls_error = kp_tls_error(c->tls);
	errno = EPROTO;
	return -1;
}

void kp_conn_flush(struct kp_conn *c)
{
	if (c->closed || !c->connected || c->write_err || (c->tls != NULL && !c->tls_ready))
		return;
	while (c->out_len > 0) {
		ssize_t n = stream_send(c, c->out, c->out_len);
		if (n > 0) {
			memmove(c->out, c->out + n, c->out_len - (size_t)n);
			c->out_len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			break;
		} else {
			/* EPIPE or ECONNRESET: the server reset the connection. A response it
			 * sent first may still be queued for us, and the callback that wrote may
			 * be in the middle of reading one: the reset is reported by the read
			 * side, which the socket's error state wakes at the next iteration. */
			c->write_err = errno;
			c->out_len = 0;
			break;
		}
	}
	update_interest(c);
}

/* Appends data to what waits to be sent, growing the buffer; -1 without memory. */
static int out_add(struct kp_conn *c, const char *data, size_t len)
{
	if (c->out_len + len > c->out_cap) {
		size_t cap = KA_MAX(c->out_cap * 2, c->out_len + len);
		char *p = realloc(c->out, cap);

		if (p == NULL)
			return -1;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

int kp_conn_queue(struct kp_conn *c, const char *data, size_t len, enum ka_http_method method)
{
	if (c->closed || c->inflight_len == KP_INFLIGHT_MAX || out_add(c, data, len) < 0)
		return -1;
	unsigned slot = (c->inflight_first + c->inflight_len) % KP_INFLIGHT_MAX;
	c->inflight[slot] = method;
	c->inflight_sent_us[slot] = now_us(c);
	c->inflight_len++;
	return 0;
}

int kp_conn_append(struct kp_conn *c, const char *data, size_t len)
{
	if (c->closed || c->inflight_len == 0)
		return -1;
	return out_add(c, data, len);
}

/* ---- connecting ---------------------------------------------------------------------------- */

/* Requests queued before the connection could carry them were stamped then; they
 * leave now. */
static void requests_leave_now(struct kp_conn *c)
{
	for (unsigned i = 0; i < c->inflight_len; i++)
		c->inflight_sent_us[(c->inflight_first + i) % KP_INFLIGHT_MAX] = now_us(c);
}

/* One step of the TLS handshake; when it completes, queued requests go out. */
static void handshake_step(struct kp_conn *c)
{
	enum kp_tls_io r = kp_tls_handshake(c->tls);

	c->hs_waits_out = r == KP_TLS_WANT_WRITE;
	switch (r) {
	case KP_TLS_DONE:
		/* The handshake's crypto takes a millisecond or more, and on loopback the
		 * server's answer is often there before OpenSSL reads, so the whole handshake
		 * can complete within one event: the clock of the loop's batch would say 0. */
		ka_loop_update_time(&c->net->loop);
		c->tls_ready = true;
		c->t_tls_done_us = now_us(c);
		requests_leave_now(c);
		kp_conn_flush(c);  /* sets the interest */
		return;
	case KP_TLS_WANT_READ:
	case KP_TLS_WANT_WRITE:
		update_interest(c);
		return;
	case KP_TLS_EOF:
		c->tls_error = "the server closed the connection during the TLS handshake";
		break;
	case KP_TLS_RESET:
		c->tls_error = "the server reset the connection during the TLS handshake";
		break;
	case KP_TLS_FAIL:
		c->tls_error = kp_tls_error(c->tls);
		break;
	}
	finish(c, KP_END_TLS, 0);
}

static void on_connected(struct kp_conn *c)
{
	struct sockaddr_storage local;
	socklen_t len;
	c->connected = true;
	c->t_connected_us = now_us(c);
	if (ka_sock_local_addr(c->io.fd, &local, &len) == 0)
		c->local_port = ntohs(local.ss_family == AF_INET6
		                          ? ((struct sockaddr_in6 *)&local)->sin6_port
		                          : ((struct sockaddr_in *)&local)->sin_port);
	/* Registered for EPOLLOUT to learn of the connect; from now on only when a write
	 * could not finish. */
	c->want_out = true;
	set_interest(c, false);
	if (c->ops->connected)
		c->ops->connected(c);
	if (c->closed)
		return;
	if (c->tls != NULL) {
		handshake_step(c);  /* the ClientHello */
		return;
	}
	requests_leave_now(c);
	kp_conn_flush(c);
}

static void conn_event(struct ka_io *io, uint32_t events)
{
	struct kp_conn *c = (struct kp_conn *)io;
	if (c->closed)
		return;  /* closed earlier in this batch; freed after it */
	if (!c->connected) {
		if (!(events & (KA_EV_OUT | KA_EV_ERR | KA_EV_HUP)))
			return;
		int e = ka_sock_error(io->fd);
		if (e == 0 && (events & (KA_EV_ERR | KA_EV_HUP)))
			e = ECONNREFUSED;
		if (e != 0) {
			finish(c, KP_END_CONNECT, e);
			return;
		}
		on_connected(c);
		if (c->closed || (c->tls != NULL && !c->tls_ready))
			return;
	} else if (c->tls != NULL && !c->tls_ready) {
		handshake_step(c);
		if (c->closed || !c->tls_ready)
			return;
	}
	if (c->tls != NULL) {
		/* Either direction may wait for either readiness: try both. A read that
		 * finds nothing costs one EAGAIN. */
		if (c->out_len > 0)
			kp_conn_flush(c);
		if (!c->closed)
			read_ready(c);
		return;
	}
	if ((events & KA_EV_OUT) && c->out_len > 0)
		kp_conn_flush(c);
	if (!c->closed && (events & (KA_EV_IN | KA_EV_RDHUP | KA_EV_HUP | KA_EV_ERR)))
		read_ready(c);
}

static void conn_timer(struct ka_timer *t)
{
	struct kp_conn *c = ka_container_of(t, struct kp_conn, timer);
	if (c->closed)
		return;
	if (c->end == KP_END_CONNECT) {  /* connect() failed at once: reported from here */
		c->end = KP_END_OPEN;
		finish(c, KP_END_CONNECT, c->err);
		return;
	}
	if (c->ops->timer)
		c->ops->timer(c);
}

struct kp_conn *kp_conn_open(struct kp_net *net, const struct kp_target *t,
                             const struct kp_conn_ops *ops, void *owner)
{
	struct kp_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->in = malloc(IN_INITIAL);
	if (c->in == NULL) {
		free(c);
		return NULL;
	}
	c->in_cap = IN_INITIAL;
	int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		free(c->in);
		free(c);
		return NULL;
	}
	c->io.fd = fd;
	c->io.on_event = conn_event;
	c->net = net;
	c->ops = ops;
	c->owner = owner;
	c->timer.cb = conn_timer;
	c->t_connect_us = net->loop.now_us;
	if (t->tls != NULL) {
		c->tls = kp_tls_new(t->tls, fd, t->name, t->name_is_ip);
		if (c->tls == NULL) {
			close(fd);
			free(c->in);
			free(c);
			errno = ENOMEM;
			return NULL;
		}
	}
	/* Requests are small and written whole: Nagle would only hold back a pipelined
	 * batch's tail until the server's ACK. */
	ka_sock_set_nodelay(fd);
	if (connect(fd, (const struct sockaddr *)&t->addr, t->addr_len) < 0 && errno != EINPROGRESS) {
		/* Reported from the loop like any other failure, never from inside open. */
		c->end = KP_END_CONNECT;
		c->err = errno;
		ka_loop_timer_add(&net->loop, &c->timer, net->loop.now);
		return c;
	}
	if (ka_loop_add(&net->loop, &c->io, KA_EV_IN | KA_EV_OUT | KA_EV_RDHUP) < 0) {
		c->end = KP_END_CONNECT;
		c->err = errno ? errno : EINVAL;
		ka_loop_timer_add(&net->loop, &c->timer, net->loop.now);
	}
	return c;
}

void kp_conn_offer_session(struct kp_conn *c, struct kp_tls_session *s)
{
	if (c->tls != NULL && s != NULL)
		kp_tls_offer(c->tls, s);
}

bool kp_conn_tls_info(const struct kp_conn *c, struct kp_tls_info *info, double *handshake_ms)
{
	if (c->tls == NULL || !c->tls_ready)
		return false;
	kp_tls_describe(c->tls, info);
	*handshake_ms = (double)(c->t_tls_done_us - c->t_connected_us) / 1000.0;
	return true;
}

/* ---- small helpers for messages ------------------------------------------------------------- */

const char *kp_end_name(enum kp_end end)
{
	switch (end) {
	case KP_END_OPEN: return "open";
	case KP_END_FIN: return "FIN";
	case KP_END_RST: return "RST";
	case KP_END_CLIENT: return "closed by kaprobe";
	case KP_END_CONNECT: return "connect failed";
	case KP_END_PARSE: return "not HTTP";
	case KP_END_ERROR: return "socket error";
	case KP_END_TLS: return "TLS failed";
	}
	return "?";
}

char *kp_escape(const char *p, size_t n, char *out, size_t out_len)
{
	size_t o = 0;
	if (out_len < 8) {
		if (out_len)
			out[0] = '\0';
		return out;
	}
	out[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		char tmp[8];
		unsigned char ch = (unsigned char)p[i];
		if (ch == '\r')
			strcpy(tmp, "\\r");
		else if (ch == '\n')
			strcpy(tmp, "\\n");
		else if (ch == '\t')
			strcpy(tmp, "\\t");
		else if (ch == '"' || ch == '\\')
			snprintf(tmp, sizeof(tmp), "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			snprintf(tmp, sizeof(tmp), "\\x%02x", ch);
		else
			snprintf(tmp, sizeof(tmp), "%c", ch);
		size_t tl = strlen(tmp);
		if (o + tl + 5 > out_len) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, tmp, tl);
		o += tl;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}
