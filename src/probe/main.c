/*
 * kaprobe's command line: `kaprobe [options] URL` runs the persistence checks,
 * `kaprobe bench [options] URL` the keep-alive versus new-connection benchmark. One
 * table of options, in kahttpd's shape (name, placeholder, default as text, help, where
 * the value goes), drives the parsing, the defaults and --help, so they cannot
 * disagree; docs/kaprobe.md's tables are checked against --help by the tests. Each
 * value is checked, a bad one named in the message (exit code 2). Then the URL is
 * parsed, checks.c or bench.c runs, and report.c prints. Exit codes: 0 when everything
 * ran, 1 when the server could not be reached, failed TLS (or its verification) or
 * did not answer with HTTP, 2 for bad usage (a --cacert file that cannot be loaded
 * too).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/http_chars.h"
#include "core/util.h"
#include "probe/probe.h"

enum { EXIT_OK = 0, EXIT_SERVER = 1, EXIT_USAGE = 2 };

/* What one run of kaprobe was asked to do. */
#define URLS_MAX 16

struct cli {
	bool json;                   /* --json */
	bool markdown;               /* --markdown */
	bool insecure;               /* --insecure */
	const char *cacert;          /* --cacert FILE, NULL: the system store */
	const char *url;             /* the first of urls */
	const char *urls[URLS_MAX];
	int nurls;
	struct kp_probe_opts probe;  /* kaprobe URL, chain, compare */
	struct kp_chain_opts chain;  /* kaprobe chain */
	struct kp_bench_opts bench;  /* kaprobe bench URL */
};

enum command {
	CMD_PROBE = 1 << 0,
	CMD_BENCH = 1 << 1,
	CMD_CHAIN = 1 << 2,
	CMD_COMPARE = 1 << 3,
};

#define CMD_PROBES (CMD_PROBE | CMD_CHAIN | CMD_COMPARE)

enum opt_type {
	OPT_FLAG,     /* no value; sets a bool */
	OPT_SECONDS,  /* seconds, decimals allowed, 0 < SEC <= 86400, stored as int64 ms */
	OPT_COUNT,    /* a whole number from min to max, stored as int64 */
	OPT_CHECKS,   /* CHECK,... (names or JSON keys), stored as an unsigned bit mask */
	OPT_FILE,     /* a file name, stored as const char *; read when the run starts */
	OPT_METHOD,   /* an HTTP method (a token, RFC 9110 9.1), stored as const char * */
};

struct option_def {
	const char *name;  /* without the leading dashes */
	const char *arg;   /* placeholder shown in --help, NULL for flags */
	enum opt_type type;
	const char *def;   /* default as text, parsed like user input (flags and checks: words) */
	const char *help;  /* OPT_CHECKS: the list of checks is appended */
	unsigned commands; /* the commands that take it */
	size_t offset;     /* into struct cli */
	int64_t min, max;  /* bounds of an OPT_COUNT */
};

#define CLI(field) offsetof(struct cli, field)

