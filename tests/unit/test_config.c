/*
 * Unit tests for src/server/config.c: every default, both command-line forms, the
 * duration grammar (seconds with an optional fraction, nothing else), error messages
 * that name the option, --listen replacement rules, the --config file format and its
 * precedence, and --help. Messages are captured with open_memstream; config files are
 * written to mkstemp files that each test removes. The option names are listed here
 * independently of the table in config.c, so dropping one from --help fails a test.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/config.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static char out_text[16384];  /* what the last load printed to out */
static char err_text[4096];   /* and to err */

/* Loads with argv = { "kahttpd", args..., NULL }; args ends with NULL. */
static enum ka_config_result load(struct ka_config *c, const char *const *args)
{
	char *argv[64];
	int argc = 0;
	char *obuf = NULL, *ebuf = NULL;
	size_t olen = 0, elen = 0;
	FILE *out = open_memstream(&obuf, &olen);
	FILE *err = open_memstream(&ebuf, &elen);
	enum ka_config_result rc;

	assert_non_null(out);
	assert_non_null(err);
	argv[argc++] = "kahttpd";
	for (; *args; args++) {
		assert_true(argc < 63);
		argv[argc++] = (char *)*args;
	}
	argv[argc] = NULL;
	rc = ka_config_load(c, argc, argv, out, err);
	fclose(out);
	fclose(err);
	snprintf(out_text, sizeof(out_text), "%s", obuf);
	snprintf(err_text, sizeof(err_text), "%s", ebuf);
	free(obuf);
	free(ebuf);
	return rc;
}

static const char *const no_args[] = { NULL };

