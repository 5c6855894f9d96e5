/*
 * TLS through OpenSSL 3 (tls.h). One SSL_CTX per certificate pair, the first being the
 * default and the others picked by SNI. Every context is set up the same way: the
 * protocol versions asked, ALPN http/1.1 only, no server-side session cache but
 * stateless tickets (one per full handshake), whose keys live here, shared by all
 * workers. OpenSSL's read and write buffers are released while empty
 * (SSL_MODE_RELEASE_BUFFERS), so an idle keep-alive connection holds none.
 */
#include "server/tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* A session ticket key: its name (sent in the ticket), and the keys that encrypt and
 * authenticate tickets with it. */
struct ticket_key {
	unsigned char name[16];
	unsigned char aes[16];
	unsigned char hmac[32];
	int64_t born;  /* CLOCK_MONOTONIC seconds */
};

struct ka_tls {
	SSL_CTX *ctx[KA_MAX_CERTS];
	unsigned n_ctx;
	int64_t session_s;        /* --tls-session-timeout, whole seconds (at least 1) */
	pthread_mutex_t lock;     /* the keys: any worker's handshake may rotate them */
	struct ticket_key cur, prev;
	bool have_prev;
};

static int64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int key_make(struct ticket_key *k)
{
	k->born = now_s();
	return RAND_bytes(k->name, sizeof(k->name)) == 1 && RAND_bytes(k->aes, sizeof(k->aes)) == 1 &&
	               RAND_bytes(k->hmac, sizeof(k->hmac)) == 1
	           ? 0
	           : -1;
}

/* A key encrypts new tickets for one --tls-session-timeout, then only decrypts for one
 * more; the session's own timeout (SSL_CTX_set_timeout) refuses any ticket older than
 * that, so none outlives --tls-session-timeout, and every one lives that long. */
static void keys_rotate(struct ka_tls *t)
{
	if (now_s() - t->cur.born < t->session_s)
		return;
	t->prev = t->cur;
	t->have_prev = true;
	if (key_make(&t->cur) < 0)
		t->cur = t->prev;  /* no randomness now: keep the key a little longer */
}

static int ticket_key_cb(SSL *s, unsigned char name[16], unsigned char *iv,
                         EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct ka_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
	const struct ticket_key *k = NULL;
	unsigned char hmac[32];
	unsigned char aes[16];
	int ret = 1;

	pthread_mutex_lock(&t->lock);
	keys_rotate(t);
	if (enc) {
		k = &t->cur;
		memcpy(name, k->name, 16);
	} else if (memcmp(name, t->cur.name, 16) == 0) {
		k = &t->cur;
	} else if (t->have_prev && memcmp(name, t->prev.name, 16) == 0) {
		k = &t->prev;
		ret = 2;  /* valid, but issue a ticket under the current key */
	}
	if (k) {
		memcpy(hmac, k->hmac, sizeof(hmac));
		memcpy(aes, k->aes, sizeof(aes));
	}
	pthread_mutex_unlock(&t->lock);
	if (!k)
		return 0;  /* unknown or expired key: a full handshake */
	{
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, hmac, sizeof(hmac)),
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
			OSSL_PARAM_construct_end(),
		};

		if (EVP_MAC_CTX_set_params(hctx, params) != 1)
			return -1;
	}
	if (enc) {
		if (RAND_bytes(iv, 16) != 1 ||
		    EVP_EncryptInit_ex(cctx, EVP_aes_128_cbc(), NULL, aes, iv) != 1)
			return -1;
		return 1;
	}
	return EVP_DecryptInit_ex(cctx, EVP_aes_128_cbc(), NULL, aes, iv) == 1 ? ret : -1;
}

/* RFC 7301: http/1.1 is all we speak. A client that offers ALPN without it gets the
 * no_application_protocol alert; one that offers no ALPN is not asked. */