/* An option two commands take with different meanings has one row per command. */
static const struct option_def options[] = {
	{ "json", NULL, OPT_FLAG, "off", "one JSON object instead of the table", CMD_PROBES,
	  CLI(json), 0, 0 },
	{ "markdown", NULL, OPT_FLAG, "off", "the report as Markdown instead of the table",
	  CMD_PROBES, CLI(markdown), 0, 0 },
	{ "only", "CHECK,...", OPT_CHECKS, "all",
	  "run only these checks (or a JSON key they fill, such as idle_timeout_s):",
	  CMD_PROBE | CMD_COMPARE, CLI(probe.only), 0, 0 },
	{ "max-wait", "SEC", OPT_SECONDS, "120",
	  "longest wait for the server to close an idle connection, or for its TCP keepalive "
	  "probes", CMD_PROBES, CLI(probe.max_wait_ms), 0, 0 },
	{ "max-requests", "N", OPT_COUNT, "1000",
	  "stop counting requests on one connection after N", CMD_PROBES, CLI(probe.max_requests),
	  1, 10000000 },
	{ "timeout", "SEC", OPT_SECONDS, "10", "longest wait for one response", CMD_PROBES,
	  CLI(probe.timeout_ms), 0, 0 },
	{ "connections", "N", OPT_COUNT, "16", "the most connections open at once", CMD_PROBES,
	  CLI(probe.connections), 1, 1000 },
	{ "demonstrate", "N", OPT_COUNT, "0",
	  "then send N requests through the front, each after an idle gap around the backend's "
	  "idle timeout, and count the failures; 0: no demonstration", CMD_CHAIN,
	  CLI(chain.demonstrate), 0, 10000 },
	{ "method", "METHOD", OPT_METHOD, "POST",
	  "the demonstration's method (a small body unless GET or HEAD)", CMD_CHAIN,
	  CLI(chain.method), 0, 0 },

	{ "json", NULL, OPT_FLAG, "off",
	  "{\"keepalive\": RUN, \"new_connection\": RUN, \"speedup\": X} instead of the table "
	  "(https adds \"new_connection_resumed\": RUN, \"speedup_vs_resumed\": X)",
	  CMD_BENCH, CLI(json), 0, 0 },
	{ "requests", "N", OPT_COUNT, "1000", "requests per run", CMD_BENCH, CLI(bench.requests),
	  1, 1000000 },
	{ "concurrency", "C", OPT_COUNT, "4", "requests in flight at once, one per connection",
	  CMD_BENCH, CLI(bench.concurrency), 1, 1000 },
	{ "timeout", "SEC", OPT_SECONDS, "10",
	  "longest wait for one response, or for the server's FIN when a connection ends", CMD_BENCH,
	  CLI(bench.timeout_ms), 0, 0 },
	{ "time-limit", "SEC", OPT_SECONDS, "60", "a run stops after this long, done or not",
	  CMD_BENCH, CLI(bench.time_limit_ms), 0, 0 },

	/* Every command, last in each. */
	{ "insecure", NULL, OPT_FLAG, "off",
	  "https: do not verify the server's certificate or name", CMD_PROBES | CMD_BENCH,
	  CLI(insecure), 0, 0 },
	{ "cacert", "FILE", OPT_FILE, "system",
	  "https: trust the PEM certificates in FILE instead of the system store",
	  CMD_PROBES | CMD_BENCH, CLI(cacert), 0, 0 },
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static const struct {
	enum command id;
	const char *name;   /* argv[1], NULL for the probe */
	const char *usage;  /* the start of its usage line */
	const char *args;   /* its arguments */
	int min_urls, max_urls;
	const char *about;  /* the heading of its options in --help */
} commands[] = {
	{ CMD_PROBE, NULL, "kaprobe", "URL", 1, 1,
	  "probe options (all checks run at once; the probe lasts about twice the server's "
	  "idle timeout; default in brackets):" },
	{ CMD_BENCH, "bench", "kaprobe bench", "URL", 1, 1,
	  "bench options (the same load over persistent connections, then with a new connection "
	  "per request, and for https a new connection per request that resumes the TLS "
	  "session; default in brackets):" },
	{ CMD_CHAIN, "chain", "kaprobe chain", "FRONT_URL BACKEND_URL", 2, 2,
	  "chain options (a proxy or load balancer FRONT_URL before BACKEND_URL: both probed, "
	  "the backend directly; default in brackets):" },
	{ CMD_COMPARE, "compare", "kaprobe compare", "URL URL...", 2, URLS_MAX,
	  "compare options (every check against each URL, one column per server; default in "
	  "brackets):" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kaprobe: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(kaprobe --help shows the options)\n");
	return EXIT_USAGE;
}

/* ---- values ------------------------------------------------------------------------------ */

/* A duration in seconds, decimals allowed, in (0, 86400]; returns ms or -1. */
static int64_t parse_seconds(const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || errno || !isfinite(v) || v <= 0 || v > 86400)
		return -1;
	int64_t ms = (int64_t)llround(v * 1000.0);
	return ms < 1 ? 1 : ms;
}

/* A whole number in [min, max]; returns it or -1. */
static int64_t parse_count(const char *s, int64_t min, int64_t max)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end != '\0' || errno || v < min || v > max)
		return -1;
	return v;
}

