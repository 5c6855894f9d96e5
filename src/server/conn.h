/*
 * A client connection and the state of the request it is serving. The connection is
 * small and lives as long as the TCP connection; everything a request needs (parsed
 * head, response description, body, handler state) is in a ka_exchange borrowed from
 * the worker's pool, together with the read and write buffers, and given back before
 * the connection goes idle. An idle keep-alive connection is this struct and nothing
 * else.
 */
#ifndef KA_CONN_H
#define KA_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/http_parse.h"
#include "core/loop.h"
#include "core/timer.h"
#include "server/keepalive_policy.h"
#include "server/resp.h"
#include "server/route.h"
#include "server/server.h"
#include "server/stats.h"
#include "server/tls.h"

enum ka_body_framing { KA_FRAMING_NONE, KA_FRAMING_LENGTH, KA_FRAMING_CHUNKED };
enum ka_tail_kind { KA_TAIL_NONE, KA_TAIL_MEM, KA_TAIL_FILE };

struct ka_conn;

/* A handler that takes the request body in pieces as it arrives (ka_conn_stream_body):
 * room says how many decoded bytes it can take now (0: wait, and ka_conn_run the
 * connection once it has room again); piece gets them. */
struct ka_body_sink {
	size_t (*room)(struct ka_conn *c);
	void (*piece)(struct ka_conn *c, const char *p, size_t n);
};

/* Room for a handler's per-request state (its own typed struct, ka_conn_state). */
#define KA_HANDLER_STATE_MAX 64

struct ka_exchange {
	struct ka_conn *conn;
	struct ka_http_request req;
	const struct ka_route *route;  /* the route serving it, once the head is parsed */
	size_t scanned;    /* head bytes the parser has already seen */
	size_t head_len;   /* 0 until the head is complete */

	/* Request body: framing, progress, and who reads it. */
	enum ka_body_framing framing;
	uint64_t body_left;  /* KA_FRAMING_LENGTH: bytes still to come */
	struct ka_chunked chunked;
	bool body_done;
	bool body_wanted;    /* the handler reads it; otherwise it is discarded */
	const struct ka_body_sink *sink;  /* ...in pieces (ka_conn_stream_body), not whole */
	char *body;          /* what the handler read (malloc'd, up to --max-body-size) */
	size_t body_len, body_cap;

	struct ka_resp resp;
	struct ka_decision decision;  /* persistence of this response (keepalive_policy.h) */
	bool is_head;        /* HEAD: headers as for GET, no body */
	bool response_pending;  /* queued, not yet reported as sent */
	bool counted;        /* the request has been counted in c->requests */
	bool chunked_out;    /* output.c: the response body is sent chunked */
	bool send_queued;    /* it did not leave in one write: a tail, or a full socket */

	/* Output beyond the write buffer: one memory block or one file range. */
	enum ka_tail_kind tail;
	const char *tail_mem;
	int tail_fd;
	off_t tail_off;
	size_t tail_len;

	/* Handlers that answer later (a timer) or in pieces (a stream). */
	bool streaming;               /* more output will follow (ka_output_stream_*) */
	bool fin_ends;                /* the client's FIN ends the stream (event streams) */
	struct ka_timer timer;        /* ka_conn_timer */
	void (*on_timer)(struct ka_conn *c);     /* ka_conn_timer's callback */
	void (*on_drain)(struct ka_conn *c);     /* streaming: the output queue has emptied */
	void (*on_body)(struct ka_conn *c);      /* ka_conn_read_body: the body is all read */
	void (*on_shutdown)(struct ka_conn *c);  /* streaming: the server is draining */
	/* The client's input is readable while the handler works (instead of buffering
	 * it): a tunnel reads it itself (ka_conn_recv). */
	void (*on_input)(struct ka_conn *c);
	/* The exchange ends, answered or not (the connection may be closing): the handler
	 * lets go of what it holds outside the exchange. */
	void (*on_release)(struct ka_conn *c);
	union {
		max_align_t align;
		unsigned char bytes[KA_HANDLER_STATE_MAX];
	} state;                      /* the handler's own, through ka_conn_state */