static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)s;
	(void)arg;
	for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
		if (in[i] == 8 && i + 9 <= inlen && memcmp(in + i + 1, "http/1.1", 8) == 0) {
			*out = in + i + 1;
			*outlen = 8;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* SNI: the first certificate whose names cover the one asked for; else the default. */
static int sni_cb(SSL *s, int *alert, void *arg)
{
	struct ka_tls *t = arg;
	const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	if (!name)
		return SSL_TLSEXT_ERR_OK;
	for (unsigned i = 0; i < t->n_ctx; i++) {
		X509 *x = SSL_CTX_get0_certificate(t->ctx[i]);

		if (x && X509_check_host(x, name, 0, 0, NULL) == 1) {
			if (i > 0)
				SSL_set_SSL_CTX(s, t->ctx[i]);
			break;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

/* The reason of OpenSSL's last error, for a message. */
static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown error";
}

/* Whether path can be opened for reading; a message naming option and file if not. */
static bool readable(const char *option, const char *path, FILE *err)
{
	FILE *f = fopen(path, "r");

	if (f) {
		fclose(f);
		return true;
	}
	fprintf(err, "kahttpd: --%s %s: %s\n", option, path, strerror(errno));
	return false;
}

/* Loads the private key, and says apart a file that holds none from a key that is not
 * the certificate's. */
static bool use_key(SSL_CTX *ctx, const char *key, const char *cert, FILE *err)
{
	FILE *f = fopen(key, "r");
	EVP_PKEY *pkey = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	bool ok = false;

	if (f)
		fclose(f);
	if (!pkey)
		fprintf(err, "kahttpd: --tls-key %s: not a PEM private key (%s)\n", key, ssl_reason());
	else if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1)
		fprintf(err, "kahttpd: --tls-key %s: does not match --tls-cert %s\n", key, cert);
	else
		ok = true;
	EVP_PKEY_free(pkey);
	return ok;
}

static SSL_CTX *ctx_new(struct ka_tls *t, const struct ka_config *cfg, unsigned i, FILE *err)
{
	const char *cert = cfg->tls_cert[i], *key = cfg->tls_key[i];
	SSL_CTX *ctx;

	if (!readable("tls-cert", cert, err) || !readable("tls-key", key, err))
		return NULL;
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		fprintf(err, "kahttpd: --tls-cert %s: %s\n", cert, ssl_reason());
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		fprintf(err, "kahttpd: --tls-cert %s: not a PEM certificate (%s)\n", cert, ssl_reason());
		goto fail;
	}
	if (!use_key(ctx, key, cert, err))
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, cfg->tls_protocols.min);
	SSL_CTX_set_max_proto_version(ctx, cfg->tls_protocols.max);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
	                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* A bare FIN reads as the end of input, as it does without TLS; renegotiation
	 * (TLS 1.2) is refused: it only costs the server. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Read what the socket has, not a record's header and then its body: one read per
	 * request instead of two (the buffer is still released once empty). */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_timeout(ctx, (long)t->session_s);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, t);
	SSL_CTX_set_app_data(ctx, t);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct ka_tls *ka_tls_new(const struct ka_config *cfg, FILE *err, bool *failed)
{
	struct ka_tls *t;

	*failed = false;
	if (cfg->n_tls_cert == 0)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t || key_make(&t->cur) < 0) {
		fprintf(err, "kahttpd: TLS: out of memory or randomness\n");
		free(t);
		*failed = true;
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->session_s = cfg->tls_session_timeout / 1000 > 0 ? cfg->tls_session_timeout / 1000 : 1;
	for (unsigned i = 0; i < cfg->n_tls_cert; i++) {
		if (!(t->ctx[i] = ctx_new(t, cfg, i, err))) {
			ka_tls_free(t);
			*failed = true;
			return NULL;
		}
		t->n_ctx++;
	}
	ERR_clear_error();
	return t;
}

