/*
 * kaprobe's HTTP/1 client on the core event loop: the target (a parsed http:// or
 * https:// URL), and client connections that connect without blocking, for https
 * complete a TLS handshake (tls.h) without blocking either, write requests (several at
 * once when pipelining), read responses with the core response parser and chunked
 * decoder, and report how the connection ended (FIN, RST, or closed by us) with the
 * loop's microsecond clock. Callbacks run from the loop; a connection that is closed
 * stays readable until the end of the loop iteration and is freed then (loop->after),
 * because an event later in the same batch may still point at it.
 */
#ifndef KP_CLIENT_H
#define KP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/http_response.h"
#include "core/loop.h"
#include "core/sockopt.h"
#include "probe/tls.h"

#define KP_VERSION "1.0"
#define KP_PATH_MAX 2048
#define KP_HOST_MAX 300

/* What the URL names: where to connect, and what to put in the request. */
struct kp_target {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char addr_text[KA_ADDR_TEXT_MAX];  /* "127.0.0.1:8080", for messages */
	char host[KP_HOST_MAX];            /* Host header: the URL's authority */
	char path[KP_PATH_MAX];            /* request-target, "/" by default */
	char url[KP_PATH_MAX + KP_HOST_MAX + 16];
	bool is_tls;                       /* https:// */
	char name[KP_HOST_MAX];            /* the host alone (no port, no brackets): what
	                                    * SNI names and the certificate must match */
	bool name_is_ip;                   /* an IP literal: no SNI, an IP address check */
	struct kp_tls_ctx *tls;            /* set by the caller for https://, else NULL */
};

/* (target.c) Parses "http[s]://HOST[:PORT][/PATH]" and resolves HOST. Returns 0; -2 when the URL
 * is malformed (bad usage), -1 when the host does not resolve; err says why. */
int kp_target_parse(const char *url, struct kp_target *t, char *err, size_t err_len);

/* How a connection ended. */
enum kp_end {
	KP_END_OPEN = 0,   /* not yet */
	KP_END_FIN,        /* the server closed: recv returned 0 */
	KP_END_RST,        /* the server reset it: ECONNRESET (or EPIPE on a write) */
	KP_END_CLIENT,     /* we closed it */
	KP_END_CONNECT,    /* connect() failed; err holds the errno */
	KP_END_PARSE,      /* the bytes were not an HTTP response; parse_error says why */
	KP_END_ERROR,      /* another socket error; err */
	KP_END_TLS,        /* the TLS handshake or a TLS record failed; tls_error says why */
};

/* One complete response, as the callback sees it. head's slices point into the
 * connection's buffer and are valid only during the callback. */
struct kp_response {
	struct ka_http_response head;
	struct ka_str status_line;     /* without its line end */
	enum ka_http_method method;    /* of the request it answers */
	enum ka_http_body_framing framing;
	bool keeps_open;               /* ka_http_response_keeps_open */
	uint64_t body_len;             /* body bytes (decoded, for chunked) */
	unsigned index;                /* 1 for the first response on the connection */
	int64_t t_sent_us;             /* when its request was written */
	int64_t t_done_us;             /* when its last byte was read */
};

struct kp_conn;

struct kp_conn_ops {
	void (*connected)(struct kp_conn *c);                          /* may be NULL */
	void (*response)(struct kp_conn *c, const struct kp_response *r);
	void (*closed)(struct kp_conn *c);  /* the server ended it, or an error; not
	                                     * called when we close it ourselves */
	void (*timer)(struct kp_conn *c);   /* the deadline of kp_conn_set_timer */
};

/* Shared by every connection of one loop: the loop, and the connections waiting to be
 * freed at the end of the iteration. */
struct kp_net {
	struct ka_loop loop;
	struct kp_conn *dead;
};

#define KP_INFLIGHT_MAX 8
#define KP_UNSOLICITED_KEEP 64

