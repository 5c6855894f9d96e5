/*
 * The option table and its three readers: the command line, the --config file and
 * --help. Defaults are written as text in the table and parsed by the same code as
 * user input, so what --help and README show is exactly what the server uses.
 */
#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum opt_type {
	OPT_DURATION,  /* seconds, decimals allowed, stored as int64 ms */
	OPT_COUNT,     /* unsigned integer, stored as uint64 */
	OPT_WORKERS,   /* unsigned integer >= 1, stored as unsigned */
	OPT_PATH,      /* string, stored as char * (owned) */
	OPT_PATH_OR_OFF,  /* string or off (NULL) */
	OPT_ADDR_OR_OFF,  /* HOST:PORT or off, stored as struct ka_listen (port 0 text: off) */
	OPT_FLAG,      /* no value on the command line; true/false in a file */
	OPT_LISTEN,    /* repeatable HOST:PORT */
	OPT_CONFIG,    /* --config FILE: read before the rest of the command line */
	OPT_TCP_KEEPALIVE,  /* IDLE:INTVL:CNT or off, stored as struct ka_tcp_keepalive */
	OPT_MS_OR_OFF,      /* milliseconds or off (0), stored as unsigned */
	OPT_FRACTION,       /* a number from 0 to 1, stored as double */
	OPT_TLS_LISTEN,     /* repeatable HOST:PORT, or off */
	OPT_TLS_CERT,       /* repeatable file: tls_cert[] */
	OPT_TLS_KEY,        /* repeatable file: tls_key[] */
	OPT_TLS_PROTOCOLS,  /* 1.2, 1.3 or both, stored as struct ka_tls_protocols */
	OPT_PROXY,          /* repeatable PREFIX=URL[,URL...] (config_proxy.c) */
	OPT_DURATION_OR_AUTO,  /* seconds or auto (KA_UPSTREAM_IDLE_AUTO), as int64 ms */
};

struct option_def {
	const char *name;  /* without the leading dashes */
	const char *arg;   /* placeholder shown in --help, NULL for flags */
	enum opt_type type;
	const char *def;   /* default as text, parsed like user input (workers' is words for
	                    * --help; the caller resolves it); NULL: none */
	const char *help;
	size_t offset;     /* into struct ka_config */
	uint64_t max;      /* upper bound for counts and durations (ms) */
	uint64_t min;      /* lower bound, the same units */
};

#define DAY_MS (24ULL * 3600 * 1000)
#define CFG(field) offsetof(struct ka_config, field)

