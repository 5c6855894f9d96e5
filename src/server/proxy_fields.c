/*
 * The reverse proxy's rewriting of message heads (proxy_exchange.h): hop-by-hop fields
 * (RFC 9110 7.6.1) stay on their hop, both ways; the request gains Via and
 * X-Forwarded-For, -Proto and -Host; the response loses what the client connection
 * writes itself (framing, Date, Server) and gains Via.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/sockopt.h"
#include "core/util.h"
#include "server/proxy_exchange.h"
#include "server/trace.h"

/* A field name to compare with, and its length. */
struct field_name {
	const char *s;
	size_t len;
};
#define FIELD_NAME(s) { s, sizeof(s) - 1 }

/* Whether name is s, in any case. Lengths first: the hop-by-hop checks compare every
 * field with a dozen names, most of another length (callgrind, bench/profile.sh
 * --proxy: the compares were a third of the proxy's instructions). */
static inline bool name_is_n(struct ka_str name, const char *s, size_t len)
{
	return name.len == len && ka_str_ieq(name, s);
}

/* The same with a string constant, whose length the compiler knows. */
static inline bool name_is(struct ka_str name, const char *s)
{
	return name_is_n(name, s, strlen(s));
}

/* Whether name is one of names[0..n). */
static bool name_in(struct ka_str name, const struct field_name *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (name_is_n(name, names[i].s, names[i].len))
			return true;
	return false;
}

/* Whether a field called name stops at this hop: one of own (hop-by-hop fields, RFC
 * 9110 7.6.1, and those this proxy writes itself), or one a Connection field of the
 * message, headers[0..n), names. */
static bool field_dropped(struct ka_str name, const struct field_name *own, size_t n_own,
                          const struct ka_http_header *headers, size_t n)
{
	char token[64];

	if (name_in(name, own, n_own))
		return true;
	if (name.len >= sizeof(token))
		return false;
	memcpy(token, name.p, name.len);
	token[name.len] = '\0';
	for (size_t i = 0; i < n; i++)
		if (name_is(headers[i].name, "connection") &&
		    ka_http_token_list_has(headers[i].value, token))
			return true;
	return false;
}

static bool request_field_dropped(const struct ka_http_request *req, struct ka_str name)
{
	static const struct field_name own[] = {
		FIELD_NAME("connection"), FIELD_NAME("keep-alive"), FIELD_NAME("proxy-connection"),
		FIELD_NAME("te"), FIELD_NAME("trailer"), FIELD_NAME("transfer-encoding"),
		FIELD_NAME("upgrade"), FIELD_NAME("content-length"), FIELD_NAME("via"),
		FIELD_NAME("x-forwarded-for"), FIELD_NAME("x-forwarded-proto"),
		FIELD_NAME("x-forwarded-host"),
	};

	return field_dropped(name, own, sizeof(own) / sizeof(own[0]), req->headers,
	                     req->num_headers);
}

struct out {
	char *p, *end;
	bool full;
};

