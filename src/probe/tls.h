/*
 * kaprobe's TLS, the one place that calls OpenSSL. A context holds what every
 * connection of a run shares (whom to trust, ALPN); a connection wraps a non-blocking
 * socket the client layer (client.c) already connected, and turns it into a plaintext
 * byte stream: handshake, read and write return "done" or say which readiness they
 * are waiting for, and never block. Sessions are handed out as opaque references so
 * that a later connection can offer one (resumption) without the caller seeing
 * OpenSSL's types.
 */
#ifndef KP_TLS_H
#define KP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kp_tls_ctx;      /* trust settings and ALPN, for every connection of a run */
struct kp_tls;          /* one connection */
struct kp_tls_session;  /* a session a later connection may offer */

/* Verification against the system store by default; against the PEM certificates in
 * cacert instead when it is not NULL; none when insecure. NULL when cacert cannot be
 * loaded (err says why). ALPN offers http/1.1 only. */
struct kp_tls_ctx *kp_tls_ctx_new(bool insecure, const char *cacert, char *err, size_t err_len);
void kp_tls_ctx_free(struct kp_tls_ctx *ctx);

/* A client over the socket fd (connected, or still connecting: nothing is sent before
 * kp_tls_handshake). name is the URL's host: sent as SNI and checked against the
 * certificate's names, or, when is_ip, checked against its IP addresses and not sent
 * (RFC 6066 3: no literal addresses in SNI). NULL when out of memory. */
struct kp_tls *kp_tls_new(struct kp_tls_ctx *ctx, int fd, const char *name, bool is_ip);
void kp_tls_free(struct kp_tls *t);
/* Offers s for resumption in the coming handshake; the connection takes its own
 * reference, the caller keeps its. */
void kp_tls_offer(struct kp_tls *t, struct kp_tls_session *s);

/* What a handshake, read or write step came to. */
enum kp_tls_io {
	KP_TLS_DONE,        /* handshake complete, or bytes moved (*n) */
	KP_TLS_WANT_READ,   /* wait until the socket is readable, then call again */
	KP_TLS_WANT_WRITE,  /* wait until the socket is writable, then call again */
	KP_TLS_EOF,         /* the server closed: close_notify, or a plain EOF */
	KP_TLS_RESET,       /* ECONNRESET or EPIPE from the socket */
	KP_TLS_FAIL,        /* a protocol or verification error: kp_tls_error says why */
};

enum kp_tls_io kp_tls_handshake(struct kp_tls *t);
enum kp_tls_io kp_tls_read(struct kp_tls *t, char *buf, size_t len, size_t *n);
/* Writes the start of buf. A write that waited must be repeated with the same bytes
 * at the start of buf (more may follow; buf may have moved). */
enum kp_tls_io kp_tls_write(struct kp_tls *t, const char *buf, size_t len, size_t *n);
/* Decrypted bytes already read from the socket and not yet returned by kp_tls_read:
 * epoll cannot report them. */
bool kp_tls_has_pending(const struct kp_tls *t);
/* Sends close_notify, once, without waiting for the server's. */
void kp_tls_close_notify(struct kp_tls *t);

/* Why the last step failed ("certificate verify failed: self-signed certificate"). */
const char *kp_tls_error(const struct kp_tls *t);
/* True when the server ended the connection with close_notify, not a bare EOF. */
bool kp_tls_saw_close_notify(const struct kp_tls *t);

/* The negotiated parameters, once the handshake is done. */
struct kp_tls_info {
	char version[16];  /* "TLSv1.3" */
	char cipher[64];   /* "TLS_AES_256_GCM_SHA384" */
	char alpn[32];     /* "" when none was negotiated */
	bool resumed;      /* the offered session was accepted */
};
void kp_tls_describe(const struct kp_tls *t, struct kp_tls_info *info);

/* The connection's current session (for TLS 1.3 the last ticket received, which is
 * only there after a response was read), as a new reference; NULL when it cannot be
 * resumed. */
struct kp_tls_session *kp_tls_session_get(const struct kp_tls *t);
void kp_tls_session_free(struct kp_tls_session *s);
/* A ticket (RFC 8446 4.6.1, RFC 5077) rather than a server-side session id. */
bool kp_tls_session_has_ticket(const struct kp_tls_session *s);
/* The ticket's lifetime hint in seconds (0: unspecified). */
uint64_t kp_tls_session_ticket_lifetime(const struct kp_tls_session *s);

#endif