/* "persistent_http11, http10_keepalive, ...": what --only accepts by name. */
static const char *check_list(void)
{
	static char list[512];
	size_t used = 0;

	for (int i = 0; i < KP_CHECK_COUNT && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
		                         kp_check_name((enum kp_check)i));
	return list;
}

static int parse_only(const char *list, unsigned *mask)
{
	*mask = 0;
	for (const char *p = list;;) {
		size_t n = strcspn(p, ",");
		int id = kp_check_lookup(p, n);
		if (id < 0)
			return usage_error("--only: unknown check \"%.*s\"; the checks are %s (or a JSON "
			                   "key they fill)", (int)KA_MIN(n, 60), p, check_list());
		*mask |= 1u << id;
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

/* RFC 9110 9.1: method = token; kept short, it goes on a request line. */
static bool is_method(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return false;
	for (; *s; s++)
		if (!ka_tchar[(unsigned char)*s])
			return false;
	return true;
}

/* Stores one option's value; 0, or EXIT_USAGE with a message naming the option. */
static int set_option(struct cli *cli, const struct option_def *o, const char *value)
{
	char *field = (char *)cli + o->offset;
	int64_t n;

	switch (o->type) {
	case OPT_FLAG:
		*(bool *)field = true;
		return 0;
	case OPT_SECONDS:
		if ((n = parse_seconds(value)) < 0)
			return usage_error("--%s: expected seconds (0 < SEC <= 86400), got \"%s\"", o->name,
			                   value);
		*(int64_t *)field = n;
		return 0;
	case OPT_COUNT:
		if ((n = parse_count(value, o->min, o->max)) < 0)
			return usage_error("--%s: expected a whole number from %lld to %lld, got \"%s\"",
			                   o->name, (long long)o->min, (long long)o->max, value);
		*(int64_t *)field = n;
		return 0;
	case OPT_CHECKS:
		return parse_only(value, (unsigned *)field);
	case OPT_FILE:
		if (value[0] == '\0')
			return usage_error("--%s: expected a file name", o->name);
		*(const char **)field = value;
		return 0;
	case OPT_METHOD:
		if (!is_method(value))
			return usage_error("--%s: expected an HTTP method such as POST (a token of at "
			                   "most 32 characters), got \"%s\"", o->name, value);
		*(const char **)field = value;
		return 0;
	}
	return EXIT_USAGE;
}

/* The defaults of one command, from the table's text, parsed like user input. */
static void set_defaults(struct cli *cli, enum command cmd)
{
	memset(cli, 0, sizeof(*cli));
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_def *o = &options[i];

		if (!(o->commands & cmd) || o->type == OPT_FLAG || o->type == OPT_FILE)
			continue;  /* flags start false ("off"), files NULL ("system") */
		if (o->type == OPT_METHOD)
			*(const char **)((char *)cli + o->offset) = o->def;
		if (o->type == OPT_CHECKS)
			*(unsigned *)((char *)cli + o->offset) = (1u << KP_CHECK_COUNT) - 1;  /* "all" */
		else if (o->type != OPT_METHOD && set_option(cli, o, o->def) != 0)
			abort();  /* a broken default is a build bug */
	}
}

/* ---- the command line ------------------------------------------------------------------------ */

static const struct option_def *find_option(const char *arg, size_t len, enum command cmd)
{
	if (len < 2 || arg[0] != '-' || arg[1] != '-')
		return NULL;
	for (size_t i = 0; i < NOPTIONS; i++)
		if ((options[i].commands & cmd) && strlen(options[i].name) == len - 2 &&
		    memcmp(options[i].name, arg + 2, len - 2) == 0)
			return &options[i];
	return NULL;
}

/* Reads argv[first..] into cli: options ("--name value" or "--name=value") and one URL. */
static size_t command_index(enum command cmd)
{
	size_t c = 0;

	while (c + 1 < NCOMMANDS && commands[c].id != cmd)
		c++;
	return c;
}

/* Reads argv[first..] into cli: options ("--name value" or "--name=value") and the
 * command's URLs. */
static int read_args(struct cli *cli, enum command cmd, int argc, char **argv, int first)
{
	const typeof(commands[0]) *command = &commands[command_index(cmd)];
	char prefix[32] = "";

	if (command->name != NULL)
		snprintf(prefix, sizeof(prefix), "%s: ", command->name);
	set_defaults(cli, cmd);
	for (int i = first; i < argc; i++) {
		const char *arg = argv[i];
		if (arg[0] != '-' || arg[1] == '\0') {
			if (cli->nurls == command->max_urls && command->max_urls == 1)
				return usage_error("more than one URL (\"%s\" and \"%s\")", cli->url, arg);
			if (cli->nurls == command->max_urls)
				return usage_error("%smore than %d URLs (\"%s\")", prefix, command->max_urls,
				                   arg);
			cli->urls[cli->nurls++] = arg;
			cli->url = cli->urls[0];
			continue;
		}
		size_t len = strcspn(arg, "=");
		const struct option_def *o = find_option(arg, len, cmd);
		const char *value = NULL;
		if (o == NULL)
			return usage_error("%sunknown option %.*s", prefix, (int)KA_MIN(len, 60), arg);
		if (o->type == OPT_FLAG && arg[len] == '=')
			return usage_error("--%s takes no value", o->name);
		if (arg[len] == '=')
			value = arg + len + 1;
		else if (o->type != OPT_FLAG && i + 1 < argc)
			value = argv[++i];
		else if (o->type != OPT_FLAG)
			return usage_error("--%s needs a value", o->name);
		if (set_option(cli, o, value) != 0)
			return EXIT_USAGE;
	}
	if (cli->nurls == 0)
		return usage_error("%smissing URL", prefix);
	if (cli->nurls < command->min_urls)
		return usage_error("%sexpected %s, got %d URL%s", prefix, command->args, cli->nurls,
		                   cli->nurls == 1 ? "" : "s");
	if (cli->json && cli->markdown)
		return usage_error("--json and --markdown: choose one");
	return EXIT_OK;
}

/* ---- --help, generated from the table ---------------------------------------------------- */

#define HELP_WIDTH 80

/* Words printed with wrapping at HELP_WIDTH; a wrapped line starts at column indent. */
struct wrap {
	FILE *out;
	int col, indent;
	bool fresh;  /* nothing on this line yet: no space before the next word */
};

static void wrap_put(struct wrap *w, const char *word, size_t len)
{
	if (!w->fresh && w->col + 1 + (int)len > HELP_WIDTH) {
		fprintf(w->out, "\n%*s", w->indent, "");
		w->col = w->indent;
		w->fresh = true;
	}
	if (!w->fresh) {
		fputc(' ', w->out);
		w->col++;
	}
	fwrite(word, 1, len, w->out);
	w->col += (int)len;
	w->fresh = false;
}

static void wrap_words(struct wrap *w, const char *text)
{
	for (const char *p = text + strspn(text, " "); *p; p += strspn(p, " ")) {
		size_t n = strcspn(p, " ");
		wrap_put(w, p, n);
		p += n;
	}
}

static int help_left(const struct option_def *o, char *buf, size_t len)
{
	return snprintf(buf, len, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

/* "usage: kaprobe [--json] [--only CHECK,...] ... URL", one line per command. */
static void print_usage(FILE *out)
{
	for (size_t c = 0; c < NCOMMANDS; c++) {
		struct wrap w = { out, 0, 15, false };
		char item[80];

		w.col = fprintf(out, "%s%s", c == 0 ? "usage: " : "       ", commands[c].usage);
		for (size_t i = 0; i < NOPTIONS; i++) {
			if (!(options[i].commands & commands[c].id))
				continue;
			item[0] = '[';
			help_left(&options[i], item + 1, sizeof(item) - 2);
			strcat(item, "]");
			wrap_put(&w, item, strlen(item));
		}
		wrap_words(&w, commands[c].args);
		fputc('\n', out);
	}
}

/* One entry per option: "  --name ARG", two spaces at least, the help, the default in
 * brackets; wrapped lines are indented further. tests/e2e/optdoc.py reads this. */
static void print_help(FILE *out)
{
	char left[64];
	int width = 0;

	for (size_t i = 0; i < NOPTIONS; i++)
		width = KA_MAX(width, help_left(&options[i], left, sizeof(left)));
	print_usage(out);
	fputs("\nMeasures how an HTTP server treats persistent connections (HTTP keep-alive), over\n"
	      "real TCP connections. URL is http://HOST[:PORT][/PATH] or https://...; the path\n"
	      "defaults to /. https verifies the server's certificate against the system store.\n",
	      out);
	for (size_t c = 0; c < NCOMMANDS; c++) {
		struct wrap heading = { out, 0, 0, true };

		fputc('\n', out);
		wrap_words(&heading, commands[c].about);
		fputc('\n', out);
		for (size_t i = 0; i < NOPTIONS; i++) {
			const struct option_def *o = &options[i];
			struct wrap w = { out, 0, width + 4, true };

			if (!(o->commands & commands[c].id))
				continue;
			help_left(o, left, sizeof(left));
			w.col = fprintf(out, "  %-*s  ", width, left);
			wrap_words(&w, o->help);
			if (o->type == OPT_CHECKS)
				wrap_words(&w, check_list());
			snprintf(left, sizeof(left), "[%s]", o->def);
			wrap_put(&w, left, strlen(left));
			fputc('\n', out);
		}
	}
	fputs("\nexit codes: 0 everything ran (tcp_keepalive without CAP_NET_RAW too, with a null\n"
	      "result); 1 a server could not be reached, failed the TLS handshake or its\n"
	      "verification, or did not answer with HTTP; 2 bad usage.\n", out);
}

/* ---- the two commands -------------------------------------------------------------------- */

/* The URL, and for https the TLS context: --cacert is read here, before any
 * connection, so that a bad file is bad usage like any bad value. */
static int resolve(const struct cli *cli, const char *url, struct kp_target *t)
{
	char err[512];
	struct kp_tls_ctx *tls = NULL;

	if (cli->cacert != NULL || strncasecmp(url, "https://", 8) == 0) {
		tls = kp_tls_ctx_new(cli->insecure, cli->cacert, err, sizeof(err));
		if (tls == NULL && cli->cacert != NULL)
			return usage_error("--cacert: %s", err);
		if (tls == NULL) {
			fprintf(stderr, "kaprobe: TLS: %s\n", err);
			return EXIT_SERVER;
		}
	}
	int rc = kp_target_parse(url, t, err, sizeof(err));
	if (rc == 0 && t->is_tls)
		t->tls = tls;
	else
		kp_tls_ctx_free(tls);  /* --cacert with an http:// URL: checked, not needed */
	if (rc == -2)
		return usage_error("%s", err);
	if (rc < 0) {
		fprintf(stderr, "kaprobe: %s\n", err);
		return EXIT_SERVER;
	}
	return EXIT_OK;
}

static enum kp_format format_of(const struct cli *cli)
{
	return cli->json ? KP_JSON : cli->markdown ? KP_MARKDOWN : KP_TABLE;
}

/* Every URL parsed before any connection: a bad one is bad usage, whichever it is. */
static int resolve_all(const struct cli *cli, struct kp_target *t)
{
	for (int i = 0; i < cli->nurls; i++) {
		int rc = resolve(cli, cli->urls[i], &t[i]);
		if (rc != EXIT_OK) {
			for (int k = 0; k < i; k++)
				kp_tls_ctx_free(t[k].tls);
			return rc;
		}
	}
	return EXIT_OK;
}

/* One probe; the fatal message names the URL when more than one is probed. */
static int probe_one(const struct cli *cli, struct kp_probe_opts *o, struct kp_target *t,
                     struct kp_results *res, bool name_url)
{
	char fatal[1024];
	unsigned only = o->only;

	if (!t->is_tls)
		o->only &= ~(1u << KP_TLS_RESUMPTION);
	int rc = kp_probe_run(t, o, res, fatal, sizeof(fatal));
	o->only = only;
	if (rc != 0) {
		fprintf(stderr, "kaprobe: %s%s%s\n", name_url ? t->url : "", name_url ? ": " : "", fatal);
		return EXIT_SERVER;
	}
	/* A null result, exit code 0: the rest of the probe is still worth having. */
	if (res->tcpka_unavailable)
		fprintf(stderr, "kaprobe: tcp_keepalive: %s; its result is null\n",
		        res->evidence[KP_TCP_KEEPALIVE]);
	(void)cli;
	return EXIT_OK;
}

static int main_probe(int argc, char **argv)
{
	struct cli cli;
	static struct kp_target t;
	static struct kp_results res;
	int rc = read_args(&cli, CMD_PROBE, argc, argv, 1);

	if (rc == EXIT_OK)
		rc = resolve(&cli, cli.url, &t);
	if (rc != EXIT_OK)
		return rc;
	if (!t.is_tls && cli.probe.only == 1u << KP_TLS_RESUMPTION) {
		kp_tls_ctx_free(t.tls);
		return usage_error("--only: tls_resumption needs an https:// URL");
	}
	rc = probe_one(&cli, &cli.probe, &t, &res, false);
	kp_tls_ctx_free(t.tls);
	if (rc != EXIT_OK)
		return rc;
	if (cli.json)
		kp_report_probe_json(stdout, &res);
	else if (cli.markdown)
		kp_report_probe_markdown(stdout, &t, &res);
	else
		kp_report_probe_table(stdout, &t, &res);
	return EXIT_OK;
}

/* What the chain compares: a side's idle timeout, request cap and Keep-Alive. */
#define CHAIN_CHECKS ((1u << KP_KEEP_ALIVE_HEADER) | (1u << KP_IDLE_TIMEOUT) | \
                      (1u << KP_MAX_REQUESTS) | (1u << KP_ADVERTISED))

static int main_chain(int argc, char **argv)
{
	struct cli cli;
	static struct kp_target t[2];
	static struct kp_results res[2];
	static struct kp_chain_demo demo;
	struct kp_findings findings;
	char fatal[1024];
	int rc = read_args(&cli, CMD_CHAIN, argc, argv, 2);

	if (rc == EXIT_OK)
		rc = resolve_all(&cli, t);
	if (rc != EXIT_OK)
		return rc;
	cli.probe.only = CHAIN_CHECKS;
	cli.chain.timeout_ms = cli.probe.timeout_ms;
	for (int i = 0; i < 2 && rc == EXIT_OK; i++)
		rc = probe_one(&cli, &cli.probe, &t[i], &res[i], true);
	memset(&demo, 0, sizeof(demo));
	if (rc == EXIT_OK && cli.chain.demonstrate > 0) {
		if (!res[1].idle_closed_by_server)
			snprintf(demo.why_not, sizeof(demo.why_not), "the backend's idle timeout is unknown "
			         "(still open at --max-wait)");
		else if (res[1].idle_timeout_s < 0.1)
			snprintf(demo.why_not, sizeof(demo.why_not), "the backend closes right after a "
			         "response: nothing to race");
		else if (kp_chain_demonstrate(&t[0], &cli.chain, res[1].idle_timeout_s, &demo, fatal,
		                              sizeof(fatal)) != 0) {
			fprintf(stderr, "kaprobe: %s: %s\n", t[0].url, fatal);
			rc = EXIT_SERVER;
		}
	}
	kp_tls_ctx_free(t[0].tls);
	kp_tls_ctx_free(t[1].tls);
	if (rc != EXIT_OK)
		return rc;
	enum kp_chain_verdict v = kp_chain_judge(&res[0], &res[1],
	                                         (double)cli.probe.max_wait_ms / 1000.0, &demo,
	                                         &findings);
	kp_report_chain(stdout, format_of(&cli), &t[0], &t[1], &res[0], &res[1], v, &demo,
	                cli.chain.method, &findings);
	return EXIT_OK;
}

static int main_compare(int argc, char **argv)
{
	struct cli cli;
	static struct kp_target t[URLS_MAX];
	static struct kp_results res[URLS_MAX];
	const struct kp_target *tp[URLS_MAX];
	const struct kp_results *rp[URLS_MAX];
	int rc = read_args(&cli, CMD_COMPARE, argc, argv, 2);

	if (rc == EXIT_OK)
		rc = resolve_all(&cli, t);
	if (rc != EXIT_OK)
		return rc;
	for (int i = 0; i < cli.nurls; i++)
		if (!t[i].is_tls && cli.probe.only == 1u << KP_TLS_RESUMPTION) {
			for (int k = 0; k < cli.nurls; k++)
				kp_tls_ctx_free(t[k].tls);
			return usage_error("--only: tls_resumption needs an https:// URL (%s)", t[i].url);
		}
	for (int i = 0; i < cli.nurls && rc == EXIT_OK; i++) {
		rc = probe_one(&cli, &cli.probe, &t[i], &res[i], true);
		tp[i] = &t[i];
		rp[i] = &res[i];
	}
	for (int i = 0; i < cli.nurls; i++)
		kp_tls_ctx_free(t[i].tls);
	if (rc != EXIT_OK)
		return rc;
	kp_report_compare(stdout, format_of(&cli), tp, rp, (size_t)cli.nurls);
	return EXIT_OK;
}

static int main_bench(int argc, char **argv)
{
	struct cli cli;
	static struct kp_target t;
	static struct kp_bench_result runs;
	char fatal[1024];
	int rc = read_args(&cli, CMD_BENCH, argc, argv, 2);

	if (rc != EXIT_OK)
		return rc;
	if (cli.bench.concurrency > cli.bench.requests)
		cli.bench.concurrency = cli.bench.requests;
	if ((rc = resolve(&cli, cli.url, &t)) != EXIT_OK)
		return rc;
	rc = kp_bench_run_all(&t, &cli.bench, &runs, fatal, sizeof(fatal));
	kp_tls_ctx_free(t.tls);
	if (rc != 0) {
		fprintf(stderr, "kaprobe: %s\n", fatal);
		return EXIT_SERVER;
	}
	if (cli.json)
		kp_report_bench_json(stdout, &runs);
	else
		kp_report_bench_table(stdout, &t, &cli.bench, &runs);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	/* Writes to a reset connection must fail with EPIPE, not kill us: MSG_NOSIGNAL
	 * covers send(), this covers anything else. */
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_help(stdout);
			return EXIT_OK;
		}
		if (strcmp(argv[i], "--version") == 0) {
			puts("kaprobe " KP_VERSION);
			return EXIT_OK;
		}
	}
	if (argc > 1 && strcmp(argv[1], "bench") == 0)
		return main_bench(argc, argv);
	if (argc > 1 && strcmp(argv[1], "chain") == 0)
		return main_chain(argc, argv);
	if (argc > 1 && strcmp(argv[1], "compare") == 0)
		return main_compare(argc, argv);
	return main_probe(argc, argv);
}