static void out_put(struct out *o, const char *s, size_t n)
{
	if ((size_t)(o->end - o->p) < n) {
		o->full = true;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}

static void out_str(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

/* Every value of the fields called name, joined with ", ", then more. */
static void out_joined(struct out *o, const struct ka_http_request *req, const char *name,
                       const char *more)
{
	for (size_t i = 0; i < req->num_headers; i++) {
		if (!name_is(req->headers[i].name, name))
			continue;
		out_put(o, req->headers[i].value.p, req->headers[i].value.len);
		out_put(o, ", ", 2);
	}
	out_str(o, more);
}

/* The client's address alone, as X-Forwarded-For has it: no port, no brackets. IPv4 by
 * hand: inet_ntop's sprintf cost a seventh of the proxy's instructions (callgrind). */
static void peer_address(const struct ka_conn *c, char *out, size_t out_len)
{
	char *p = out;

	if (c->peer.family == AF_INET6) {
		if (!inet_ntop(AF_INET6, c->peer.addr, out, (socklen_t)out_len))
			out[0] = '\0';
		return;
	}
	for (int i = 0; i < 4; i++) {  /* out_len >= INET_ADDRSTRLEN: "255.255.255.255" */
		unsigned v = c->peer.addr[i];

		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
}

_Static_assert(KA_ADDR_TEXT_MAX >= INET6_ADDRSTRLEN, "peer_address's room");

/* The request head, rewritten for the backend, into px->out. */
bool ka_px_build_request(struct px *px)
{
	struct ka_conn *c = px->c;
	const struct ka_http_request *req = &c->ex->req;
	const struct ka_backend *be = &px->route->conf->backends[0];  /* one path for all */
	struct out o = { px->out, px->out + PX_BUF, false };
	struct ka_str host = { NULL, 0 };
	char num[24], peer[KA_ADDR_TEXT_MAX];

	out_put(&o, req->method.p, req->method.len);
	out_put(&o, " ", 1);
	out_str(&o, be->path);
	out_put(&o, req->target.p, req->target.len);
	out_str(&o, " HTTP/1.1\r\n");
	for (size_t i = 0; i < req->num_headers; i++) {
		const struct ka_http_header *h = &req->headers[i];

		if (request_field_dropped(req, h->name))
			continue;
		if (name_is(h->name, "host"))
			host = h->value;
		out_put(&o, h->name.p, h->name.len);
		out_put(&o, ": ", 2);
		out_put(&o, h->value.p, h->value.len);
		out_put(&o, "\r\n", 2);
	}
	if (req->is_chunked) {
		out_str(&o, "Transfer-Encoding: chunked\r\n");
	} else if (req->content_length >= 0) {
		snprintf(num, sizeof(num), "%lld", (long long)req->content_length);
		out_str(&o, "Content-Length: ");
		out_str(&o, num);
		out_str(&o, "\r\n");
	}
	if (px->upgrade) {
		const struct ka_http_header *up = ka_http_header_find(req, "upgrade");

		out_str(&o, "Connection: upgrade\r\nUpgrade: ");
		out_put(&o, up->value.p, up->value.len);
		out_str(&o, "\r\n");
	}
	out_str(&o, "Via: ");
	out_joined(&o, req, "via", req->minor_version ? "1.1 kahttpd\r\n" : "1.0 kahttpd\r\n");
	peer_address(c, peer, sizeof(peer));
	out_str(&o, "X-Forwarded-For: ");
	out_joined(&o, req, "x-forwarded-for", peer);
	out_str(&o, c->tls ? "\r\nX-Forwarded-Proto: https\r\n" : "\r\nX-Forwarded-Proto: http\r\n");
	if (host.len) {
		out_str(&o, "X-Forwarded-Host: ");
		out_put(&o, host.p, host.len);
		out_str(&o, "\r\n");
	}
	out_str(&o, "\r\n");
	px->out_len = (size_t)(o.p - px->out);
	return !o.full;
}

/* A response's: the client connection writes framing, Date and Server itself. */
static bool response_field_dropped(const struct ka_http_response *resp, struct ka_str name)
{
	static const struct field_name own[] = {
		FIELD_NAME("connection"), FIELD_NAME("keep-alive"), FIELD_NAME("proxy-connection"),
		FIELD_NAME("te"), FIELD_NAME("trailer"), FIELD_NAME("transfer-encoding"),
		FIELD_NAME("upgrade"), FIELD_NAME("content-length"), FIELD_NAME("date"),
		FIELD_NAME("server"), FIELD_NAME("via"),
	};

	return field_dropped(name, own, sizeof(own) / sizeof(own[0]), resp->headers,
	                     resp->num_headers);
}

/* The response's fields for the client, into out (free now: the request is sent or
 * abandoned); false when they do not fit the client's write buffer. */
bool ka_px_build_response_fields(struct px *px, size_t room)
{
	const struct ka_http_response *resp = &px->resp;
	struct out o = { px->out, px->out + KA_MIN(room, (size_t)PX_BUF), false };
	const struct ka_http_header *via = ka_http_response_header_find(resp, "via");

	for (size_t i = 0; i < resp->num_headers; i++) {
		const struct ka_http_header *h = &resp->headers[i];

		if (response_field_dropped(resp, h->name))
			continue;
		out_put(&o, h->name.p, h->name.len);
		out_put(&o, ": ", 2);
		out_put(&o, h->value.p, h->value.len);
		out_put(&o, "\r\n", 2);
	}
	if (px->phase == PX_TUNNEL) {
		const struct ka_http_header *up = ka_http_response_header_find(resp, "upgrade");

		out_str(&o, "Connection: upgrade\r\nUpgrade: ");
		if (up)
			out_put(&o, up->value.p, up->value.len);
		out_str(&o, "\r\n");
	}
	out_str(&o, "Via: ");
	if (via) {
		out_put(&o, via->value.p, via->value.len);
		out_put(&o, ", ", 2);
	}
	out_str(&o, resp->minor_version ? "1.1 kahttpd\r\n" : "1.0 kahttpd\r\n");
	px->out_len = (size_t)(o.p - px->out);
	px->out_sent = 0;
	return !o.full;
}

bool ka_px_retryable(const struct ka_http_request *req)
{
	switch (req->method_id) {
	case KA_METHOD_GET:
	case KA_METHOD_HEAD:
	case KA_METHOD_OPTIONS:
	case KA_METHOD_TRACE:
	case KA_METHOD_PUT:
	case KA_METHOD_DELETE:
		return true;  /* idempotent: RFC 9110 9.2.2 */
	default:
		return ka_http_header_find(req, "idempotency-key") != NULL;
	}
}

bool ka_px_wants_upgrade(const struct ka_http_request *req)
{
	const struct ka_http_header *up = ka_http_header_find(req, "upgrade");

	if (!up || req->minor_version == 0)
		return false;
	for (size_t i = 0; i < req->num_headers; i++)
		if (name_is(req->headers[i].name, "connection") &&
		    ka_http_token_list_has(req->headers[i].value, "upgrade"))
			return true;
	return false;
}

void ka_px_log_fields(struct px *px)
{
	struct ka_exchange *ex = px->c->ex;
	int n;

	/* Only the access log reads them; an snprintf per request is a tenth of the
	 * proxy's instructions (callgrind) when nothing reads them. */
	if (!px->c->w->log_buf)
		return;
	n = snprintf(ex->log_more, sizeof(ex->log_more),
	             " upstream=%s up_conn=%llu up_reused=%d up_ms=%lld retries=%d",
	             px->up ? px->up->be->text : "-",
	             (unsigned long long)(px->u ? px->u->id : 0), px->reused,
	             (long long)((px->head_us ? px->head_us : px->c->w->loop.now_us) -
	                         px->start_us) / 1000,
	             px->retries);

	ex->log_more_len = (uint16_t)KA_MIN((size_t)n, sizeof(ex->log_more) - 1);
}