void ka_tls_free(struct ka_tls *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->n_ctx; i++)
		SSL_CTX_free(t->ctx[i]);
	pthread_mutex_destroy(&t->lock);
	OPENSSL_cleanse(&t->cur, sizeof(t->cur));
	OPENSSL_cleanse(&t->prev, sizeof(t->prev));
	free(t);
}

ka_tls_conn *ka_tls_accept(struct ka_tls *t, int fd)
{
	SSL *s = SSL_new(t->ctx[0]);

	if (s && SSL_set_fd(s, fd) != 1) {
		SSL_free(s);
		return NULL;
	}
	if (s)
		SSL_set_accept_state(s);
	return s;
}

void ka_tls_conn_free(ka_tls_conn *s)
{
	SSL_free(s);
}

/* The kind of a failed handshake, from OpenSSL's error queue, which is then cleared
 * (it is per thread: a stale entry would be blamed on the next connection). */
static enum ka_tls_fail failure_kind(SSL *s, int ret)
{
	int e = SSL_get_error(s, ret);
	int reason = ERR_GET_REASON(ERR_peek_error());
	enum ka_tls_fail why = KA_TLS_FAIL_PROTOCOL;

	if (e == SSL_ERROR_SYSCALL)
		why = errno ? KA_TLS_FAIL_ERROR : KA_TLS_FAIL_EOF;
	else if (e == SSL_ERROR_ZERO_RETURN || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		why = KA_TLS_FAIL_EOF;
	else if (reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST)
		why = KA_TLS_FAIL_HTTP;
	else if (reason == SSL_R_NO_APPLICATION_PROTOCOL)
		why = KA_TLS_FAIL_ALPN;
	else if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_WRONG_VERSION_NUMBER ||
	         reason == SSL_R_VERSION_TOO_LOW || reason == SSL_R_VERSION_TOO_HIGH)
		why = KA_TLS_FAIL_VERSION;
	ERR_clear_error();
	return why;
}

int ka_tls_handshake(ka_tls_conn *s, enum ka_tls_fail *why)
{
	int ret = SSL_do_handshake(s);

	if (ret == 1)
		return 1;
	switch (SSL_get_error(s, ret)) {
	case SSL_ERROR_WANT_READ:
		return KA_TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return KA_TLS_WANT_WRITE;
	default:
		*why = failure_kind(s, ret);
		return KA_TLS_ERROR;
	}
}

/* A failed read or write: KA_TLS_WANT_READ or _WRITE, 0 for the client's end, or KA_TLS_ERROR. */
static ssize_t io_result(SSL *s, int ret)
{
	int e = SSL_get_error(s, ret);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return KA_TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return KA_TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (!errno)
			errno = ECONNRESET;
		ERR_clear_error();
		return KA_TLS_ERROR;
	default:
		errno = EPROTO;
		ERR_clear_error();
		return KA_TLS_ERROR;
	}
}

ssize_t ka_tls_read(ka_tls_conn *s, void *buf, size_t len)
{
	size_t n = 0;
	int ret;

	errno = 0;
	ret = SSL_read_ex(s, buf, len, &n);
	return ret == 1 ? (ssize_t)n : io_result(s, ret);
}

ssize_t ka_tls_write(ka_tls_conn *s, const void *buf, size_t len)
{
	size_t n = 0;
	int ret;

	errno = 0;
	ret = SSL_write_ex(s, buf, len, &n);
	return ret == 1 ? (ssize_t)n : io_result(s, ret);
}

void ka_tls_close_notify(ka_tls_conn *s)
{
	if (SSL_is_init_finished(s) && !(SSL_get_shutdown(s) & SSL_SENT_SHUTDOWN))
		SSL_shutdown(s);
	ERR_clear_error();
}

const char *ka_tls_version(const ka_tls_conn *s)
{
	return SSL_version(s) == TLS1_3_VERSION ? "1.3" : "1.2";
}

bool ka_tls_resumed(const ka_tls_conn *s)
{
	return SSL_session_reused((SSL *)s) == 1;
}
