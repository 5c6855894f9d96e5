/*
 * The output path: a response description becomes bytes in the connection's write
 * buffer, and queued bytes go to the socket. Small bodies (up to INLINE_MAX) are
 * copied behind the head so that head and body leave in one send, and pipelined
 * responses pile up in the same buffer and leave together; larger files go out with
 * sendfile after the buffered bytes. Framing is decided here and nowhere else
 * (RFC 9112 6.3): Content-Length when the length is known, chunked for a stream to
 * HTTP/1.1, the connection's close for a stream to HTTP/1.0, nothing for HEAD, 1xx,
 * 204 and 304; a handler's stream goes out in pieces through ka_output_stream_*, which
 * frame each piece here too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/util.h"
#include "server/conn.h"

/* Bodies up to this size are copied into the write buffer: one pread and no second
 * syscall to send, and pipelined responses can share a write. */
#define INLINE_MAX 16384

/* Framing of one stream piece: "<hex size>\r\n" before it, "\r\n" after it, and room
 * for the last-chunk "0\r\n\r\n" that ends the body. */
#define CHUNK_HEAD_MAX 18
#define CHUNK_TAIL 2
#define LAST_CHUNK 5

/* Lets go of a pinned body (a cached file) that nothing points into any more. */
static void unpin(struct ka_resp *r)
{
	if (r->pin) {
		r->unpin(r->pin);
		r->pin = NULL;
	}
}

