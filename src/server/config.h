/*
 * kahttpd's configuration: one table of options (config.c) drives the command line,
 * the --config file and --help, so the three can never disagree. Values are checked
 * when read; a bad one names its option and the program exits with code 2.
 */
#ifndef KA_CONFIG_H
#define KA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "core/sockopt.h"

#define KA_MAX_LISTENERS 16
#define KA_MAX_CERTS 16
#define KA_MAX_PROXIES 64  /* --proxy prefixes */
#define KA_MAX_BACKENDS 8  /* backends of one prefix */

struct ka_listen {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char text[KA_ADDR_TEXT_MAX];  /* as given, for messages */
};

/* TCP keepalive probing; idle 0 means off. */
struct ka_tcp_keepalive {
	int idle;   /* TCP_KEEPIDLE, s */
	int intvl;  /* TCP_KEEPINTVL, s */
	int cnt;    /* TCP_KEEPCNT */
};

/* One backend of a --proxy prefix: http://HOST:PORT/PATH, resolved at start-up. */
struct ka_backend {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char text[KA_ADDR_TEXT_MAX];  /* HOST:PORT as given: logs, /status */
	char *path;                   /* the URL's path without its last '/', prepended to
	                               * the request's target ("" when none) */
};

/* --proxy PREFIX=URL[,URL...] */
struct ka_proxy_conf {
	char *prefix;
	struct ka_backend backends[KA_MAX_BACKENDS];
	unsigned n_backends;
};

/* --upstream-idle-timeout auto: learn it, or be told it, per backend. */
#define KA_UPSTREAM_IDLE_AUTO (-1)

struct ka_config {
	struct ka_listen listen[KA_MAX_LISTENERS];
	unsigned n_listen;
	char *root;                   /* document root */
	unsigned workers;             /* 0 in the table means "number of CPUs" */
	int64_t keepalive_timeout;    /* ms; 0 turns persistence off */
	int64_t keepalive_grace;      /* ms advertised less than enforced */
	uint64_t keepalive_requests;  /* per connection; 0 = unlimited */
	int64_t keepalive_time;       /* ms of connection lifetime; 0 = unlimited */
	int64_t header_timeout;       /* ms to receive a complete request head */
	int64_t io_timeout;           /* ms of longest stall reading a body or writing */
	uint64_t max_header_size;     /* bytes of request line + headers */
	uint64_t max_body_size;       /* bytes of request body */
	uint64_t max_connections;     /* per process */
	double idle_watermark;        /* share of max_connections where timeouts start to shrink */
	int64_t keepalive_min_timeout;  /* ms: the idle timeout at max_connections */
	struct ka_tcp_keepalive tcp_keepalive;
	unsigned tcp_user_timeout;    /* ms; 0 = off */
	int64_t heartbeat;            /* ms of event-stream silence before a comment; 0 = off */
	int64_t shutdown_timeout;     /* ms a drain may take before connections are cut */
	int64_t drain_delay;          /* ms of normal serving after SIGTERM, /healthz 503 */
	char *pid_file;               /* NULL when none */
	char *user;                   /* drop privileges to this user after binding; NULL: stay */
	char *access_log;             /* path, "-" for stdout, NULL when off */
	struct ka_listen admin;       /* admin.text is empty when off */
	bool trace_connections;       /* lifecycle events on stderr */
	bool demo;                    /* serve /_demo/ */
	char *config_file;            /* --config, NULL when none */

	/* HTTPS (tls.c) */
	struct ka_listen tls_listen[KA_MAX_LISTENERS];
	unsigned n_tls_listen;
	char *tls_cert[KA_MAX_CERTS];  /* PEM files, in pairs with tls_key; the first is the */
	char *tls_key[KA_MAX_CERTS];   /* default, the others are chosen by SNI */
	unsigned n_tls_cert, n_tls_key;
	struct ka_tls_protocols {
		int min, max;             /* TLS1_2_VERSION or TLS1_3_VERSION */
	} tls_protocols;
	int64_t tls_handshake_timeout;  /* ms to complete a TLS handshake */
	int64_t tls_session_timeout;    /* ms a session ticket stays valid */

	/* The reverse proxy (proxy.c, upstream.c) */
	struct ka_proxy_conf proxy[KA_MAX_PROXIES];
	unsigned n_proxy;
	uint64_t upstream_keepalive;       /* idle connections per backend per worker */
	int64_t upstream_idle_timeout;     /* ms, or KA_UPSTREAM_IDLE_AUTO */
	int64_t upstream_connect_timeout;  /* ms */
	int64_t upstream_timeout;          /* ms: response head, and the longest stall */
	int64_t tunnel_idle_timeout;       /* ms an upgraded connection may be silent */
};

enum ka_config_result {
	KA_CONFIG_OK = 0,
	KA_CONFIG_EXIT = 1,   /* --help or --version was printed: exit 0 */
	KA_CONFIG_ERROR = 2,  /* a message naming the option went to err: exit 2 */
};

/* Fills c from the defaults, then the --config file if one is named, then argv (the
 * command line wins). Messages go to err, --help to out. */
enum ka_config_result ka_config_load(struct ka_config *c, int argc, char **argv,
                                     FILE *out, FILE *err);
void ka_config_free(struct ka_config *c);

/* s without its leading and trailing white space (cut in place). */
char *ka_config_trim(char *s);

/* config_proxy.c: parses one --proxy value into c; -1 with the reason in why. */
int ka_config_add_proxy(struct ka_config *c, const char *value, char *why, size_t why_len);
void ka_config_free_proxies(struct ka_config *c);
/* The same --proxy prefixes with the same backends, in the same order. */
bool ka_config_proxies_equal(const struct ka_config *a, const struct ka_config *b);

#endif