static const struct option_def options[] = {
	{ "listen", "HOST:PORT", OPT_LISTEN, "127.0.0.1:8080",
	  "address to listen on; repeatable; port 0 picks a free port", CFG(listen), 0, 0 },
	{ "root", "DIR", OPT_PATH, "./www", "document root", CFG(root), 0, 0 },
	{ "workers", "N", OPT_WORKERS, "number of CPUs",
	  "worker threads, each with its own event loop", CFG(workers), 1024, 1 },
	{ "keepalive-timeout", "SEC", OPT_DURATION, "75",
	  "idle time allowed between requests; 0 turns persistence off", CFG(keepalive_timeout),
	  DAY_MS, 0 },
	{ "keepalive-grace", "SEC", OPT_DURATION, "1",
	  "Keep-Alive: timeout= advertises this much less than the server enforces",
	  CFG(keepalive_grace), DAY_MS, 0 },
	{ "keepalive-requests", "N", OPT_COUNT, "1000", "requests per connection; 0 = unlimited",
	  CFG(keepalive_requests), UINT32_MAX, 0 },
	{ "keepalive-time", "SEC", OPT_DURATION, "3600",
	  "maximum connection lifetime; 0 = unlimited", CFG(keepalive_time), 365 * DAY_MS, 0 },
	{ "header-timeout", "SEC", OPT_DURATION, "10", "time to receive a complete request head",
	  CFG(header_timeout), DAY_MS, 1 },
	{ "io-timeout", "SEC", OPT_DURATION, "30",
	  "longest stall while reading a body or writing a response", CFG(io_timeout), DAY_MS, 1 },
	{ "max-header-size", "BYTES", OPT_COUNT, "16384", "request line plus headers",
	  CFG(max_header_size), 1 << 20, 256 },
	{ "max-body-size", "BYTES", OPT_COUNT, "1048576",
	  "request body a handler reads whole (not one --proxy streams); larger gets 413 as "
	  "soon as Content-Length or a chunk size says so",
	  CFG(max_body_size), 1ULL << 40, 0 },
	{ "max-connections", "N", OPT_COUNT, "10000",
	  "open connections per process; at the limit a lingering one, else the least "
	  "recently active idle one, is closed to make room", CFG(max_connections), 1000000, 1 },
	{ "idle-watermark", "FRACTION", OPT_FRACTION, "0.75",
	  "above this share of max-connections in use, the idle timeout shrinks",
	  CFG(idle_watermark), 0, 0 },
	{ "keepalive-min-timeout", "SEC", OPT_DURATION, "1",
	  "the idle timeout a full server shrinks to", CFG(keepalive_min_timeout), DAY_MS, 0 },
	{ "tcp-keepalive", "IDLE:INTVL:CNT", OPT_TCP_KEEPALIVE, "60:10:6",
	  "TCP keepalive probes on accepted sockets (seconds, seconds, count) or off",
	  CFG(tcp_keepalive), 0, 0 },
	{ "tcp-user-timeout", "MS", OPT_MS_OR_OFF, "off",
	  "TCP_USER_TIMEOUT: fail a connection whose sent data stays unacknowledged this long",
	  CFG(tcp_user_timeout), 24 * 3600 * 1000, 0 },
	{ "heartbeat", "SEC", OPT_DURATION, "15",
	  "event streams that sent nothing this long get a ': keep-alive' comment; 0 = off",
	  CFG(heartbeat), DAY_MS, 0 },
	{ "shutdown-timeout", "SEC", OPT_DURATION, "10",
	  "on SIGTERM/SIGINT, how long requests in progress may take to finish",
	  CFG(shutdown_timeout), DAY_MS, 0 },
	{ "drain-delay", "SEC", OPT_DURATION, "0",
	  "on SIGTERM/SIGINT, /healthz answers 503 at once but serving goes on this long before "
	  "the drain", CFG(drain_delay), DAY_MS, 0 },
	{ "pid-file", "FILE", OPT_PATH_OR_OFF, "off",
	  "write the process id here (FILE.oldbin during a binary upgrade)", CFG(pid_file), 0, 0 },
	{ "user", "USER", OPT_PATH_OR_OFF, "off",
	  "after binding, drop privileges to this user and its groups", CFG(user), 0, 0 },
	{ "access-log", "PATH|-|off", OPT_PATH_OR_OFF, "off",
	  "one line per request (combined format + conn= req= persist= dur_ms=); - is stdout",
	  CFG(access_log), 0, 0 },
	{ "admin", "HOST:PORT", OPT_ADDR_OR_OFF, "off",
	  "separate listener for /status, /metrics, /connections and the dashboard",
	  CFG(admin), 0, 0 },
	{ "trace-connections", NULL, OPT_FLAG, "off",
	  "one line per connection event (accept, request, response, idle, tcp_keepalive_dead, "
	  "close) on stderr",
	  CFG(trace_connections), 0, 0 },
	{ "demo", NULL, OPT_FLAG, "off", "enable the /_demo/ endpoints", CFG(demo), 0, 0 },
	{ "tls-listen", "HOST:PORT", OPT_TLS_LISTEN, "off",
	  "HTTPS address to listen on; repeatable; port 0 picks a free port", CFG(tls_listen), 0,
	  0 },
	{ "tls-cert", "FILE", OPT_TLS_CERT, NULL,
	  "PEM certificate (and its chain); repeatable, in pairs with --tls-key; chosen by SNI, "
	  "the first is the default", CFG(tls_cert), 0, 0 },
	{ "tls-key", "FILE", OPT_TLS_KEY, NULL, "PEM private key of the --tls-cert of the same rank",
	  CFG(tls_key), 0, 0 },
	{ "tls-protocols", "LIST", OPT_TLS_PROTOCOLS, "1.2,1.3", "TLS versions: 1.2, 1.3 or 1.2,1.3",
	  CFG(tls_protocols), 0, 0 },
	{ "tls-handshake-timeout", "SEC", OPT_DURATION, "10", "time to complete a TLS handshake",
	  CFG(tls_handshake_timeout), DAY_MS, 1 },
	{ "tls-session-timeout", "SEC", OPT_DURATION, "300",
	  "how long a session ticket lets a client resume without a full handshake",
	  CFG(tls_session_timeout), DAY_MS, 1 },
	{ "proxy", "PREFIX=URL[,URL...]", OPT_PROXY, NULL,
	  "send requests whose path starts with PREFIX to these http:// backends, round-robin "
	  "(repeatable)", CFG(proxy), 0, 0 },
	{ "upstream-keepalive", "N", OPT_COUNT, "32",
	  "idle connections kept per backend per worker (a burst may leave up to four times as "
	  "many, kept 1 s at most); 0 = no reuse",
	  CFG(upstream_keepalive), 100000, 0 },
	{ "upstream-idle-timeout", "SEC|auto", OPT_DURATION_OR_AUTO, "auto",
	  "longest idle time of a pooled backend connection; auto: what the backend says in "
	  "Keep-Alive, else what its closes teach, else 4",
	  CFG(upstream_idle_timeout), DAY_MS, 1 },
	{ "upstream-connect-timeout", "SEC", OPT_DURATION, "5", "time to connect to a backend",
	  CFG(upstream_connect_timeout), DAY_MS, 1 },
	{ "upstream-timeout", "SEC", OPT_DURATION, "60",
	  "time to a backend's response head, and the longest stall of a proxied exchange",
	  CFG(upstream_timeout), DAY_MS, 1 },
	{ "tunnel-idle-timeout", "SEC", OPT_DURATION, "3600",
	  "longest silence of an upgraded (WebSocket) connection", CFG(tunnel_idle_timeout),
	  DAY_MS, 1 },
	{ "config", "FILE", OPT_CONFIG, NULL,
	  "read 'name = value' lines (long option names, # comments); the command line wins",
	  CFG(config_file), 0, 0 },
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

/* Where a value came from, for messages: "--name" or "FILE:LINE: name". */
struct origin {
	const char *file;  /* NULL: the command line */
	unsigned line;
};

static void complain(FILE *err, const struct origin *o, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void complain(FILE *err, const struct origin *o, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (o->file)
		fprintf(err, "kahttpd: %s:%u: %s: ", o->file, o->line, name);
	else
		fprintf(err, "kahttpd: --%s: ", name);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fputc('\n', err);
}

static const struct option_def *find_option(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (strlen(options[i].name) == len && memcmp(options[i].name, name, len) == 0)
			return &options[i];
	return NULL;
}

/* Seconds with an optional fraction ("75", "0.5"), to ms; no sign, no exponent. */
static int parse_duration(const char *s, uint64_t max, int64_t *out)
{
	const char *p = s;
	double v;

	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p)
		return -1;
	v = strtod(s, NULL) * 1000.0;
	if (!(v <= (double)max))
		return -1;
	*out = (int64_t)llround(v);
	return 0;
}

static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}

