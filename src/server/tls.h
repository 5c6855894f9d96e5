/*
 * TLS for kahttpd's HTTPS listeners, behind one small interface: the rest of the
 * server never calls OpenSSL. A connection on an HTTPS listener gets a ka_tls_conn
 * (an SSL object on its socket); the connection code asks it to shake hands, then reads
 * and writes plaintext through it exactly as it would through the socket. Certificates
 * are loaded at start (exit 2 on any problem), chosen by SNI; ALPN selects http/1.1;
 * sessions resume from stateless tickets whose keys are shared by every worker and
 * rotated every --tls-session-timeout. kTLS would sit in ka_tls_write_file.
 */
#ifndef KA_TLS_H
#define KA_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "server/config.h"
#include "server/stats.h"

struct ka_tls;      /* the server's contexts and ticket keys */
typedef struct ssl_st ka_tls_conn;

/* Loads every certificate and key of cfg and makes the contexts. NULL when HTTPS is
 * off; on a problem, a message naming the file or option goes to err and *failed is
 * set (the caller exits with code 2). */
struct ka_tls *ka_tls_new(const struct ka_config *cfg, FILE *err, bool *failed);
void ka_tls_free(struct ka_tls *t);

/* A TLS connection on socket fd; NULL when out of memory. */
ka_tls_conn *ka_tls_accept(struct ka_tls *t, int fd);
void ka_tls_conn_free(ka_tls_conn *s);

/* Results of the calls below, besides a byte count. */
enum {
	KA_TLS_WANT_READ = -1,   /* wait until the socket is readable, then call again */
	KA_TLS_ERROR = -2,       /* the connection failed; errno says how when it can */
	KA_TLS_WANT_WRITE = -3,  /* wait until the socket is writable, then call again */
};

/* Carries the handshake on: 1 when complete, KA_TLS_WANT_READ or _WRITE, KA_TLS_ERROR (*why: the
 * failure's kind, for the figures; KA_TLS_FAIL_HTTP is plain HTTP, to be answered). */
int ka_tls_handshake(ka_tls_conn *s, enum ka_tls_fail *why);

/* Plaintext in: bytes read, 0 when the client closed (close_notify or a bare FIN), or
 * KA_TLS_WANT_READ or _WRITE, KA_TLS_ERROR. */
ssize_t ka_tls_read(ka_tls_conn *s, void *buf, size_t len);
/* Plaintext out: bytes taken (possibly fewer than len), KA_TLS_WANT_READ or _WRITE, KA_TLS_ERROR. */
ssize_t ka_tls_write(ka_tls_conn *s, const void *buf, size_t len);
/* Sends close_notify, once, if the handshake completed: the client then knows the
 * end was the server's choice, not a cut. */
void ka_tls_close_notify(ka_tls_conn *s);

/* After a complete handshake: "1.2" or "1.3", and whether the session was resumed. */
const char *ka_tls_version(const ka_tls_conn *s);
bool ka_tls_resumed(const ka_tls_conn *s);

#endif
