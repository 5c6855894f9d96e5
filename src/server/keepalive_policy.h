/*
 * The keep-alive policy: every rule that decides whether a connection persists, how
 * long it may idle, what its Keep-Alive header promises and whether it lingers when it
 * closes, as pure functions of the configuration and a few facts. No I/O, no clock,
 * no connection: the connection code (conn.c, conn_keepalive.c) gathers the facts,
 * asks, and applies the answer. To change a keep-alive rule, change it here; the table
 * in tests/unit/test_keepalive_policy.c holds one row per rule.
 */
#ifndef KA_KEEPALIVE_POLICY_H
#define KA_KEEPALIVE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "server/config.h"
#include "server/stats.h"

/* How long a closing connection lingers at most (RFC 9112 9.6), reading and dropping
 * what the client still sends. */
#define KA_POLICY_LINGER_MS 2000

/* An unread request body is read and thrown away when at most this much of it is still
 * to come; a larger one costs more than a new connection, so the connection closes. */
#define KA_POLICY_DISCARD_MAX (64 * 1024)

/* What the connection has been through. */
struct ka_policy_conn {
	uint32_t requests;   /* requests begun on it, the current one included */
	int64_t age_ms;      /* since accept */
	bool half_closed;    /* the client's FIN has been read: it sends nothing more */
	bool last_call;      /* the request arrived as the idle deadline fired (race guard) */
	bool draining;       /* the server is shutting down */
	bool input_follows;  /* bytes of a next request are already buffered */
	bool send_queued;    /* the response did not leave in one write (a file or memory
	                      * tail, or a full socket): some may still wait to be sent */
};

/* What the current request said, and what is known of its response. */
struct ka_policy_request {
	int minor_version;     /* 0 or 1 */
	bool conn_close;       /* Connection: close */
	bool conn_keep_alive;  /* Connection: keep-alive */
	bool length_unknown;   /* the response body is a stream of unknown length */
	bool is_head;          /* HEAD: no body, whatever its length */
	bool body_unread;      /* part of the request body has not been read yet */
	bool body_chunked;     /* ... and it is chunked, so how much is unknown */
	uint64_t body_left;    /* ... and this many bytes of it are still to come */
};

/* The whole answer for one response. */
struct ka_decision {
	bool keep;                 /* the connection persists after this response */
	bool client_asked;         /* the request itself ended the connection (RFC 9112 9.3) */
	bool linger;               /* !keep: linger after the last response */
	uint8_t reason;            /* !keep: enum ka_close_reason */
	int64_t advertise_s;       /* keep: Keep-Alive: timeout= */
	uint64_t advertise_max;    /* keep: Keep-Alive: max=, UINT64_MAX for none */
	int64_t idle_timeout_ms;   /* keep: the idle timeout if it went idle now */
};

/* RFC 9112 9.3: the request asks to close: "close" in any version, or HTTP/1.0 without
 * "keep-alive". */
bool ka_policy_client_closes(const struct ka_policy_request *req);

/* The idle timeout for a connection of this age going idle now, with conns open:
 * --keepalive-timeout, shrinking linearly to --keepalive-min-timeout as conns goes
 * from --idle-watermark to --max-connections of the limit, and never beyond what is
 * left of --keepalive-time. */
int64_t ka_policy_idle_timeout(const struct ka_config *cfg, uint64_t conns, int64_t age_ms);

/* The timeout a connection that has just gone idle gets: the one above, but never
 * less than what its last Keep-Alive header promised (advertised_ms), even if the
 * server filled up or the response took long to send since. */
int64_t ka_policy_idle_deadline(const struct ka_config *cfg, uint64_t conns, int64_t age_ms,
                                int64_t advertised_ms);

/* Whether a response persists the connection, and everything that follows from it. */
struct ka_decision ka_policy_decide(const struct ka_config *cfg, const struct ka_policy_conn *conn,
                                    const struct ka_policy_request *req, uint64_t conns);

/* The decision for an error response that ends the connection (a parse error, 408,
 * 413): the server closes, for reason, and lingers. */
struct ka_decision ka_policy_error(enum ka_close_reason reason);

/* Whether a connection closing after its last response lingers (RFC 9112 9.6). Not
 * when the client has half-closed: it sends nothing more. Nor when it asked to close,
 * nothing of it is left unread and the response left in one write: a client that
 * said "close" sends no further request, and closing at once sends our FIN in the
 * response's last segment. Otherwise it lingers: the server chose to close while the
 * client may still be sending, or input is unread, or a large response may still sit
 * in our send queue; a close that then meets the client's bytes unread would answer
 * with a reset, and a reset destroys what the client has not yet read. */
bool ka_policy_linger(bool client_asked, bool half_closed, bool unread_input, bool send_queued);

/* Writes the persistence header lines for d at p ("Connection: keep-alive" and
 * "Keep-Alive: timeout=T, max=M", or "Connection: close"), each ending in CRLF;
 * returns the end. At most KA_POLICY_HEADER_MAX bytes. */
#define KA_POLICY_HEADER_MAX 96
char *ka_policy_write_header(char *p, const struct ka_decision *d);

#endif