/* Parses HOST:PORT into l; -1 (with a message) when it is not one. */
static int parse_listen(struct ka_listen *l, const char *value, const struct origin *from,
                        const struct option_def *o, FILE *err)
{
	if (ka_sock_parse_addr(value, &l->addr, &l->addr_len) < 0) {
		complain(err, from, o->name,
		         "invalid address '%s' (HOST:PORT or [IPV6]:PORT, port 0-65535)", value);
		return -1;
	}
	snprintf(l->text, sizeof(l->text), "%s", value);
	return 0;
}

/* The HTTPS options: set_option's cases for them. */
static int set_tls_option(struct ka_config *c, const struct option_def *o, const char *value,
                          const struct origin *from, FILE *err)
{
	char *field = (char *)c + o->offset;

	switch (o->type) {
	case OPT_TLS_LISTEN:
		if (strcmp(value, "off") == 0) {
			c->n_tls_listen = 0;
			return 0;
		}
		if (c->n_tls_listen == KA_MAX_LISTENERS) {
			complain(err, from, o->name, "too many listeners (at most %d)", KA_MAX_LISTENERS);
			return -1;
		}
		return parse_listen(&c->tls_listen[c->n_tls_listen++], value, from, o, err);
	case OPT_TLS_CERT:
	case OPT_TLS_KEY: {
		char **files = o->type == OPT_TLS_CERT ? c->tls_cert : c->tls_key;
		unsigned *n = o->type == OPT_TLS_CERT ? &c->n_tls_cert : &c->n_tls_key;

		if (!*value) {
			complain(err, from, o->name, "needs a value");
			return -1;
		}
		if (*n == KA_MAX_CERTS) {
			complain(err, from, o->name, "too many (at most %d)", KA_MAX_CERTS);
			return -1;
		}
		files[(*n)++] = strdup(value);
		return 0;
	}
	case OPT_TLS_PROTOCOLS: {
		struct ka_tls_protocols *p = (struct ka_tls_protocols *)field;

		if (strcmp(value, "1.2,1.3") == 0 || strcmp(value, "1.3,1.2") == 0) {
			p->min = 0x0303;
			p->max = 0x0304;
		} else if (strcmp(value, "1.2") == 0 || strcmp(value, "1.3") == 0) {
			p->min = p->max = value[2] == '2' ? 0x0303 : 0x0304;
		} else {
			complain(err, from, o->name, "invalid value '%s' (1.2, 1.3 or 1.2,1.3)", value);
			return -1;
		}
		return 0;
	}
	default:
		return -1;
	}
}