void ka_output_drop_tail(struct ka_exchange *ex)
{
	if (ex->tail == KA_TAIL_FILE && ex->tail_fd >= 0)
		close(ex->tail_fd);
	if (ex->tail == KA_TAIL_MEM)
		unpin(&ex->resp);
	ex->tail = KA_TAIL_NONE;
	ex->tail_fd = -1;
	ex->tail_len = 0;
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static char *put_str(char *p, const char *s)
{
	return put(p, s, strlen(s));
}

/* A fixed part of every head: "HTTP/1.1 200 OK\r\nServer: kahttpd\r\nDate: ...\r\n".
 * The Date value is formatted once per wall-clock second per worker. */
static char *put_status(char *p, struct ka_worker *w, int status)
{
	p = put(p, "HTTP/1.1 ", 9);
	p = ka_put_u64(p, (uint64_t)status);
	*p++ = ' ';
	p = put_str(p, ka_status_reason(status));
	p = put(p, "\r\nServer: kahttpd\r\nDate: ", 25);
	if (w->date_wall != w->loop.wall) {
		w->date_wall = w->loop.wall;
		ka_http_date_format(w->date_wall, w->date);
	}
	p = put(p, w->date, KA_HTTP_DATE_LEN);
	return put(p, "\r\n", 2);
}

/* Reads a small file's range into the write buffer; false if the file came up short. */
static bool inline_file(struct ka_buf *b, int fd, off_t off, size_t len)
{
	while (len) {
		ssize_t n = pread(fd, b->data + b->len, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		b->len += (uint32_t)n;
		off += n;
		len -= (size_t)n;
	}
	return true;
}

void ka_output_response(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;
	struct ka_resp *r = &ex->resp;
	struct ka_buf *b = c->wbuf;
	bool bodyless = r->status < 200 || r->status == 204 || r->status == 304;
	bool send_body = !bodyless && !ex->is_head;
	char *p = b->data + b->len;

	p = put_status(p, c->w, r->status);
	if (r->content_type) {
		p = put(p, "Content-Type: ", 14);
		p = put_str(p, r->content_type);
		p = put(p, "\r\n", 2);
	}
	ex->chunked_out = false;
	if (!bodyless) {
		if (r->content_length >= 0) {
			p = put(p, "Content-Length: ", 16);
			p = ka_put_u64(p, (uint64_t)r->content_length);
			p = put(p, "\r\n", 2);
		} else if (ex->req.minor_version == 1) {
			p = put(p, "Transfer-Encoding: chunked\r\n", 28);
			ex->chunked_out = true;
		}
	}
	p = put(p, r->extra, r->extra_len);
	if (r->more_len)
		p = put(p, r->more, r->more_len);
	/* A 101 ends HTTP on the connection: its Connection field is the handler's. */
	if (r->status != 101)
		p = ka_policy_write_header(p, &ex->decision);
	p = put(p, "\r\n", 2);
	b->len = (uint32_t)(p - b->data);
	ex->response_pending = true;
	/* A stream counts its pieces as they go (ka_output_stream_write). */
	ex->body_bytes = send_body && r->content_length > 0 && r->body != KA_BODY_STREAM
	                         ? (uint64_t)r->content_length : 0;

	switch (send_body ? r->body : KA_BODY_NONE) {
	case KA_BODY_NONE:
		break;
	case KA_BODY_MEM:
		if (r->mem_len <= ka_buf_room(b)) {
			ka_buf_append(b, r->mem, r->mem_len);
		} else {
			ex->tail = KA_TAIL_MEM;
			ex->tail_mem = r->mem;
			ex->tail_len = r->mem_len;
		}
		break;
	case KA_BODY_FILE:
		if (r->file_len <= INLINE_MAX && r->file_len <= ka_buf_room(b)) {
			if (!inline_file(b, r->file_fd, r->file_off, r->file_len)) {
				/* The file shrank under us: the head promised more than we have, so
				 * the only honest end is to close after what we could send. */
				c->closing = true;
				c->close_reason = KA_CLOSE_ERROR;
			}
		} else {
			ex->tail = KA_TAIL_FILE;
			ex->tail_fd = r->file_fd;
			ex->tail_off = r->file_off;
			ex->tail_len = r->file_len;
			r->file_fd = -1;  /* the tail owns it now */
		}
		break;
	case KA_BODY_STREAM:
		ex->streaming = true;
		break;
	}
	if (r->file_fd >= 0) {
		close(r->file_fd);
		r->file_fd = -1;
	}
	if (ex->tail != KA_TAIL_MEM)
		unpin(r);  /* copied into the buffer, or not sent at all */
	if (ex->tail != KA_TAIL_NONE)
		ex->send_queued = true;
}

/* A send that moved nothing: 0 when the socket is full (the next EPOLLOUT edge says
 * when there is room again), 1 to try again (EINTR), -1 when the connection failed. */
static int send_stopped(struct ka_conn *c)
{
	if (errno == EINTR)
		return 1;
	if (errno == EAGAIN) {
		c->writable = false;
		return 0;
	}
	return -1;
}

/* One sendmsg of the buffered bytes and a memory tail behind them: 1 when all of it
 * left, 0 when the socket filled, -1 when the connection failed. */
static int send_memory(struct ka_conn *c, bool last)
{
	struct ka_exchange *ex = c->ex;
	struct ka_buf *b = c->wbuf;
	size_t pending = b ? ka_buf_used(b) : 0;
	bool mem_tail = ex && ex->tail == KA_TAIL_MEM;
	struct iovec iov[2];
	struct msghdr msg = { .msg_iov = iov };
	/* MSG_NOSIGNAL: a client that vanished gives EPIPE, not a SIGPIPE. MSG_MORE on the
	 * last bytes of a connection: close or shutdown follows at once and sends them with
	 * the FIN (a file tail would still follow). */
	int flags = MSG_NOSIGNAL | (last && !(ex && ex->tail == KA_TAIL_FILE) ? MSG_MORE : 0);
	ssize_t n;

	if (pending)
		iov[msg.msg_iovlen++] = (struct iovec){ b->data + b->pos, pending };
	if (mem_tail)
		iov[msg.msg_iovlen++] = (struct iovec){ (void *)ex->tail_mem, ex->tail_len };
	n = sendmsg(c->io.fd, &msg, flags);
	if (n < 0)
		return send_stopped(c);
	if (pending) {
		size_t from_buf = (size_t)n < pending ? (size_t)n : pending;

		ka_buf_consume(b, from_buf);
		n -= (ssize_t)from_buf;
	}
	if (mem_tail) {
		ex->tail_mem += n;
		ex->tail_len -= (size_t)n;
		if (ex->tail_len == 0)
			ka_output_drop_tail(ex);
	}
	/* A short write on a non-blocking TCP socket means its buffer is full. */
	if ((b && ka_buf_used(b)) || (ex && ex->tail == KA_TAIL_MEM)) {
		c->writable = false;
		return 0;
	}
	return 1;
}

/* One sendfile of the file tail: as send_memory. */
static int send_file(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;
	ssize_t n = sendfile(c->io.fd, ex->tail_fd, &ex->tail_off, ex->tail_len);

	if (n < 0)
		return send_stopped(c);
	if (n == 0) {
		errno = EIO;  /* the file shrank: we cannot keep the length we promised */
		return -1;
	}
	ex->tail_len -= (size_t)n;
	if (ex->tail_len == 0)
		ka_output_drop_tail(ex);
	return 1;
}

/* One TLS write of the first thing queued: buffered bytes, else the memory tail, else
 * a piece of the file tail read into the worker's scratch (no sendfile through TLS).
 * As send_memory. A write that must wait is retried with the same bytes, which a file
 * piece read again from the same offset is. */
static int send_tls(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;
	struct ka_buf *b = c->wbuf;
	bool buffered = b && ka_buf_used(b);
	const char *p;
	size_t len;
	ssize_t n;

	if (buffered) {
		p = b->data + b->pos;
		len = ka_buf_used(b);
	} else if (ex->tail == KA_TAIL_MEM) {
		p = ex->tail_mem;
		len = ex->tail_len;
	} else {
		len = KA_MIN(ex->tail_len, sizeof(c->w->discard));
		n = pread(ex->tail_fd, c->w->discard, len, ex->tail_off);
		if (n <= 0) {
			errno = n < 0 ? errno : EIO;  /* the file shrank: the length was promised */
			return -1;
		}
		p = c->w->discard;
		len = (size_t)n;
	}
	n = ka_tls_write(c->tls, p, len);
	if (n == KA_TLS_WANT_WRITE || n == KA_TLS_WANT_READ) {
		if (n == KA_TLS_WANT_WRITE)
			c->writable = false;
		else
			c->readable = false;
		return 0;
	}
	if (n < 0)
		return -1;
	if (buffered) {
		ka_buf_consume(b, (size_t)n);
		return 1;
	}
	if (ex->tail == KA_TAIL_MEM)
		ex->tail_mem += n;
	else
		ex->tail_off += n;
	ex->tail_len -= (size_t)n;
	if (ex->tail_len == 0)
		ka_output_drop_tail(ex);
	return 1;
}

int ka_output_flush(struct ka_conn *c, bool last)
{
	struct ka_exchange *ex = c->ex;

	for (;;) {
		bool buffered = c->wbuf && ka_buf_used(c->wbuf);
		enum ka_tail_kind tail = ex ? ex->tail : KA_TAIL_NONE;
		int r;

		if (!buffered && tail == KA_TAIL_NONE)
			return 1;
		if (!c->writable)
			return 0;
		if (c->tls)
			r = send_tls(c);
		else
			r = buffered || tail == KA_TAIL_MEM ? send_memory(c, last) : send_file(c);
		if (r <= 0)
			return r;
	}
}

/* ---- streams ----------------------------------------------------------------------------- */

size_t ka_output_stream_room(const struct ka_conn *c)
{
	size_t room = ka_buf_room(c->wbuf);
	size_t framing = c->ex->chunked_out ? CHUNK_HEAD_MAX + CHUNK_TAIL + LAST_CHUNK : 0;

	return room > framing ? room - framing : 0;
}

void ka_output_stream_write(struct ka_conn *c, const void *p, size_t n)
{
	struct ka_exchange *ex = c->ex;
	struct ka_buf *b = c->wbuf;

	if (n == 0)
		return;  /* a zero-size chunk would end the body */
	if (ex->chunked_out) {
		char head[CHUNK_HEAD_MAX];

		ka_buf_append(b, head, (size_t)snprintf(head, sizeof(head), "%zx\r\n", n));
	}
	ka_buf_append(b, p, n);
	if (ex->chunked_out)
		ka_buf_append(b, "\r\n", CHUNK_TAIL);
	ex->body_bytes += n;
}

void ka_output_stream_end(struct ka_conn *c)
{
	struct ka_exchange *ex = c->ex;

	if (ex->chunked_out)
		ka_buf_append(c->wbuf, "0\r\n\r\n", LAST_CHUNK);  /* last-chunk, no trailers */
	ex->streaming = false;
	ex->on_drain = NULL;
}
