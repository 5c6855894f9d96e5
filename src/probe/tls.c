/*
 * kaprobe's TLS over OpenSSL (see tls.h). The socket stays the client layer's: OpenSSL
 * reads and writes it through a socket BIO that never closes it, and every step maps
 * OpenSSL's SSL_get_error answer onto what the event loop must wait for. The error
 * queue is per thread and sticky, so it is cleared before every call whose failure is
 * then read from it.
 */
#include "probe/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct kp_tls_ctx {
	SSL_CTX *ssl_ctx;
	bool insecure;  /* --insecure: no verification at all */
};

struct kp_tls {
	SSL *ssl;
	bool close_notify;    /* the server's close_notify arrived */
	bool sent_close_notify;
	char error[256];      /* why the last step failed */
};

/* RFC 7301 3.1: a list of length-prefixed protocol names. */
static const unsigned char alpn_http11[] = "\x08http/1.1";

static void openssl_error_text(char *out, size_t len, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	if (e == 0) {
		snprintf(out, len, "%s", fallback);
		return;
	}
	const char *reason = ERR_reason_error_string(e);
	if (reason != NULL)
		snprintf(out, len, "%s", reason);
	else
		ERR_error_string_n(e, out, len);
}

struct kp_tls_ctx *kp_tls_ctx_new(bool insecure, const char *cacert, char *err, size_t err_len)
{
	struct kp_tls_ctx *ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	ERR_clear_error();
	ctx->insecure = insecure;
	ctx->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ctx->ssl_ctx == NULL) {
		openssl_error_text(err, err_len, "cannot create a TLS context");
		free(ctx);
		return NULL;
	}
	/* TLS 1.0 and 1.1 are deprecated (RFC 8996); what browsers and curl still offer. */
	SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION);
	/* The client's output buffer only grows at its end and may be reallocated between
	 * a write that waited and its repetition: both modes make that legal. */
	SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                               SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_alpn_protos(ctx->ssl_ctx, alpn_http11, sizeof(alpn_http11) - 1) != 0) {
		snprintf(err, err_len, "cannot set ALPN");
		kp_tls_ctx_free(ctx);
		return NULL;
	}
	int loaded;
	if (cacert != NULL) {
		if (access(cacert, R_OK) != 0) {
			snprintf(err, err_len, "cannot read \"%s\": %s", cacert, strerror(errno));
			kp_tls_ctx_free(ctx);
			return NULL;
		}
		loaded = SSL_CTX_load_verify_locations(ctx->ssl_ctx, cacert, NULL);
	} else if (insecure) {
		loaded = 1;  /* nothing will be verified: the system store is not even read */
	} else {
		loaded = SSL_CTX_set_default_verify_paths(ctx->ssl_ctx);
	}
	if (loaded != 1) {
		char why[160];
		openssl_error_text(why, sizeof(why), "no certificate found");
		snprintf(err, err_len, "cannot load certificates from \"%s\": %s",
		         cacert ? cacert : "the system store", why);
		kp_tls_ctx_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx->ssl_ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	return ctx;
}

void kp_tls_ctx_free(struct kp_tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

struct kp_tls *kp_tls_new(struct kp_tls_ctx *ctx, int fd, const char *name, bool is_ip)
{
	struct kp_tls *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->ssl = SSL_new(ctx->ssl_ctx);
	if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
		kp_tls_free(t);
		return NULL;
	}
	SSL_set_connect_state(t->ssl);
	if (!is_ip && SSL_set_tlsext_host_name(t->ssl, name) != 1) {
		kp_tls_free(t);
		return NULL;
	}
	if (!ctx->insecure) {
		/* RFC 6125 6.4.3: a wildcard only as the whole left-most label. */
		int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name)
		               : SSL_set1_host(t->ssl, name);
		SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (ok != 1) {
			kp_tls_free(t);
			return NULL;
		}
	}
	return t;
}

void kp_tls_free(struct kp_tls *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	free(t);
}

/* What the failed call rc of a step means for the loop. saved_errno is errno right
 * after the call, for SSL_ERROR_SYSCALL. */