	/* --access-log: the line's parts known when the head completes. */
	int64_t start_us;     /* the request began (loop time) */
	uint64_t body_bytes;  /* response body bytes, for %b */
	uint16_t log_head_len, log_tail_len, log_more_len;
	char log_more[160];   /* the handler's own fields, " name=value..." (a proxy's) */
	char log[2048];       /* '%h - - [%t] "%r" ' then ' "%{Referer}i" "%{User-Agent}i"' */

	char scratch[4096];  /* error texts and other small bodies */
};

/* The peer's address, compactly: an idle connection should stay small. */
struct ka_peer {
	uint8_t family;  /* AF_INET or AF_INET6 */
	uint16_t port;
	uint8_t addr[16];
};

struct ka_conn {
	struct ka_io io;
	struct ka_worker *w;
	struct ka_link link;          /* in w->conns */
	struct ka_fifo_node timer;    /* in one of header_q, idle_q, io_q, linger_q */
	/* Idle, with a deadline earlier than idle_q's shared one (a shrunken timeout
	 * under load, or the end of --keepalive-time): this heap timer closes it. idle_q
	 * still holds the connection, in least-recently-active order, for eviction.
	 * Lingering, it brings the next turn of discarding a fast sender's bytes. */
	struct ka_timer idle_timer;
	struct ka_buf *rbuf, *wbuf;
	struct ka_exchange *ex;
	ka_tls_conn *tls;             /* HTTPS: reads and writes go through it; else NULL */
	int64_t born;                 /* loop time of accept, ms */
	int64_t idle_since_us;        /* loop time it last went idle: eviction order */
	uint64_t id;
	struct ka_peer peer;
	uint32_t requests;            /* requests begun on this connection */
	uint32_t advertised_ms;       /* Keep-Alive: timeout= last sent, in ms */
	uint8_t state;                /* enum ka_conn_state */
	uint8_t close_reason;         /* enum ka_close_reason, once decided */
	uint8_t role;                 /* enum ka_role of the listener that accepted it */
	uint8_t slot;                 /* its slot in srv->listen_fds (public listeners) */
	bool readable, writable;      /* edge-triggered readiness not yet used up */
	bool closing;                 /* the response being sent is the last */
	bool client_done;             /* the request itself asked to close (no linger) */
	bool last_call;               /* a request arrived at the idle deadline: answer, close */
	bool peer_closed;             /* we saw the client's FIN */
	bool fin_announced;           /* EPOLLRDHUP seen: a recv will return 0 once drained */
	bool shut_wr;                 /* we sent our FIN (lingering close) */
	bool fin_before_ours;         /* the client's FIN was known when we sent ours */
	bool handshaking;             /* HTTPS: the TLS handshake is not complete yet */
};

/* Every state change goes through here, so the per-state gauges stay exact. */
static inline void ka_conn_set_state(struct ka_conn *c, enum ka_conn_state s)
{
	ka_stat_add(&c->w->stats.in_state[c->state], -1);
	ka_stat_add(&c->w->stats.in_state[s], 1);
	c->state = (uint8_t)s;
}

/* Public connections count everywhere: figures, --max-connections, trace, access log.
 * The admin listener's are served, and counted nowhere. */
static inline bool ka_conn_public(const struct ka_conn *c)
{
	return c->role == KA_ROLE_PUBLIC;
}

/* --trace-connections is on, and c is a public connection (trace.h's ka_trace). */
static inline bool ka_conn_traced(const struct ka_conn *c)
{
	return c->w->cfg->trace_connections && ka_conn_public(c);
}

/* ---- for the worker (worker.c) ------------------------------------------------------- */

/* Accepted socket fd from peer, on listener l, becomes a connection of w; NULL (fd
 * closed) on failure. */
struct ka_conn *ka_conn_new(struct ka_worker *w, int fd, const struct sockaddr *peer,
                            const struct ka_listener *l);

/* Ends the connection now, counting reason. The one place a connection is freed. */
void ka_conn_close(struct ka_conn *c, enum ka_close_reason reason);

/* Frees the connections closed during this loop iteration (loop->after). */
void ka_conn_free_closed(void *worker);

