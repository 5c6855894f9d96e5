/*
 * The reverse proxy's exchange (proxy.c), shared with the files that build its fields
 * (proxy_fields.c) and keep its pools (proxy_pools.c): not for anything else.
 */
#ifndef KA_PROXY_EXCHANGE_H
#define KA_PROXY_EXCHANGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/http_response.h"
#include "server/conn.h"
#include "server/proxy.h"
#include "server/upstream.h"

/* Each direction of an exchange buffers at most this much. */
#define PX_BUF (64 * 1024)
/* A backend that refused a connection or did not answer one is skipped this long. */
#define DOWN_MS 10000
/* A request body piece sent chunked: "<hex size>\r\n" + "\r\n", and the last chunk. */
#define CHUNK_FRAME 20
#define LAST_CHUNK "0\r\n\r\n"

/* Distinct backends (HOST:PORT) named since start, over every reload. */
#define PX_MAX_BACKENDS 1024

/* One --proxy prefix of one configuration generation. */
struct px_route {
	const struct ka_proxy_conf *conf;
	unsigned reg[KA_MAX_BACKENDS];  /* each backend's index in the registry */
	unsigned index;                 /* its round-robin slot */
};

/* The routes of one configuration (start, or a reload that changed --proxy); kept
 * until exit, since a request may still hold one. */
struct px_gen {
	struct px_gen *next;
	struct px_route routes[KA_MAX_PROXIES];
	unsigned n;
};

/* A worker's pools: one per backend of the registry, made at its first request. */
/* Exchanges a worker keeps for its next requests: their 128 KiB of buffers are not
 * given back and taken again for every request (an allocator's churn is what grows). */
#define PX_SPARE 8

struct px_worker {
	struct ka_upstream *_Atomic ups[PX_MAX_BACKENDS];
	unsigned rr[KA_MAX_PROXIES];
	struct px *spare[PX_SPARE];
	unsigned n_spare;
};

/* Server-wide: the registry of backends, and the workers' pools. A pool belongs to a
 * backend's HOST:PORT, so it survives reloads that keep the backend. The registry only
 * grows, in the main thread, and is published entry by entry (n_reg). */
struct ka_proxies {
	const struct ka_backend *reg[PX_MAX_BACKENDS];
	atomic_uint n_reg;
	unsigned n_workers;
	struct px_worker *workers;
	struct px_gen *gens;
};

enum px_phase { PX_SEND, PX_BODY, PX_TUNNEL };

struct px {
	struct ka_conn *c;
	const struct px_route *route;
	struct px_worker *pw;
	struct ka_upstream *up;
	struct ka_upconn *u;
	enum px_phase phase;
	unsigned tried;          /* bit per backend of the route: connect tried */
	unsigned start;          /* round-robin: the backend this request began with */
	int retries;
	bool retryable;          /* may be sent twice: idempotent, or Idempotency-Key */
	bool reused;             /* u came from the pool */
	bool replayable;         /* out holds the request from its first byte */
	bool req_done;           /* the whole request is in out */
	bool req_chunked;        /* its body goes to the backend chunked */
	bool upgrade;            /* it asks for a protocol upgrade (WebSocket) */
	bool got_byte;           /* a byte of the response has come */
	bool backend_keep;       /* the backend keeps the connection after this response */
	bool backend_fin;        /* EPOLLRDHUP: a read will return 0 once drained */
	bool connect_timed_out;  /* some backend did not answer the connect */
	bool continued;          /* the backend's 100 Continue went to the client */
	bool deferred;           /* a send failed inside the client's code: handle it later */
	int deferred_errno;
	int64_t start_us, head_us, last_io;
	enum ka_http_body_framing framing;
	uint64_t body_left;
	struct ka_chunked chunked;
	size_t scanned;          /* head bytes the parser has seen */
	size_t out_len, out_sent, in_pos, in_len;
	struct ka_http_response resp;
	/* PX_BUF each, allocated apart: three blocks under 128 KiB come from the
	 * allocators' reusable size classes, where one of 130 KiB would be an mmap each. */
	char *out;
	char *in;
};

struct px_state {
	struct px *px;
};
_Static_assert(sizeof(struct px_state) <= KA_HANDLER_STATE_MAX, "proxy state too big");

/* ---- proxy.c: the exchange, the request side, the backend's events ------------------ */

/* The exchange of the request on c (NULL once it has let go). */
struct px *ka_px_of(struct ka_conn *c);
/* The exchange lets go of the client connection: no callback of it runs again. */
void ka_px_detach(struct px *px);
/* Closes the backend connection, if any (why: for the trace). */
void ka_px_drop_upstream(struct px *px, const char *why);
/* Failed before its response head reached the client: 502 or 504 naming the cause. */
void ka_px_fail(struct px *px, enum ka_up_failure why, const char *detail);
/* Broke after its head was forwarded: the client connection is cut. */
void ka_px_cut(struct px *px, const char *why);
/* The backend connection failed (err, or 0 for its close) before a response head: a
 * retry when that is safe, else 502. */
void ka_px_failed_before_head(struct px *px, int err);
/* Carries the exchange on after an event: sends, reads. */
void ka_px_progress(struct px *px);
/* Appends n bytes for the backend to out (the caller checked the room). */
void ka_px_out_append(struct px *px, const char *p, size_t n);

/* ---- proxy_response.c ----------------------------------------------------------------- */

/* Reads from the backend and moves the response on, until it has nothing more for now
 * (0), or the exchange has moved on (-1: px may be gone). */
int ka_px_read(struct px *px);
/* Ends a tunnel from the proxy's side: both connections close. */
void ka_px_tunnel_end(struct px *px, const char *why);

/* ---- proxy_fields.c ------------------------------------------------------------------- */

/* The request head, rewritten for the backend (hop-by-hop fields dropped; Via,
 * X-Forwarded-* added), into px->out; false when it does not fit. */
bool ka_px_build_request(struct px *px);
/* The response's fields for the client, into px->out (the request is sent or
 * abandoned); false when they do not fit room bytes. */
bool ka_px_build_response_fields(struct px *px, size_t room);
/* The request may be sent twice: idempotent (RFC 9110 9.2.2) or with Idempotency-Key. */
bool ka_px_retryable(const struct ka_http_request *req);
/* It asks for a protocol upgrade (Connection: upgrade, Upgrade: ...). */
bool ka_px_wants_upgrade(const struct ka_http_request *req);
/* The access log's upstream fields of the exchange. */
void ka_px_log_fields(struct px *px);

/* ---- proxy_pools.c -------------------------------------------------------------------- */

/* Frees an exchange and its buffers. */
void ka_px_free(struct px *px);
/* The calling worker's pools. */
struct px_worker *ka_px_worker(struct ka_conn *c);
/* The worker's pool of backend i of route r (made on first use); NULL without memory. */
struct ka_upstream *ka_px_upstream(struct ka_conn *c, const struct px_route *r, unsigned i);
/* Backend b's index in the registry (the main thread's: at start and at reloads),
 * added when new; -1 when the registry is full or memory ran out. */
int ka_px_register(struct ka_server *srv, const struct ka_backend *b);

#endif