/* The reverse proxy's options with a syntax of their own: set_option's cases. */
static int set_proxy_option(struct ka_config *c, const struct option_def *o, const char *value,
                            const struct origin *from, FILE *err)
{
	int64_t *ms = (int64_t *)((char *)c + o->offset);
	char why[256];

	if (o->type == OPT_PROXY) {
		if (ka_config_add_proxy(c, value, why, sizeof(why)) < 0) {
			complain(err, from, o->name, "%s", why);
			return -1;
		}
		return 0;
	}
	if (strcmp(value, "auto") == 0) {  /* OPT_DURATION_OR_AUTO */
		*ms = KA_UPSTREAM_IDLE_AUTO;
		return 0;
	}
	if (parse_duration(value, o->max, ms) < 0 || *ms < 1) {
		complain(err, from, o->name,
		         "invalid value '%s' (seconds, more than 0, e.g. 5 or 0.5; or auto)", value);
		return -1;
	}
	return 0;
}

/* The options with a syntax of their own: set_option's cases for them. */
static int set_other_option(const struct option_def *o, char *field, const char *value,
                            const struct origin *from, FILE *err)
{
	uint64_t n;

	switch (o->type) {
	case OPT_TCP_KEEPALIVE: {
		struct ka_tcp_keepalive *k = (struct ka_tcp_keepalive *)field;
		unsigned idle, intvl, cnt;
		int end = 0;

		if (strcmp(value, "off") == 0) {
			k->idle = k->intvl = k->cnt = 0;
			return 0;
		}
		/* Kernel limits (tcp(7)): idle and interval up to 32767 s, count up to 127. */
		if (sscanf(value, "%5u:%5u:%3u%n", &idle, &intvl, &cnt, &end) != 3 ||
		    value[end] || !isdigit((unsigned char)value[0]) || idle < 1 || idle > 32767 ||
		    intvl < 1 || intvl > 32767 || cnt < 1 || cnt > 127) {
			complain(err, from, o->name,
			         "invalid value '%s' (IDLE:INTVL:CNT, e.g. 60:10:6, seconds 1-32767, "
			         "count 1-127; or off)", value);
			return -1;
		}
		k->idle = (int)idle;
		k->intvl = (int)intvl;
		k->cnt = (int)cnt;
		return 0;
	}
	case OPT_FRACTION: {
		char *end;
		double v;

		errno = 0;
		v = strtod(value, &end);
		if (!isdigit((unsigned char)value[0]) || *end || errno || !(v >= 0.0 && v <= 1.0)) {
			complain(err, from, o->name, "invalid value '%s' (a number from 0 to 1, e.g. 0.75)",
			         value);
			return -1;
		}
		*(double *)field = v;
		return 0;
	}
	case OPT_MS_OR_OFF:
		if (strcmp(value, "off") == 0) {
			*(unsigned *)field = 0;
			return 0;
		}
		if (parse_count(value, o->max, &n) < 0 || n == 0) {
			complain(err, from, o->name,
			         "invalid value '%s' (milliseconds from 1 to %llu, or off)", value,
			         (unsigned long long)o->max);
			return -1;
		}
		*(unsigned *)field = (unsigned)n;
		return 0;
	case OPT_ADDR_OR_OFF: {
		struct ka_listen *l = (struct ka_listen *)field;

		l->text[0] = '\0';
		if (strcmp(value, "off") == 0)
			return 0;
		if (ka_sock_parse_addr(value, &l->addr, &l->addr_len) < 0) {
			complain(err, from, o->name,
			         "invalid address '%s' (HOST:PORT or [IPV6]:PORT, port 0-65535, or off)",
			         value);
			return -1;
		}
		snprintf(l->text, sizeof(l->text), "%s", value);
		return 0;
	}
	default:
		return -1;
	}
}

