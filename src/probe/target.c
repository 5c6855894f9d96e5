/*
 * The target: an http:// or https:// URL taken apart (RFC 3986 3.2 authority, with
 * the scheme's default port), its host resolved, and for https the name that SNI
 * sends and the certificate must match, or the IP literal it must carry.
 */
#include "probe/client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static int url_error(char *err, size_t err_len, int code, const char *what, const char *url)
{
	snprintf(err, err_len, "%s: \"%s\"", what, url);
	return code;
}

/* The port after a host: "" (the default, RFC 3986 3.2.3 allows "host:") or ":1-65535".
 * Writes it as text to port_text; returns NULL or what is wrong. */
static const char *parse_port(const char *after, const char *end, char *port_text, size_t len)
{
	size_t digits;
	long v = 0;

	if (after == end)
		return NULL;
	digits = (size_t)(end - after) - 1;
	if (*after != ':' || digits > 5)
		return "bad port in the URL";
	for (size_t i = 0; i < digits; i++) {
		if (after[1 + i] < '0' || after[1 + i] > '9')
			return "bad port in the URL";
		v = v * 10 + (after[1 + i] - '0');
	}
	if (digits > 0 && (v < 1 || v > 65535))
		return "bad port in the URL";
	if (digits > 0)
		snprintf(port_text, len, "%ld", v);
	return NULL;
}

/* The authority "NAME[:PORT]" or "[IPV6][:PORT]" (alen bytes, less than KP_HOST_MAX):
 * the name to resolve into name, the port into port_text. Returns NULL or what is
 * wrong. */
static const char *parse_authority(const char *auth, size_t alen, char *name,
                                   char *port_text, size_t port_len)
{
	size_t name_len;
	const char *after;

	if (auth[0] == '[') {
		const char *close = memchr(auth, ']', alen);
		if (close == NULL)
			return "unterminated [IPv6] host in the URL";
		name_len = (size_t)(close - auth - 1);
		memcpy(name, auth + 1, name_len);
		after = close + 1;
	} else {
		const char *colon = memchr(auth, ':', alen);
		name_len = colon ? (size_t)(colon - auth) : alen;
		memcpy(name, auth, name_len);
		after = auth + name_len;
	}
	name[name_len] = '\0';
	if (name_len == 0)
		return "the URL has no host";
	return parse_port(after, auth + alen, port_text, port_len);
}

/* What follows the authority, up to a fragment, as the request-target ("/" when
 * empty; "?q" becomes "/?q"). Returns NULL or what is wrong. */
static const char *parse_path(const char *rest, char *path, size_t cap)
{
	size_t plen = strcspn(rest, "#");

	if (plen + 2 > cap)
		return "the URL's path is too long";
	if (plen == 0)
		strcpy(path, "/");
	else if (rest[0] == '?')
		snprintf(path, cap, "/%.*s", (int)plen, rest);
	else
		memcpy(path, rest, plen);
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return "space or control character in the URL's path";
	return NULL;
}

int kp_target_parse(const char *url, struct kp_target *t, char *err, size_t err_len)
{
	memset(t, 0, sizeof(*t));
	if (strncasecmp(url, "https://", 8) == 0)
		t->is_tls = true;
	else if (strncasecmp(url, "http://", 7) != 0)
		return url_error(err, err_len, -2, "the URL must start with http:// or https://", url);
	if (strlen(url) >= sizeof(t->url))
		return url_error(err, err_len, -2, "URL too long", url);
	strcpy(t->url, url);

	const char *auth = url + (t->is_tls ? 8 : 7);
	size_t alen = strcspn(auth, "/?#");
	if (alen == 0 || alen >= KP_HOST_MAX)
		return url_error(err, err_len, -2, "the URL has no host (or a huge one)", url);
	if (memchr(auth, '@', alen) != NULL)
		return url_error(err, err_len, -2, "user information in the URL is not supported", url);
	for (size_t i = 0; i < alen; i++)
		if ((unsigned char)auth[i] <= ' ' || auth[i] == 0x7f)
			return url_error(err, err_len, -2, "bad character in the URL's host", url);
	memcpy(t->host, auth, alen);

	char *name = t->name;
	char port_text[8];
	strcpy(port_text, t->is_tls ? "443" : "80");
	const char *what = parse_authority(auth, alen, name, port_text, sizeof(port_text));
	if (what == NULL)
		what = parse_path(auth + alen, t->path, sizeof(t->path));
	if (what != NULL)
		return url_error(err, err_len, -2, what, url);
	struct in6_addr literal;
	t->name_is_ip = inet_pton(AF_INET, name, &literal) == 1 ||
	                inet_pton(AF_INET6, name, &literal) == 1;

	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	int rc = getaddrinfo(name, port_text, &hints, &res);
	if (rc != 0) {
		snprintf(err, err_len, "cannot resolve \"%s\": %s", name, gai_strerror(rc));
		return -1;
	}
	memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
	t->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	ka_sock_addr_text((const struct sockaddr *)&t->addr, t->addr_text, sizeof(t->addr_text));
	return 0;
}