struct kp_conn {
	struct ka_io io;               /* first: the loop hands us this pointer */
	struct kp_net *net;
	const struct kp_conn_ops *ops;
	void *owner;
	struct ka_timer timer;
	bool connected;
	bool closed;
	bool want_out;                 /* registered for EPOLLOUT */
	int write_err;                 /* a send() failed with this errno */
	enum kp_end end;
	int err;
	const char *parse_error;
	const char *tls_error;
	struct kp_tls *tls;            /* https only */
	bool tls_ready;                /* the handshake is done: plaintext flows */
	bool hs_waits_out;             /* the handshake waits for the socket to be writable */
	bool in_waits_out;             /* a TLS read waits for writability (a record to send) */
	bool out_waits_in;             /* a TLS write waits for readability */
	int64_t t_tls_done_us;         /* the handshake completed */
	uint16_t local_port;           /* our ephemeral port, once connected */
	int64_t t_connect_us, t_connected_us, t_end_us;
	unsigned responses;            /* complete responses so far */

	/* Requests written and not yet answered, oldest first. */
	enum ka_http_method inflight[KP_INFLIGHT_MAX];
	int64_t inflight_sent_us[KP_INFLIGHT_MAX];
	unsigned inflight_first, inflight_len;

	/* Output not yet accepted by the kernel. */
	char *out;
	size_t out_len, out_cap;

	/* Input: the head being read (and, briefly, body bytes after it). */
	char *in;
	size_t in_len, in_cap;
	size_t scanned;                /* prev_len for the parser */
	bool in_body;
	size_t head_len;
	enum ka_http_body_framing framing;
	uint64_t body_left;            /* KA_HTTP_BODY_LENGTH */
	uint64_t body_len;
	struct ka_chunked chunked;
	struct ka_http_response scratch;  /* parses the head while the body is read */

	/* Bytes the server sent when no request was waiting (a 408 before an idle close). */
	size_t unsolicited;
	char unsolicited_start[KP_UNSOLICITED_KEEP];

	struct kp_conn *next_dead;
};

/* Initialises the loop and frees closed connections at the end of each iteration. */
int kp_net_init(struct kp_net *net);
void kp_net_close(struct kp_net *net);

/* Starts a non-blocking connect; the connection reports through ops. NULL when out of
 * memory or without descriptors (errno set). */
struct kp_conn *kp_conn_open(struct kp_net *net, const struct kp_target *t,
                             const struct kp_conn_ops *ops, void *owner);

/* Queues request bytes answering to `method` (what frames the response); several
 * requests can be queued before they are written, to go out in one write. */
int kp_conn_queue(struct kp_conn *c, const char *data, size_t len, enum ka_http_method method);
/* Appends bytes to the last queued request (its body). */
int kp_conn_append(struct kp_conn *c, const char *data, size_t len);
/* Writes what is queued (at once when connected, else once the connect completes). */
void kp_conn_flush(struct kp_conn *c);

/* Builds "METHOD target HTTP/1.x" with Host, User-Agent and the extra header lines
 * ("Connection: close\r\n" or ""). Returns the length, or 0 if it does not fit. */
size_t kp_request_format(char *buf, size_t cap, const struct kp_target *t, const char *method,
                         int minor_version, const char *extra);

/* Arms (or re-arms) the connection's single timer for an absolute loop time in ms. */
void kp_conn_set_timer(struct kp_conn *c, int64_t deadline_ms);
void kp_conn_clear_timer(struct kp_conn *c);

/* https: offers a session of an earlier connection for resumption; call it right
 * after kp_conn_open. The connection keeps its own reference. */
void kp_conn_offer_session(struct kp_conn *c, struct kp_tls_session *s);

/* https: the handshake's time in ms (TCP connected to handshake done), its parameters
 * and the connection's session; false for http or before the handshake is done. */
bool kp_conn_tls_info(const struct kp_conn *c, struct kp_tls_info *info, double *handshake_ms);

/* Closes from our side (end = KP_END_CLIENT unless already ended); no callback. For
 * https a close_notify goes first (RFC 8446 6.1). */
void kp_conn_close(struct kp_conn *c);

/* Half-closes our side (close_notify for https, then shutdown SHUT_WR): the server
 * sees the end and, normally, closes too, which the closed callback reports. Used so
 * that the side that closes first, and so holds TIME_WAIT, is decided by the protocol
 * and not by a race. */
void kp_conn_shutdown(struct kp_conn *c);

/* "FIN", "RST", ... for messages. */
const char *kp_end_name(enum kp_end end);

/* Printable, quoted rendition of raw bytes for evidence ("\"hello\\n\""); returns out. */
char *kp_escape(const char *p, size_t n, char *out, size_t out_len);

#endif