/* Stores one option's value. listen_reset tells a first --listen from the command
 * line to replace the default and the file's addresses rather than add to them. */
static int set_option(struct ka_config *c, const struct option_def *o, const char *value,
                      const struct origin *from, bool *listen_reset, FILE *err)
{
	char *field = (char *)c + o->offset;
	uint64_t n;

	switch (o->type) {
	case OPT_DURATION:
		if (parse_duration(value, o->max, (int64_t *)field) < 0 ||
		    *(int64_t *)field < (int64_t)o->min) {
			complain(err, from, o->name,
			         "invalid duration '%s' (seconds%s, decimals allowed, e.g. 5 or 0.5)",
			         value, o->min ? ", more than 0" : "");
			return -1;
		}
		return 0;
	case OPT_COUNT:
	case OPT_WORKERS:
		if (parse_count(value, o->max, &n) < 0 || n < o->min) {
			complain(err, from, o->name, "invalid number '%s' (a whole number from %llu to %llu)",
			         value, (unsigned long long)o->min, (unsigned long long)o->max);
			return -1;
		}
		if (o->type == OPT_WORKERS)
			*(unsigned *)field = (unsigned)n;
		else
			*(uint64_t *)field = n;
		return 0;
	case OPT_PATH_OR_OFF:
		free(*(char **)field);
		*(char **)field = NULL;
		if (strcmp(value, "off") == 0)
			return 0;
		/* fall through */
	case OPT_PATH:
	case OPT_CONFIG:
		if (!*value) {
			complain(err, from, o->name, "needs a value");
			return -1;
		}
		free(*(char **)field);
		*(char **)field = strdup(value);
		return 0;
	case OPT_FLAG:
		if (parse_bool(value, (bool *)field) < 0) {
			complain(err, from, o->name, "invalid value '%s' (true or false)", value);
			return -1;
		}
		return 0;
	case OPT_TCP_KEEPALIVE:
	case OPT_FRACTION:
	case OPT_MS_OR_OFF:
	case OPT_ADDR_OR_OFF:
		return set_other_option(o, field, value, from, err);
	case OPT_PROXY:
	case OPT_DURATION_OR_AUTO:
		return set_proxy_option(c, o, value, from, err);
	case OPT_TLS_LISTEN:
	case OPT_TLS_CERT:
	case OPT_TLS_KEY:
	case OPT_TLS_PROTOCOLS:
		return set_tls_option(c, o, value, from, err);
	case OPT_LISTEN:
		if (*listen_reset) {
			c->n_listen = 0;
			*listen_reset = false;
		}
		if (c->n_listen == KA_MAX_LISTENERS) {
			complain(err, from, o->name, "too many listeners (at most %d)", KA_MAX_LISTENERS);
			return -1;
		}
		if (parse_listen(&c->listen[c->n_listen], value, from, o, err) < 0)
			return -1;
		c->n_listen++;
		return 0;
	}
	return -1;
}

