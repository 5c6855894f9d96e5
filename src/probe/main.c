/*
 * kaprobe's command line: `kaprobe [options] URL` runs the persistence checks,
 * `kaprobe bench [options] URL` the keep-alive versus new-connection benchmark. This
 * file only reads options (each value checked, a bad one named in the message, exit
 * code 2), parses the URL and hands over to checks.c or bench.c, then prints through
 * report.c. Exit codes: 0 when everything ran, 1 when the server could not be reached
 * or did not answer with HTTP, 2 for bad usage.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe/probe.h"

enum { EXIT_OK = 0, EXIT_SERVER = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
	"usage: kaprobe [--json] [--only CHECK,...] [--max-wait SEC] [--max-requests N]\n"
	"               [--timeout SEC] URL\n"
	"       kaprobe bench [--json] [--requests N] [--concurrency C] [--timeout SEC]\n"
	"               [--time-limit SEC] URL\n"
	"\n"
	"Measures how an HTTP server treats persistent connections (HTTP keep-alive), over\n"
	"real TCP connections. URL is http://HOST[:PORT][/PATH]; the path defaults to /.\n"
	"\n"
	"probe options (all checks run at once; the probe lasts about as long as the\n"
	"server's idle timeout):\n"
	"  --json              one JSON object instead of the table\n"
	"  --only CHECK,...    run only these checks: persistent_http11, http10_keepalive,\n"
	"                      http10_default_close, connection_close, keep_alive_header,\n"
	"                      idle_timeout, max_requests, pipelining (or a JSON key\n"
	"                      they fill, such as idle_timeout_s)\n"
	"  --max-wait SEC      longest wait for the server to close an idle connection [120]\n"
	"  --max-requests N    stop counting requests on one connection after N [1000]\n"
	"  --timeout SEC       longest wait for one response [10]\n"
	"\n"
	"bench options (the same load over persistent connections, then with a new\n"
	"connection per request):\n"
	"  --json              {\"keepalive\": RUN, \"new_connection\": RUN, \"speedup\": X}\n"
	"  --requests N        requests per run [1000]\n"
	"  --concurrency C     requests in flight at once, one per connection [4]\n"
	"  --timeout SEC       longest wait for one response [10]\n"
	"  --time-limit SEC    a run stops after this long, done or not [60]\n"
	"\n"
	"exit codes: 0 everything ran; 1 the server could not be reached or did not answer\n"
	"with HTTP; 2 bad usage.\n";

static int usage_error(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "kaprobe: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\n(kaprobe --help shows the options)\n");
	return EXIT_USAGE;
}

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

static int parse_only(const char *list, unsigned *mask)
{
	*mask = 0;
	for (const char *p = list;;) {
		size_t n = strcspn(p, ",");
		int id = kp_check_lookup(p, n);
		if (id < 0) {
			char name[64];
			snprintf(name, sizeof(name), "%.*s", (int)(n < 60 ? n : 60), p);
			return usage_error("--only: unknown check \"%s\"%s; the checks are persistent_http11, "
			                   "http10_keepalive, http10_default_close, connection_close, "
			                   "keep_alive_header, idle_timeout, max_requests, pipelining "
			                   "(or a JSON key they fill)",
			                   name, "");
		}
		*mask |= 1u << id;
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

/* Splits "--name=value"; returns the option's value (the next argument otherwise). */
static const char *option_value(int argc, char **argv, int *i, const char *arg, char *name,
                                size_t name_len)
{
	const char *eq = strchr(arg, '=');
	if (eq != NULL) {
		snprintf(name, name_len, "%.*s", (int)(eq - arg), arg);
		return eq + 1;
	}
	snprintf(name, name_len, "%s", arg);
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static int resolve(const char *url, struct kp_target *t)
{
	char err[512];
	int rc = kp_target_parse(url, t, err, sizeof(err));
	if (rc == -2)
		return usage_error("%s%s", err, "");
	if (rc < 0) {
		fprintf(stderr, "kaprobe: %s\n", err);
		return EXIT_SERVER;
	}
	return EXIT_OK;
}

static int main_probe(int argc, char **argv)
{
	struct kp_probe_opts o = { .only = (1u << KP_CHECK_COUNT) - 1, .max_wait_ms = 120000,
	                           .timeout_ms = 10000, .max_requests = 1000 };
	bool json = false;
	const char *url = NULL;
	static struct kp_target t;
	static struct kp_results res;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		char name[64];
		if (strcmp(arg, "--json") == 0) {
			json = true;
			continue;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			if (url != NULL)
				return usage_error("more than one URL (\"%s\" and \"%s\")", url, arg);
			url = arg;
			continue;
		}
		const char *v = option_value(argc, argv, &i, arg, name, sizeof(name));
		bool known = strcmp(name, "--only") == 0 || strcmp(name, "--max-wait") == 0 ||
		             strcmp(name, "--max-requests") == 0 || strcmp(name, "--timeout") == 0;
		if (!known)
			return usage_error("unknown option %s%s", name, "");
		if (v == NULL)
			return usage_error("%s needs a value%s", name, "");
		if (strcmp(name, "--only") == 0) {
			if (parse_only(v, &o.only) != 0)
				return EXIT_USAGE;
		} else if (strcmp(name, "--max-wait") == 0) {
			if ((o.max_wait_ms = parse_seconds(v)) < 0)
				return usage_error("--max-wait: expected seconds (0 < SEC <= 86400), got \"%s\"%s", v, "");
		} else if (strcmp(name, "--timeout") == 0) {
			if ((o.timeout_ms = parse_seconds(v)) < 0)
				return usage_error("--timeout: expected seconds (0 < SEC <= 86400), got \"%s\"%s", v, "");
		} else if ((o.max_requests = parse_count(v, 1, 10000000)) < 0) {
			return usage_error("--max-requests: expected a whole number from 1 to 10000000, got \"%s\"%s", v, "");
		}
	}
	if (url == NULL)
		return usage_error("missing URL%s%s", "", "");
	int rc = resolve(url, &t);
	if (rc != EXIT_OK)
		return rc;

	char fatal[1024];
	if (kp_probe_run(&t, &o, &res, fatal, sizeof(fatal)) != 0) {
		fprintf(stderr, "kaprobe: %s\n", fatal);
		return EXIT_SERVER;
	}
	if (json)
		kp_report_probe_json(stdout, &res);
	else
		kp_report_probe_table(stdout, &t, &res);
	return EXIT_OK;
}

