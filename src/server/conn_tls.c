/*
 * The connection's HTTPS side: the TLS handshake before the first request, and reads
 * of plaintext through TLS. Writes are output.c's; OpenSSL itself is tls.c's.
 */
#include "server/conn.h"

#include <string.h>

#include "server/trace.h"

/* HTTPS: the TLS handshake, before the first request, under --tls-handshake-timeout.
 * Plain HTTP on the port is answered, in plain text, with a 400 that says so. */
int ka_conn_handshake(struct ka_conn *c)
{
	struct ka_worker *w = c->w;
	enum ka_tls_fail why = KA_TLS_FAIL_PROTOCOL;
	int r = ka_tls_handshake(c->tls, &why);

	if (r == KA_TLS_WANT_READ || r == KA_TLS_WANT_WRITE) {
		if (r == KA_TLS_WANT_READ)
			c->readable = false;
		else
			c->writable = false;
		return 0;
	}
	ka_fifo_remove(&c->timer);
	if (r < 0) {
		ka_stat_add(&w->stats.tls_failed[why], 1);
		ka_trace(c, "tls_handshake", "ok=0 failure=%s ms=%lld", ka_tls_fail_name(why),
		         (long long)(w->loop.now - c->born));
		if (why != KA_TLS_FAIL_HTTP || !ka_conn_activate(c)) {
			ka_conn_close(c, KA_CLOSE_TLS_HANDSHAKE);
			return -1;
		}
		ka_tls_conn_free(c->tls);
		c->tls = NULL;
		c->handshaking = false;
		ka_conn_respond_error(c, 400, "this port speaks HTTPS: use https://",
		                      KA_CLOSE_TLS_HANDSHAKE);
		return 1;
	}
	c->handshaking = false;
	ka_stat_add(ka_tls_resumed(c->tls) ? &w->stats.tls_resumed : &w->stats.tls_full, 1);
	ka_stat_add(&w->stats.tls_version[strcmp(ka_tls_version(c->tls), "1.3") == 0], 1);
	ka_trace(c, "tls_handshake", "ok=1 version=%s resumed=%d ms=%lld", ka_tls_version(c->tls),
	         ka_tls_resumed(c->tls), (long long)(w->loop.now - c->born));
	ka_fifo_push(&w->header_q, &c->timer, w->loop.now);
	c->readable = true;  /* the request may have come with the handshake's last bytes */
	return 1;
}

/* conn_recv through TLS. A short read proves nothing here (OpenSSL may hold more
 * plaintext, or more records wait in the socket): only a want-read ends the edge. */
ssize_t ka_conn_recv_tls(struct ka_conn *c, char *p, size_t len)
{
	ssize_t n = ka_tls_read(c->tls, p, len);

	if (n > 0)
		return n;
	if (n == 0) {
		c->peer_closed = true;
		c->readable = false;
		return 0;
	}
	if (n == KA_TLS_WANT_READ || n == KA_TLS_WANT_WRITE) {
		if (n == KA_TLS_WANT_READ)
			c->readable = false;
		else
			c->writable = false;
		return KA_RECV_AGAIN;
	}
	return KA_RECV_ERROR;
}