/* Drains a connection for shutdown: idle ones close at once, others finish their
 * current response with Connection: close. */
void ka_conn_drain(struct ka_conn *c);
/* A reload changed --keepalive-timeout to timeout: later idle waits use it. Idle
 * connections waiting now keep the deadline their Keep-Alive header announced. */
void ka_conn_idle_retime(struct ka_worker *w, int64_t timeout);

/* Timer callbacks, one per FIFO (server.h). */
ka_fifo_cb ka_conn_handshake_timeout, ka_conn_header_timeout, ka_conn_idle_timeout,
	ka_conn_io_timeout, ka_conn_linger_timeout;

/* Closes a lingering connection, else w's least recently active idle one, to make
 * room at --max-connections; false when it has neither. */
bool ka_conn_evict_one(struct ka_worker *w);
/* What ka_conn_evict_one would close, as a key comparable across workers (lowest
 * first): any lingering connection, then the least recently active idle one;
 * INT64_MAX when there is none. */
int64_t ka_conn_evict_key(const struct ka_worker *w);

/* ---- between conn.c, conn_request.c, conn_keepalive.c and conn_tls.c ------------------ */

/* Looks, without reading, at the socket (raw, below TLS): 1 when the client's bytes
 * wait unread, 0 when it has closed (c->peer_closed is then set), -1 when nothing has
 * come. One syscall, for the moments a readiness flag may be behind: an idle deadline
 * (the close-race guard) and a close at once. */
int ka_conn_peek(struct ka_conn *c);

/* Besides a byte count: nothing to read now, or the connection failed (errno). */
enum { KA_RECV_AGAIN = -1, KA_RECV_ERROR = -2 };

/* HTTPS: carries the handshake on. 1 when the connection can go on to its request (the
 * handshake is done, or plain HTTP was answered with a 400), 0 to wait for the socket,
 * -1 when the connection was closed. */
int ka_conn_handshake(struct ka_conn *c);
/* HTTPS: reads plaintext: bytes, 0 at the client's end, KA_RECV_AGAIN, KA_RECV_ERROR. */
ssize_t ka_conn_recv_tls(struct ka_conn *c, char *p, size_t len);

/* Borrows read and write buffers and an exchange; false when memory ran out. */
bool ka_conn_activate(struct ka_conn *c);
/* Readies ex for the next request on the connection. */
void ka_exchange_reset(struct ka_exchange *ex);
/* Gives c's exchange back to the pool, with what it holds. */
void ka_exchange_release(struct ka_conn *c);
/* Gives back everything an idle connection does not need. */
void ka_conn_release(struct ka_conn *c);
/* Takes body bytes from the read buffer, off bytes past its unconsumed start (the
 * head's length while the head is still needed). Returns 1 when the body is complete,
 * 0 when more is needed, -1 on error (status and why set). */
int ka_conn_body_take(struct ka_conn *c, size_t off, int *status, const char **why);
/* Drops what of an unwanted body has already arrived; false when it is malformed (the
 * error response is then queued). */
bool ka_conn_skip_body(struct ka_conn *c);
/* Counts the request being served, once, however it ends. */
void ka_conn_count_request(struct ka_conn *c);
/* The response's last byte is with the kernel: trace it and log it. */
void ka_conn_response_done(struct ka_conn *c);
/* The response is queued: on to writing, or straight to a pipelined next request. */
void ka_conn_response_queued(struct ka_conn *c);
/* Asks the keep-alive policy about the response about to be written: sets
 * c->ex->decision, and c->closing and the reason when it is the last. */
void ka_conn_decide(struct ka_conn *c);
/* The idle timeout c would get if it went idle now (ka_policy_idle_deadline). */
int64_t ka_conn_next_idle_timeout(const struct ka_conn *c);
/* Ends an idle wait for reason, unless a request has arrived meanwhile: that one is
 * answered, with Connection: close (the close-race guard). */
void ka_conn_expire_idle(struct ka_conn *c, enum ka_close_reason reason);
/* c->idle_timer's callback: an idle deadline earlier than idle_q's, or the next turn of
 * a lingering close. */