static int main_bench(int argc, char **argv)
{
	struct kp_bench_opts o = { .requests = 1000, .concurrency = 4, .timeout_ms = 10000,
	                           .time_limit_ms = 60000 };
	bool json = false;
	const char *url = NULL;
	static struct kp_target t;
	struct kp_bench_run ka, nc;

	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i];
		char name[64];
		if (strcmp(arg, "--json") == 0) {
			json = true;
			continue;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			if (url != NULL)
				return usage_error("more than one URL (\"%s\" and \"%s\")", url, arg);
			url = arg;
			continue;
		}
		const char *v = option_value(argc, argv, &i, arg, name, sizeof(name));
		bool known = strcmp(name, "--requests") == 0 || strcmp(name, "--concurrency") == 0 ||
		             strcmp(name, "--timeout") == 0 || strcmp(name, "--time-limit") == 0;
		if (!known)
			return usage_error("bench: unknown option %s%s", name, "");
		if (v == NULL)
			return usage_error("%s needs a value%s", name, "");
		if (strcmp(name, "--requests") == 0) {
			if ((o.requests = parse_count(v, 1, 1000000)) < 0)
				return usage_error("--requests: expected a whole number from 1 to 1000000, got \"%s\"%s", v, "");
		} else if (strcmp(name, "--concurrency") == 0) {
			if ((o.concurrency = parse_count(v, 1, 1000)) < 0)
				return usage_error("--concurrency: expected a whole number from 1 to 1000, got \"%s\"%s", v, "");
		} else if (strcmp(name, "--timeout") == 0) {
			if ((o.timeout_ms = parse_seconds(v)) < 0)
				return usage_error("--timeout: expected seconds (0 < SEC <= 86400), got \"%s\"%s", v, "");
		} else if ((o.time_limit_ms = parse_seconds(v)) < 0) {
			return usage_error("--time-limit: expected seconds (0 < SEC <= 86400), got \"%s\"%s", v, "");
		}
	}
	if (url == NULL)
		return usage_error("bench: missing URL%s%s", "", "");
	if (o.concurrency > o.requests)
		o.concurrency = o.requests;
	int rc = resolve(url, &t);
	if (rc != EXIT_OK)
		return rc;

	char fatal[1024];
	if (kp_bench_run_both(&t, &o, &ka, &nc, fatal, sizeof(fatal)) != 0) {
		fprintf(stderr, "kaprobe: %s\n", fatal);
		return EXIT_SERVER;
	}
	if (json)
		kp_report_bench_json(stdout, &ka, &nc);
	else
		kp_report_bench_table(stdout, &t, &o, &ka, &nc);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	/* Writes to a reset connection must fail with EPIPE, not kill us: MSG_NOSIGNAL
	 * covers send(), this covers anything else. */
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			return EXIT_OK;
		}
		if (strcmp(argv[i], "--version") == 0) {
			puts("kaprobe " KP_VERSION);
			return EXIT_OK;
		}
	}
	if (argc > 1 && strcmp(argv[1], "bench") == 0)
		return main_bench(argc, argv);
	return main_probe(argc, argv);
}