static void set_defaults(struct ka_config *c)
{
	struct origin from = { "(built-in default)", 0 };
	bool reset = false;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NOPTIONS; i++) {
		if (!options[i].def || options[i].type == OPT_WORKERS)
			continue;  /* workers: 0 until resolved to the CPU count by the caller */
		if (set_option(c, &options[i], options[i].def, &from, &reset, stderr) < 0)
			abort();  /* a broken default is a build bug */
	}
}

char *ka_config_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int load_file(struct ka_config *c, const char *path, FILE *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	struct origin from = { path, 0 };
	bool reset = true;  /* the file's listeners replace the default */
	int rc = 0;

	if (!f) {
		fprintf(err, "kahttpd: --config: cannot read '%s': %s\n", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && getline(&line, &cap, f) >= 0) {
		char *hash, *eq, *name, *value;
		const struct option_def *o;

		from.line++;
		if ((hash = strchr(line, '#')))
			*hash = '\0';
		name = ka_config_trim(line);
		if (!*name)
			continue;
		eq = strchr(name, '=');
		if (!eq) {
			fprintf(err, "kahttpd: %s:%u: expected 'name = value'\n", path, from.line);
			rc = -1;
			break;
		}
		*eq = '\0';
		name = ka_config_trim(name);
		value = ka_config_trim(eq + 1);
		o = find_option(name, strlen(name));
		if (!o || o->type == OPT_CONFIG) {
			fprintf(err, "kahttpd: %s:%u: unknown option '%s'\n", path, from.line, name);
			rc = -1;
			break;
		}
		rc = set_option(c, o, value, &from, &reset, err);
	}
	if (rc == 0 && ferror(f)) {
		fprintf(err, "kahttpd: --config: cannot read '%s': %s\n", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

static int help_left(const struct option_def *o, char *buf, size_t len)
{
	return snprintf(buf, len, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

/* One line per option: "--name ARG", two spaces at least, the help, the default in
 * brackets. tests/e2e/test_options_doc.py reads this and compares it with README's
 * table, so the layout is part of the interface. */
static void print_help(FILE *out)
{
	char left[64];
	int width = (int)strlen("--version");

	for (size_t i = 0; i < NOPTIONS; i++) {
		int n = help_left(&options[i], left, sizeof(left));

		if (n > width)
			width = n;
	}
	fprintf(out, "usage: kahttpd [options]\n\n"
	             "An HTTP/1.1 server that gets persistent connections right.\n\n"
	             "options (default in brackets):\n");
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_def *o = &options[i];

		help_left(o, left, sizeof(left));
		fprintf(out, "  %-*s  %s [%s]\n", width, left, o->help, o->def ? o->def : "none");
	}
	fprintf(out, "  %-*s  %s\n  %-*s  %s\n", width, "--help", "show this help and exit", width,
	        "--version", "show the version and exit");
}

/* Splits "--name=value" or "--name value"; returns the option or NULL (message given). */
static const struct option_def *read_arg(int argc, char **argv, int *i, const char **value,
                                         FILE *err)
{
	const char *arg = argv[*i];
	const char *eq;
	const struct option_def *o;

	if (strncmp(arg, "--", 2) != 0) {
		fprintf(err, "kahttpd: unexpected argument '%s' (options start with --)\n", arg);
		return NULL;
	}
	arg += 2;
	eq = strchr(arg, '=');
	o = find_option(arg, eq ? (size_t)(eq - arg) : strlen(arg));
	if (!o) {
		fprintf(err, "kahttpd: unknown option '%s' (see --help)\n", argv[*i]);
		return NULL;
	}
	if (o->type == OPT_FLAG) {
		*value = eq ? eq + 1 : "true";
	} else if (eq) {
		*value = eq + 1;
	} else if (*i + 1 < argc) {
		*value = argv[++*i];
	} else {
		fprintf(err, "kahttpd: --%s: missing value (%s)\n", o->name, o->arg);
		return NULL;
	}
	return o;
}

/* What only the options together can say: certificates and keys come in pairs, and an
 * HTTPS listener needs one. Whether the files hold what they should is tls.c's. */
static int check_tls(const struct ka_config *c, FILE *err)
{
	if (c->n_tls_cert != c->n_tls_key) {
		fprintf(err, "kahttpd: --tls-key: %u certificate(s) but %u key(s): give them in pairs\n",
		        c->n_tls_cert, c->n_tls_key);
		return -1;
	}
	if (c->n_tls_listen && c->n_tls_cert == 0) {
		fprintf(err, "kahttpd: --tls-listen: needs a certificate (--tls-cert FILE --tls-key FILE)\n");
		return -1;
	}
	return 0;
}

enum ka_config_result ka_config_load(struct ka_config *c, int argc, char **argv, FILE *out,
                                     FILE *err)
{
	struct origin cmdline = { NULL, 0 };
	bool listen_reset = true;

	set_defaults(c);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_help(out);
			return KA_CONFIG_EXIT;
		}
		if (strcmp(argv[i], "--version") == 0) {
			fprintf(out, "kahttpd 0.1\n");
			return KA_CONFIG_EXIT;
		}
	}

	/* First pass: the config file, so that the command line can override it. */
	for (int i = 1; i < argc; i++) {
		const char *value;
		const struct option_def *o = read_arg(argc, argv, &i, &value, err);

		if (!o)
			return KA_CONFIG_ERROR;
		if (o->type == OPT_CONFIG) {
			if (set_option(c, o, value, &cmdline, &listen_reset, err) < 0 ||
			    load_file(c, c->config_file, err) < 0)
				return KA_CONFIG_ERROR;
		}
	}
	for (int i = 1; i < argc; i++) {
		const char *value;
		const struct option_def *o = read_arg(argc, argv, &i, &value, err);

		if (o->type != OPT_CONFIG &&
		    set_option(c, o, value, &cmdline, &listen_reset, err) < 0)
			return KA_CONFIG_ERROR;
	}
	return check_tls(c, err) < 0 ? KA_CONFIG_ERROR : KA_CONFIG_OK;
}

void ka_config_free(struct ka_config *c)
{
	free(c->root);
	free(c->config_file);
	free(c->access_log);
	free(c->pid_file);
	free(c->user);
	c->root = c->config_file = c->access_log = c->pid_file = c->user = NULL;
	for (unsigned i = 0; i < c->n_tls_cert; i++)
		free(c->tls_cert[i]);
	for (unsigned i = 0; i < c->n_tls_key; i++)
		free(c->tls_key[i]);
	c->n_tls_cert = c->n_tls_key = 0;
	ka_config_free_proxies(c);
}