void ka_conn_idle_deadline(struct ka_timer *t);
/* An error response that ends the connection (parse errors, 408, 413), and lingers. */
void ka_conn_respond_error(struct ka_conn *c, int status, const char *detail,
                           enum ka_close_reason reason);
/* Drives the connection after something changed it from outside an I/O event (a
 * timer): writes what was queued, and so on. */
void ka_conn_run(struct ka_conn *c);

/* ---- for handlers (route.h): the request, the response, timers ----------------------- */

/* The response in c->ex->resp is complete: queue it and carry on. */
void ka_conn_respond(struct ka_conn *c);
/* Answers with a short text/plain body, "<status> <reason>: <detail>\n"
 * (ka_resp_error); headers already added to c->ex->resp are kept. */
void ka_conn_respond_text(struct ka_conn *c, int status, const char *detail);
/* The handler wants the request body: on_body runs once it is all read (at once when
 * it already is) into c->ex->body[0..body_len). Sends 100 Continue when the client
 * waits for it. Bodies over --max-body-size are answered 413 without the handler. */
void ka_conn_read_body(struct ka_conn *c, void (*on_body)(struct ka_conn *c));
/* The handler takes the body as it arrives, through sink, and on_body runs once it
 * has all of it (at once when there is none left). --max-body-size does not apply:
 * nothing is kept whole. A client that waits for 100 Continue gets it only from
 * ka_conn_continue (a proxy relays its backend's). */
void ka_conn_stream_body(struct ka_conn *c, const struct ka_body_sink *sink,
                         void (*on_body)(struct ka_conn *c));
/* Queues "100 Continue" for an HTTP/1.1 client (not for HTTP/1.0, which knows no 1xx). */
void ka_conn_continue(struct ka_conn *c);
/* Reads from the client, below HTTP, through TLS when it is HTTPS: bytes, 0 at its
 * end, KA_RECV_AGAIN or KA_RECV_ERROR. For a handler that took over the connection
 * (on_input). */
ssize_t ka_conn_recv(struct ka_conn *c, char *p, size_t len);
/* The handler's per-request state: KA_HANDLER_STATE_MAX bytes, as the handler left
 * them; each handler casts it to its own struct (checked with a _Static_assert). */
static inline void *ka_conn_state(struct ka_conn *c)
{
	return c->ex->state.bytes;
}
/* Calls cb(c) at loop time at (ms), then drives the connection; one timer per
 * request. Returns 0, or -1 when the timer could not be armed (out of memory). */
int ka_conn_timer(struct ka_conn *c, void (*cb)(struct ka_conn *c), int64_t at);
void ka_conn_timer_stop(struct ka_conn *c);
static inline bool ka_conn_timer_armed(const struct ka_conn *c)
{
	return ka_timer_armed(&c->ex->timer);
}
/* The loop's time, ms (monotonic, cached once per pass). */
static inline int64_t ka_conn_now(const struct ka_conn *c)
{
	return c->w->loop.now;
}

/* ---- output.c ------------------------------------------------------------------------- */

/* Serialises ex->resp, with the persistence ex->decision says, into the write buffer. */
void ka_output_response(struct ka_conn *c);
/* Writes what is queued; returns 1 when all is out, 0 when the socket is full, -1 when
 * the connection failed (errno kept). last: nothing but the FIN follows these bytes
 * (the caller closes or shuts down at once when they are out), so the kernel may hold
 * their final segment and send it with the FIN, one packet fewer. */
int ka_output_flush(struct ka_conn *c, bool last);
/* Releases a pending file or memory tail. */
void ka_output_drop_tail(struct ka_exchange *ex);

/* A stream (a response with KA_BODY_STREAM, once ka_conn_respond has sent its head):
 * the body goes out in pieces, framed here alone (chunked for HTTP/1.1, delimited by
 * the close for HTTP/1.0). stream_room: the most one write may carry now (0: wait for
 * on_drain); stream_write: one piece, n <= stream_room; stream_end: the body is
 * complete (room for it is always kept). */
size_t ka_output_stream_room(const struct ka_conn *c);
void ka_output_stream_write(struct ka_conn *c, const void *p, size_t n);
void ka_output_stream_end(struct ka_conn *c);

#endif
