/*
 * --proxy PREFIX=URL[,URL...]: the reverse proxy's routes. Each URL is
 * http://HOST[:PORT][/PATH]; HOST is an address or a name, resolved once here, at
 * start-up (a backend that is not listening yet is fine: it may start later; a name
 * that does not resolve is a configuration error). The same prefix given again
 * replaces the earlier one, so the command line wins over --config.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"

/* http://HOST[:PORT][/PATH] into b; -1 with why. */
static int parse_backend(struct ka_backend *b, char *url, char *why, size_t why_len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char *host, *port = "80", *path, *end;
	int err;

	if (strncmp(url, "http://", 7) != 0) {
		snprintf(why, why_len, "backend '%s' is not an http:// URL", url);
		return -1;
	}
	host = url + 7;
	path = strchr(host, '/');
	if (path)
		*path = '\0';
	if (*host == '[') {  /* [IPV6]:PORT */
		end = strchr(host, ']');
		if (!end || (end[1] && end[1] != ':')) {
			snprintf(why, why_len, "backend host '%s' is not [IPV6] or [IPV6]:PORT", host);
			return -1;
		}
		*end = '\0';
		if (end[1] == ':')
			port = end + 2;
		host++;
	} else if ((end = strrchr(host, ':'))) {
		*end = '\0';
		port = end + 1;
	}
	if (!*host || !*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
	    atoi(port) < 1 || atoi(port) > 65535) {
		snprintf(why, why_len, "backend '%s' needs a host and a port from 1 to 65535", url);
		return -1;
	}
	if ((err = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(why, why_len, "backend host '%s': %s", host, gai_strerror(err));
		return -1;
	}
	memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
	b->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(b->text, sizeof(b->text), strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
	if (path) {
		*path = '/';
		end = path + strlen(path);
		while (end > path && end[-1] == '/')
			*--end = '\0';
		if (strpbrk(path, "?# \t")) {
			snprintf(why, why_len, "backend path '%s' may hold no query, fragment or space",
			         path);
			return -1;
		}
	}
	b->path = strdup(path ? path : "");
	return 0;
}

static void free_proxy(struct ka_proxy_conf *p)
{
	free(p->prefix);
	for (unsigned i = 0; i < p->n_backends; i++)
		free(p->backends[i].path);
	memset(p, 0, sizeof(*p));
}

int ka_config_add_proxy(struct ka_config *c, const char *value, char *why, size_t why_len)
{
	struct ka_proxy_conf p = { 0 };
	char *copy = strdup(value), *eq, *prefix, *url, *save = NULL;
	unsigned slot;
	int rc = -1;

	if (!copy || !(eq = strchr(copy, '='))) {
		snprintf(why, why_len, "invalid value '%s' (PREFIX=URL[,URL...], e.g. "
		                       "/api/=http://127.0.0.1:3000)", value);
		goto out;
	}
	*eq = '\0';
	prefix = ka_config_trim(copy);
	if (prefix[0] != '/' || strpbrk(prefix, "?# \t")) {
		snprintf(why, why_len, "prefix '%s' must start with '/' (and hold no query)", prefix);
		goto out;
	}
	p.prefix = strdup(prefix);
	for (url = strtok_r(eq + 1, ",", &save); url; url = strtok_r(NULL, ",", &save)) {
		url = ka_config_trim(url);
		if (p.n_backends == KA_MAX_BACKENDS) {
			snprintf(why, why_len, "too many backends for '%s' (at most %d)", prefix,
			         KA_MAX_BACKENDS);
			goto out;
		}
		if (parse_backend(&p.backends[p.n_backends], url, why, why_len) < 0)
			goto out;
		p.n_backends++;
	}
	if (p.n_backends == 0) {
		snprintf(why, why_len, "no backend URL for '%s'", prefix);
		goto out;
	}
	for (unsigned i = 1; i < p.n_backends; i++)
		if (strcmp(p.backends[i].path, p.backends[0].path) != 0) {
			snprintf(why, why_len, "the backends of '%s' must share one URL path", prefix);
			goto out;
		}
	for (slot = 0; slot < c->n_proxy; slot++)
		if (strcmp(c->proxy[slot].prefix, p.prefix) == 0)
			break;
	if (slot == KA_MAX_PROXIES) {
		snprintf(why, why_len, "too many prefixes (at most %d)", KA_MAX_PROXIES);
		goto out;
	}
	if (slot < c->n_proxy)
		free_proxy(&c->proxy[slot]);
	else
		c->n_proxy++;
	c->proxy[slot] = p;
	p.prefix = NULL;
	p.n_backends = 0;
	rc = 0;
out:
	free_proxy(&p);
	free(copy);
	return rc;
}

void ka_config_free_proxies(struct ka_config *c)
{
	for (unsigned i = 0; i < c->n_proxy; i++)
		free_proxy(&c->proxy[i]);
	c->n_proxy = 0;
}

bool ka_config_proxies_equal(const struct ka_config *a, const struct ka_config *b)
{
	if (a->n_proxy != b->n_proxy)
		return false;
	for (unsigned i = 0; i < a->n_proxy; i++) {
		const struct ka_proxy_conf *p = &a->proxy[i], *q = &b->proxy[i];

		if (strcmp(p->prefix, q->prefix) != 0 || p->n_backends != q->n_backends)
			return false;
		for (unsigned k = 0; k < p->n_backends; k++)
			if (strcmp(p->backends[k].text, q->backends[k].text) != 0 ||
			    strcmp(p->backends[k].path, q->backends[k].path) != 0)
				return false;
	}
	return true;
}