static enum kp_tls_io classify(struct kp_tls *t, int rc, int saved_errno)
{
	int e = SSL_get_error(t->ssl, rc);
	unsigned long err;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return KP_TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return KP_TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		t->close_notify = true;
		return KP_TLS_EOF;
	case SSL_ERROR_SYSCALL:
		if (saved_errno == ECONNRESET || saved_errno == EPIPE)
			return KP_TLS_RESET;
		if (saved_errno == 0 && ERR_peek_error() == 0)
			return KP_TLS_EOF;  /* OpenSSL before 3: an EOF without close_notify */
		snprintf(t->error, sizeof(t->error), "%s",
		         saved_errno ? strerror(saved_errno) : "TLS socket error");
		return KP_TLS_FAIL;
	case SSL_ERROR_SSL:
		err = ERR_peek_error();
		/* OpenSSL 3 reports the server's FIN without a close_notify this way. Many
		 * servers close idle TLS connections so (RFC 8446 6.1 asks for close_notify,
		 * but a client cannot be truncated at a response boundary it already read),
		 * so it counts as the server's close like any other. */
		if (ERR_GET_LIB(err) == ERR_LIB_SSL &&
		    ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			return KP_TLS_EOF;
		if (ERR_GET_LIB(err) == ERR_LIB_SSL &&
		    ERR_GET_REASON(err) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
			long v = SSL_get_verify_result(t->ssl);
			snprintf(t->error, sizeof(t->error), "certificate verify failed: %s",
			         X509_verify_cert_error_string(v));
			return KP_TLS_FAIL;
		}
		openssl_error_text(t->error, sizeof(t->error), "TLS protocol error");
		return KP_TLS_FAIL;
	default:
		snprintf(t->error, sizeof(t->error), "TLS error %d", e);
		return KP_TLS_FAIL;
	}
}

enum kp_tls_io kp_tls_handshake(struct kp_tls *t)
{
	ERR_clear_error();
	errno = 0;
	int rc = SSL_do_handshake(t->ssl);
	int saved = errno;
	return rc == 1 ? KP_TLS_DONE : classify(t, rc, saved);
}

enum kp_tls_io kp_tls_read(struct kp_tls *t, char *buf, size_t len, size_t *n)
{
	ERR_clear_error();
	errno = 0;
	int rc = SSL_read_ex(t->ssl, buf, len, n);
	int saved = errno;
	return rc == 1 ? KP_TLS_DONE : classify(t, rc, saved);
}

enum kp_tls_io kp_tls_write(struct kp_tls *t, const char *buf, size_t len, size_t *n)
{
	ERR_clear_error();
	errno = 0;
	int rc = SSL_write_ex(t->ssl, buf, len, n);
	int saved = errno;
	return rc == 1 ? KP_TLS_DONE : classify(t, rc, saved);
}

bool kp_tls_has_pending(const struct kp_tls *t)
{
	/* SSL_pending counts only decrypted bytes of the current record; SSL_has_pending
	 * also counts whole records read ahead and not yet decrypted. Both are out of
	 * epoll's sight. */
	return SSL_has_pending(t->ssl) == 1;
}

void kp_tls_close_notify(struct kp_tls *t)
{
	if (t->sent_close_notify || !SSL_is_init_finished(t->ssl))
		return;
	t->sent_close_notify = true;
	ERR_clear_error();
	SSL_shutdown(t->ssl);  /* one record into an idle socket: it does not wait */
	ERR_clear_error();
}

const char *kp_tls_error(const struct kp_tls *t)
{
	return t->error[0] ? t->error : "TLS error";
}

bool kp_tls_saw_close_notify(const struct kp_tls *t)
{
	return t->close_notify;
}

void kp_tls_describe(const struct kp_tls *t, struct kp_tls_info *info)
{
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;

	memset(info, 0, sizeof(*info));
	snprintf(info->version, sizeof(info->version), "%s", SSL_get_version(t->ssl));
	const char *cipher = SSL_get_cipher_name(t->ssl);
	snprintf(info->cipher, sizeof(info->cipher), "%s", cipher ? cipher : "");
	SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
	if (alpn != NULL && alpn_len < sizeof(info->alpn)) {
		memcpy(info->alpn, alpn, alpn_len);
		info->alpn[alpn_len] = '\0';
	}
	info->resumed = SSL_session_reused(t->ssl) == 1;
}

/* The opaque session type is OpenSSL's own, renamed so callers need not include it. */
static SSL_SESSION *session_of(const struct kp_tls_session *s)
{
	return (SSL_SESSION *)(void *)s;
}

void kp_tls_offer(struct kp_tls *t, struct kp_tls_session *s)
{
	SSL_set_session(t->ssl, session_of(s));  /* takes a reference of its own */
}

struct kp_tls_session *kp_tls_session_get(const struct kp_tls *t)
{
	SSL_SESSION *live = SSL_get1_session(t->ssl);
	SSL_SESSION *copy = NULL;

	/* A copy: SSL_free of a connection that did not send close_notify (the server
	 * closed first, as it does after Connection: close) marks its session as not
	 * resumable (OpenSSL's ssl_clear_bad_session), which would spoil ours. */
	if (live != NULL && SSL_SESSION_is_resumable(live))
		copy = SSL_SESSION_dup(live);
	SSL_SESSION_free(live);
	return (struct kp_tls_session *)(void *)copy;
}

void kp_tls_session_free(struct kp_tls_session *s)
{
	SSL_SESSION_free(session_of(s));
}

bool kp_tls_session_has_ticket(const struct kp_tls_session *s)
{
	return SSL_SESSION_has_ticket(session_of(s)) == 1;
}

uint64_t kp_tls_session_ticket_lifetime(const struct kp_tls_session *s)
{
	return SSL_SESSION_get_ticket_lifetime_hint(session_of(s));
}