/* A config file with the given text; path receives its name. */
static void write_config(char path[static 64], const char *text)
{
	snprintf(path, 64, "/tmp/kahttpd-test-config-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void assert_err_mentions(const char *needle)
{
	if (!strstr(err_text, needle))
		fail_msg("message \"%s\" does not mention \"%s\"", err_text, needle);
}

static uint16_t listen_port(const struct ka_listen *l)
{
	if (l->addr.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
}

/* ---- defaults ---------------------------------------------------------------------------- */

static void test_defaults_without_arguments(void **state)
{
	(void)state;
	struct ka_config c;

	assert_int_equal(load(&c, no_args), KA_CONFIG_OK);
	assert_string_equal(err_text, "");
	assert_string_equal(out_text, "");

	assert_int_equal(c.n_listen, 1);
	assert_string_equal(c.listen[0].text, "127.0.0.1:8080");
	assert_int_equal(c.listen[0].addr.ss_family, AF_INET);
	assert_int_equal(c.listen[0].addr_len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohl(((struct sockaddr_in *)&c.listen[0].addr)->sin_addr.s_addr),
	                 INADDR_LOOPBACK);
	assert_int_equal(listen_port(&c.listen[0]), 8080);

	assert_non_null(c.root);
	assert_string_equal(c.root, "./www");
	assert_int_equal(c.workers, 0);  /* the caller turns 0 into the CPU count */
	assert_int_equal(c.keepalive_timeout, 75000);
	assert_int_equal(c.keepalive_grace, 1000);
	assert_int_equal(c.keepalive_requests, 1000);
	assert_int_equal(c.keepalive_time, 3600000);
	assert_int_equal(c.header_timeout, 10000);
	assert_int_equal(c.io_timeout, 30000);
	assert_int_equal(c.max_header_size, 16384);
	assert_int_equal(c.max_body_size, 1048576);
	assert_int_equal(c.shutdown_timeout, 10000);
	assert_false(c.demo);
	assert_null(c.config_file);
	ka_config_free(&c);
}

/* ---- command line ------------------------------------------------------------------------ */

static void test_name_space_value_and_name_equals_value_both_work(void **state)
{
	(void)state;
	struct ka_config c;
	const char *const args[] = {
		"--root", "/srv/a", "--workers=3", "--keepalive-timeout", "5",
		"--keepalive-grace=2", "--keepalive-requests", "7", "--keepalive-time=60",
		"--header-timeout", "4", "--io-timeout=9", "--max-header-size", "8192",
		"--max-body-size=0", "--shutdown-timeout", "3", NULL,
	};

	assert_int_equal(load(&c, args), KA_CONFIG_OK);
	assert_string_equal(c.root, "/srv/a");
	assert_int_equal(c.workers, 3);
	assert_int_equal(c.keepalive_timeout, 5000);
	assert_int_equal(c.keepalive_grace, 2000);
	assert_int_equal(c.keepalive_requests, 7);
	assert_int_equal(c.keepalive_time, 60000);
	assert_int_equal(c.header_timeout, 4000);
	assert_int_equal(c.io_timeout, 9000);
	assert_int_equal(c.max_header_size, 8192);
	assert_int_equal(c.max_body_size, 0);
	assert_int_equal(c.shutdown_timeout, 3000);
	ka_config_free(&c);
}

static void test_later_value_on_the_command_line_wins(void **state)
{
	(void)state;
	struct ka_config c;

	assert_int_equal(load(&c, (const char *const[]){ "--root", "/a", "--root=/b", NULL }),
	                 KA_CONFIG_OK);
	assert_string_equal(c.root, "/b");  /* and /a was freed: the ASan build checks */
	ka_config_free(&c);
}

static void test_durations_accept_decimal_seconds(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int64_t ms;
	} cases[] = {
		{ "0.5", 500 }, { "1.25", 1250 }, { "0", 0 }, { "0.001", 1 },
		{ "2.0", 2000 }, { "86400", 86400000 }, { "007", 7000 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ka_config c;
		const char *const args[] = { "--keepalive-timeout", cases[i].in, NULL };

		if (load(&c, args) != KA_CONFIG_OK)
			fail_msg("\"%s\" rejected: %s", cases[i].in, err_text);
		if (c.keepalive_timeout != cases[i].ms)
			fail_msg("\"%s\" gave %lld ms, want %lld", cases[i].in,
			         (long long)c.keepalive_timeout, (long long)cases[i].ms);
		ka_config_free(&c);
	}
}

static void test_bad_durations_are_errors_naming_the_option(void **state)
{
	(void)state;
	static const char *const bad[] = { "abc", "-1", "1e3", ".5", "5.", "", "+5", " 5",
	                                   "5 ", "5s", "0x10", "1.2.3", "inf", "nan",
	                                   "86401" /* above the one-day cap */ };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ka_config c;
		const char *const args[] = { "--keepalive-timeout", bad[i], NULL };

		if (load(&c, args) != KA_CONFIG_ERROR)
			fail_msg("\"%s\" accepted as %lld ms", bad[i], (long long)c.keepalive_timeout);
		assert_err_mentions("--keepalive-timeout");
		ka_config_free(&c);
	}
}

static void test_bad_value_in_equals_form_is_an_error_naming_the_option(void **state)
{
	(void)state;
	struct ka_config c;

	assert_int_equal(load(&c, (const char *const[]){ "--io-timeout=", NULL }),
	                 KA_CONFIG_ERROR);
	assert_err_mentions("--io-timeout");
	ka_config_free(&c);
}

static void test_bad_counts_are_errors_naming_the_option(void **state)
{
	(void)state;
	static const struct {
		const char *name, *value;
	} cases[] = {
		{ "--keepalive-requests", "abc" },
		{ "--keepalive-requests", "-1" },
		{ "--keepalive-requests", "1.5" },
		{ "--keepalive-requests", "" },
		{ "--keepalive-requests", "4294967296" },  /* above its cap */
		{ "--max-header-size", "1048577" },
		{ "--max-body-size", "99999999999999999999999" },
		{ "--workers", "0" },
		{ "--workers", "1025" },
		{ "--workers", "two" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ka_config c;
		const char *const args[] = { cases[i].name, cases[i].value, NULL };

		if (load(&c, args) != KA_CONFIG_ERROR)
			fail_msg("%s \"%s\" accepted", cases[i].name, cases[i].value);
		assert_err_mentions(cases[i].name);
		ka_config_free(&c);
	}
}

static void test_workers_zero_is_rejected_but_one_is_fine(void **state)
{
	(void)state;
	struct ka_config c;

	assert_int_equal(load(&c, (const char *const[]){ "--workers", "0", NULL }),
	                 KA_CONFIG_ERROR);
	assert_err_mentions("--workers");
	ka_config_free(&c);
	assert_int_equal(load(&c, (const char *const[]){ "--workers", "1", NULL }), KA_CONFIG_OK);
	assert_int_equal(c.workers, 1);
	ka_config_free(&c);
}

static void test_unknown_option_is_an_error_naming_it(void **state)
{
	(void)state;
	struct ka_config c;

	assert_int_equal(load(&c, (const char *const[]){ "--bogus", NULL }), KA_CONFIG_ERROR);
	assert_err_mentions("--bogus");
	ka_config_free(&c);

	/* A prefix of a real option is not that option. */
	assert_int_equal(load(&c, (const char *const[]){ "--keepalive", "5", NULL }),
	                 KA_CONFIG_ERROR);
	assert_err_mentions("--keepalive");
	ka_config_free(&c);

	assert_int_equal(load(&c, (const char *const[]){ "--rootx=/a", NULL }), KA_CONFIG_ERROR);
	assert_err_mentions("--rootx");
	ka_config_free(&c);
}

static void test_argument_without_dashes_is_an_error(void **state)
{
	(void)state;
	struct ka_config c;

	assert_int_equal(load(&c, (const char *const[]){ "www", NULL }), KA_CONFIG_ERROR);
	assert_err_mentions("www");
	ka_config_free(&c);
}

static void test_missing_value_is_an_error_naming_the_option(void **state)
{
	(void)state;
	struct ka_config c;

	assert_int_equal(load(&c, (const char *const[]){ "--root", NULL }), KA_CONFIG_ERROR);
	assert_err_mentions("--root");
	assert_err_mentions("missing value");
	ka_config_free(&c);

	assert_int_equal(load(&c, (const char *const[]){ "--demo", "--header-timeout", NULL }),
	                 KA_CONFIG_ERROR);
	assert_err_mentions("--header-timeout");
	ka_config_free(&c);
}

static void test_empty_root_is_an_error(void **state)
{
	(void)state;
	struct ka_config c;

	assert_int_equal(load(&c, (const char *const[]){ "--root", "", NULL }), KA_CONFIG_ERROR);
	assert_err_mentions("--root");
	ka_config_free(&c);
}

static void test_demo_flag_takes_no_value_and_accepts_equals_bool(void **state)
{
	(void)state;
	struct ka_config c;

	assert_int_equal(load(&c, (const char *const[]){ "--demo", "--root", "/x", NULL }),
	                 KA_CONFIG_OK);
	assert_true(c.demo);
	assert_string_equal(c.root, "/x");  /* --demo did not swallow --root */
	ka_config_free(&c);

	assert_int_equal(load(&c, (const char *const[]){ "--demo=false", NULL }), KA_CONFIG_OK);
	assert_false(c.demo);
	ka_config_free(&c);

	assert_int_equal(load(&c, (const char *const[]){ "--demo=maybe", NULL }), KA_CONFIG_ERROR);
	assert_err_mentions("--demo");
	ka_config_free(&c);
}

/* ---- --listen ---------------------------------------------------------------------------- */

static void test_first_listen_replaces_the_default_and_more_are_added(void **state)
{
	(void)state;
	struct ka_config c;

	assert_int_equal(load(&c, (const char *const[]){ "--listen", "127.0.0.1:9001", NULL }),
	                 KA_CONFIG_OK);
	assert_int_equal(c.n_listen, 1);
	assert_string_equal(c.listen[0].text, "127.0.0.1:9001");
	assert_int_equal(listen_port(&c.listen[0]), 9001);
	ka_config_free(&c);

	assert_int_equal(load(&c, (const char *const[]){ "--listen", "127.0.0.1:9001",
	                                                 "--listen=[::1]:9002", NULL }),
	                 KA_CONFIG_OK);
	assert_int_equal(c.n_listen, 2);
	assert_string_equal(c.listen[0].text, "127.0.0.1:9001");
	assert_string_equal(c.listen[1].text, "[::1]:9002");
	assert_int_equal(c.listen[1].addr.ss_family, AF_INET6);
	assert_int_equal(listen_port(&c.listen[1]), 9002);
	ka_config_free(&c);
}

static void test_too_many_listeners_is_an_error(void **state)
{
	(void)state;
	struct ka_config c;
	const char *args[2 * (KA_MAX_LISTENERS + 1) + 1];
	char ports[KA_MAX_LISTENERS + 1][32];
	size_t n = 0;

	for (int i = 0; i <= KA_MAX_LISTENERS; i++) {
		snprintf(ports[i], sizeof(ports[i]), "127.0.0.1:%d", 9000 + i);
		args[n++] = "--listen";
		args[n++] = ports[i];
	}
	args[n] = NULL;
	assert_int_equal(load(&c, args), KA_CONFIG_ERROR);
	assert_err_mentions("--listen");
	ka_config_free(&c);
}

static void test_bad_listen_address_is_an_error_naming_the_option(void **state)
{
	(void)state;
	struct ka_config c;

	assert_int_equal(load(&c, (const char *const[]){ "--listen", "127.0.0.1", NULL }),
	                 KA_CONFIG_ERROR);
	assert_err_mentions("--listen");
	assert_err_mentions("127.0.0.1");
	ka_config_free(&c);
}

/* ---- --config files ---------------------------------------------------------------------- */

static void test_config_file_sets_values_with_comments_and_blank_lines(void **state)
{
	(void)state;
	struct ka_config c;
	char path[64];

	write_config(path, "# kahttpd settings\n"
	                   "\n"
	                   "root = /srv/site   # trailing comment\n"
	                   "   keepalive-timeout=2.5\n"
	                   "\t\n"
	                   "workers =4\n"
	                   "max-body-size = 10 \n"
	                   "   # indented whole-line comment\n"
	                   "demo = true\n"
	                   "io-timeout = 1\r\n"
	                   "header-timeout = 3");  /* last line without a newline */
	assert_int_equal(load(&c, (const char *const[]){ "--config", path, NULL }), KA_CONFIG_OK);
	assert_string_equal(err_text, "");
	assert_string_equal(c.root, "/srv/site");
	assert_int_equal(c.keepalive_timeout, 2500);
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.max_body_size, 10);
	assert_true(c.demo);
	assert_int_equal(c.io_timeout, 1000);
	assert_int_equal(c.header_timeout, 3000);
	assert_non_null(c.config_file);
	assert_string_equal(c.config_file, path);
	/* Untouched options keep their defaults. */
	assert_int_equal(c.keepalive_grace, 1000);
	assert_int_equal(c.n_listen, 1);
	assert_string_equal(c.listen[0].text, "127.0.0.1:8080");
	ka_config_free(&c);
	unlink(path);
}

static void test_config_file_demo_false_and_equals_form_of_config(void **state)
{
	(void)state;
	struct ka_config c;
	char path[64], arg[80];

	write_config(path, "demo = false\n");
	snprintf(arg, sizeof(arg), "--config=%s", path);
	assert_int_equal(load(&c, (const char *const[]){ arg, NULL }), KA_CONFIG_OK);
	assert_false(c.demo);
	ka_config_free(&c);

	/* The command-line flag beats the file's false. */
	assert_int_equal(load(&c, (const char *const[]){ "--demo", arg, NULL }), KA_CONFIG_OK);
	assert_true(c.demo);
	ka_config_free(&c);
	unlink(path);
}

static void test_command_line_wins_over_the_file_wherever_config_appears(void **state)
{
	(void)state;
	struct ka_config c;
	char path[64];

	write_config(path, "keepalive-timeout = 5\nroot = /from/file\nheader-timeout = 6\n");
	assert_int_equal(load(&c, (const char *const[]){ "--keepalive-timeout", "7", "--config",
	                                                 path, "--root", "/from/cli", NULL }),
	                 KA_CONFIG_OK);
	assert_int_equal(c.keepalive_timeout, 7000);  /* given before --config, still wins */
	assert_string_equal(c.root, "/from/cli");      /* given after --config */
	assert_int_equal(c.header_timeout, 6000);      /* only in the file */
	ka_config_free(&c);
	unlink(path);
}

/* A comment is a comment however long: a line that overflows a fixed read buffer
 * must not have its tail parsed as a line of its own (nor shift the line numbers). */
static void test_long_comment_line_in_file_is_still_a_comment(void **state)
{
	(void)state;
	struct ka_config c;
	static char text[10000];
	char path[64];
	size_t n = 0;

	text[n++] = '#';
	memset(text + n, 'x', 6000);
	n += 6000;
	snprintf(text + n, sizeof(text) - n, "\nroot = /after/long/comment\n");
	char root[64];

	write_config(path, text);
	enum ka_config_result rc = load(&c, (const char *const[]){ "--config", path, NULL });
	snprintf(root, sizeof(root), "%s", c.root ? c.root : "(none)");
	ka_config_free(&c);  /* before asserting, so a failure leaves no leak or file */
	unlink(path);
	if (rc != KA_CONFIG_OK)
		fail_msg("a 6000-byte comment line was rejected: %s", err_text);
	assert_string_equal(root, "/after/long/comment");
}

static void test_file_listen_lines_replace_the_default(void **state)
{
	(void)state;
	struct ka_config c;
	char path[64];

	write_config(path, "listen = 127.0.0.1:9100\nlisten = 127.0.0.1:9101\n");
	assert_int_equal(load(&c, (const char *const[]){ "--config", path, NULL }), KA_CONFIG_OK);
	assert_int_equal(c.n_listen, 2);
	assert_int_equal(listen_port(&c.listen[0]), 9100);
	assert_int_equal(listen_port(&c.listen[1]), 9101);
	ka_config_free(&c);
	unlink(path);
}

static void test_command_line_listen_replaces_the_file_listen_lines(void **state)
{
	(void)state;
	struct ka_config c;
	char path[64];

	write_config(path, "listen = 127.0.0.1:9100\nlisten = 127.0.0.1:9101\n");
	assert_int_equal(load(&c, (const char *const[]){ "--listen", "127.0.0.1:9200", "--config",
	                                                 path, NULL }),
	                 KA_CONFIG_OK);
	assert_int_equal(c.n_listen, 1);
	assert_int_equal(listen_port(&c.listen[0]), 9200);
	ka_config_free(&c);
	unlink(path);
}

static void test_unknown_name_in_file_names_file_line_and_name(void **state)
{
	(void)state;
	struct ka_config c;
	char path[64], where[80];

	write_config(path, "# comment\nroot = /a\nbogus-option = 1\n");
	assert_int_equal(load(&c, (const char *const[]){ "--config", path, NULL }),
	                 KA_CONFIG_ERROR);
	snprintf(where, sizeof(where), "%s:3", path);
	assert_err_mentions(where);
	assert_err_mentions("bogus-option");
	ka_config_free(&c);
	unlink(path);
}

static void test_bad_value_in_file_names_file_line_and_option(void **state)
{
	(void)state;
	struct ka_config c;
	char path[64], where[80];

	write_config(path, "\nkeepalive-timeout = 1e3\n");
	assert_int_equal(load(&c, (const char *const[]){ "--config", path, NULL }),
	                 KA_CONFIG_ERROR);
	snprintf(where, sizeof(where), "%s:2", path);
	assert_err_mentions(where);
	assert_err_mentions("keepalive-timeout");
	ka_config_free(&c);
	unlink(path);
}

static void test_file_line_without_equals_is_an_error(void **state)
{
	(void)state;
	struct ka_config c;
	char path[64], where[80];

	write_config(path, "root /srv\n");
	assert_int_equal(load(&c, (const char *const[]){ "--config", path, NULL }),
	                 KA_CONFIG_ERROR);
	snprintf(where, sizeof(where), "%s:1", path);
	assert_err_mentions(where);
	ka_config_free(&c);
	unlink(path);
}

static void test_config_inside_a_file_is_rejected(void **state)
{
	(void)state;
	struct ka_config c;
	char path[64], where[80];

	write_config(path, "config = /etc/other.conf\n");
	assert_int_equal(load(&c, (const char *const[]){ "--config", path, NULL }),
	                 KA_CONFIG_ERROR);
	snprintf(where, sizeof(where), "%s:1", path);
	assert_err_mentions(where);
	assert_err_mentions("config");
	ka_config_free(&c);
	unlink(path);
}

static void test_missing_config_file_is_an_error(void **state)
{
	(void)state;
	struct ka_config c;
	const char *path = "/nonexistent/kahttpd-test.conf";

	assert_int_equal(load(&c, (const char *const[]){ "--config", path, NULL }),
	                 KA_CONFIG_ERROR);
	assert_err_mentions("--config");
	assert_err_mentions(path);
	ka_config_free(&c);
}

/* ---- --help ------------------------------------------------------------------------------ */

static void test_help_exits_and_lists_every_option(void **state)
{
	(void)state;
	static const char *const names[] = {
		"--listen", "--root", "--workers", "--keepalive-timeout", "--keepalive-grace",
		"--keepalive-requests", "--keepalive-time", "--header-timeout", "--io-timeout",
		"--max-header-size", "--max-body-size", "--shutdown-timeout", "--demo", "--config",
		"--help", "--version",
	};
	struct ka_config c;

	assert_int_equal(load(&c, (const char *const[]){ "--help", NULL }), KA_CONFIG_EXIT);
	assert_string_equal(err_text, "");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char with_space[64];

		/* "--keepalive-time" is a prefix of "--keepalive-timeout": look for it followed
		 * by the space before its placeholder or help text. */
		snprintf(with_space, sizeof(with_space), "%s ", names[i]);
		if (!strstr(out_text, with_space))
			fail_msg("--help does not mention %s:\n%s", names[i], out_text);
	}
	ka_config_free(&c);
}

static void test_help_wins_over_other_arguments(void **state)
{
	(void)state;
	struct ka_config c;

	assert_int_equal(load(&c, (const char *const[]){ "--workers", "0", "--help", NULL }),
	                 KA_CONFIG_EXIT);
	assert_non_null(strstr(out_text, "usage"));
	ka_config_free(&c);
}

static void test_version_exits(void **state)
{
	(void)state;
	struct ka_config c;

	assert_int_equal(load(&c, (const char *const[]){ "--version", NULL }), KA_CONFIG_EXIT);
	assert_non_null(strstr(out_text, "kahttpd"));
	ka_config_free(&c);
}

/* ---- free -------------------------------------------------------------------------------- */

static void test_config_free_releases_strings_and_is_repeatable(void **state)
{
	(void)state;
	struct ka_config c;
	char path[64];

	write_config(path, "root = /from/file\n");
	assert_int_equal(load(&c, (const char *const[]){ "--config", path, NULL }), KA_CONFIG_OK);
	assert_non_null(c.root);
	assert_non_null(c.config_file);
	ka_config_free(&c);
	assert_null(c.root);
	assert_null(c.config_file);
	ka_config_free(&c);  /* a second free is harmless */
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_without_arguments),
		cmocka_unit_test(test_name_space_value_and_name_equals_value_both_work),
		cmocka_unit_test(test_later_value_on_the_command_line_wins),
		cmocka_unit_test(test_durations_accept_decimal_seconds),
		cmocka_unit_test(test_bad_durations_are_errors_naming_the_option),
		cmocka_unit_test(test_bad_value_in_equals_form_is_an_error_naming_the_option),
		cmocka_unit_test(test_bad_counts_are_errors_naming_the_option),
		cmocka_unit_test(test_workers_zero_is_rejected_but_one_is_fine),
		cmocka_unit_test(test_unknown_option_is_an_error_naming_it),
		cmocka_unit_test(test_argument_without_dashes_is_an_error),
		cmocka_unit_test(test_missing_value_is_an_error_naming_the_option),
		cmocka_unit_test(test_empty_root_is_an_error),
		cmocka_unit_test(test_demo_flag_takes_no_value_and_accepts_equals_bool),
		cmocka_unit_test(test_first_listen_replaces_the_default_and_more_are_added),
		cmocka_unit_test(test_too_many_listeners_is_an_error),
		cmocka_unit_test(test_bad_listen_address_is_an_error_naming_the_option),
		cmocka_unit_test(test_config_file_sets_values_with_comments_and_blank_lines),
		cmocka_unit_test(test_config_file_demo_false_and_equals_form_of_config),
		cmocka_unit_test(test_command_line_wins_over_the_file_wherever_config_appears),
		cmocka_unit_test(test_long_comment_line_in_file_is_still_a_comment),
		cmocka_unit_test(test_file_listen_lines_replace_the_default),
		cmocka_unit_test(test_command_line_listen_replaces_the_file_listen_lines),
		cmocka_unit_test(test_unknown_name_in_file_names_file_line_and_name),
		cmocka_unit_test(test_bad_value_in_file_names_file_line_and_option),
		cmocka_unit_test(test_file_line_without_equals_is_an_error),
		cmocka_unit_test(test_config_inside_a_file_is_rejected),
		cmocka_unit_test(test_missing_config_file_is_an_error),
		cmocka_unit_test(test_help_exits_and_lists_every_option),
		cmocka_unit_test(test_help_wins_over_other_arguments),
		cmocka_unit_test(test_version_exits),
		cmocka_unit_test(test_config_free_releases_strings_and_is_repeatable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
