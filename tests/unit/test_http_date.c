/*
 * Tests for HTTP date formatting and parsing (src/core/http_date.c, RFC 9110 5.6.7).
 * Table rows are (input, expected unix seconds or -1, comment). Inputs are placed right
 * before a PROT_NONE page so reading past the slice crashes. The formatter is checked
 * against the C library's gmtime_r over a wide sweep, and parse(format(t)) == t.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/http_parse.h"
#include "guard.h"

static int64_t parse_guarded(const char *s)
{
	size_t n = strlen(s);
	return ka_http_date_parse((struct ka_str){ guard_place(s, n), n });
}

struct date_case {
	const char *in;
	int64_t want;
	const char *comment;
};

static void run_date_table(const struct date_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t got = parse_guarded(cases[i].in);
		if (got != cases[i].want)
			fail_msg("%s: \"%s\" gave %lld, want %lld", cases[i].comment, cases[i].in,
			         (long long)got, (long long)cases[i].want);
	}
}

#define RUN(table) run_date_table((table), sizeof(table) / sizeof((table)[0]))

static void test_format_known_dates(void **state)
{
	(void)state;
	static const struct { int64_t t; const char *want; } rows[] = {
		{ 0, "Thu, 01 Jan 1970 00:00:00 GMT" },
		{ 784111777, "Sun, 06 Nov 1994 08:49:37 GMT" },
		{ 951782400, "Tue, 29 Feb 2000 00:00:00 GMT" },
		{ 4107542399, "Sun, 28 Feb 2100 23:59:59 GMT" },
		{ 4107542400, "Mon, 01 Mar 2100 00:00:00 GMT" },
		{ INT64_C(253402300799), "Fri, 31 Dec 9999 23:59:59 GMT" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[KA_HTTP_DATE_LEN + 1];
		memset(out, 'x', sizeof(out));
		ka_http_date_format(rows[i].t, out);
		assert_string_equal(out, rows[i].want);
		assert_int_equal(strlen(out), KA_HTTP_DATE_LEN);
	}
}

static void test_format_clamps_out_of_range(void **state)
{
	(void)state;
	char out[KA_HTTP_DATE_LEN + 1];
	ka_http_date_format(-1, out);
	assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
	ka_http_date_format(INT64_MIN, out);
	assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
	ka_http_date_format(INT64_C(253402300800), out);
	assert_string_equal(out, "Fri, 31 Dec 9999 23:59:59 GMT");
	ka_http_date_format(INT64_MAX, out);
	assert_string_equal(out, "Fri, 31 Dec 9999 23:59:59 GMT");
}

static void test_format_matches_gmtime_and_parses_back(void **state)
{
	(void)state;
	static const char *const dn[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mn[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	/* A step coprime with a day walks every time of day and every date kind. */
	for (int64_t t = 0; t < INT64_C(253402300799); t += 86400 * 13 + 3607) {
		char out[KA_HTTP_DATE_LEN + 1], ref[64];
		time_t tt = (time_t)t;
		struct tm tm;
		gmtime_r(&tt, &tm);
		snprintf(ref, sizeof(ref), "%s, %02d %s %04d %02d:%02d:%02d GMT", dn[tm.tm_wday],
		         tm.tm_mday, mn[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		         tm.tm_sec);
		ka_http_date_format(t, out);
		if (strcmp(out, ref) != 0)
			fail_msg("%lld: got \"%s\", want \"%s\"", (long long)t, out, ref);
		if (parse_guarded(out) != t)
			fail_msg("\"%s\" did not parse back to %lld", out, (long long)t);
	}
}

static void test_parse_three_forms(void **state)
{
	(void)state;
	static const struct date_case cases[] = {
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777, "IMF-fixdate" },
		{ "Sunday, 06-Nov-94 08:49:37 GMT", 784111777, "RFC 850, two-digit year in the past" },
		{ "Sun Nov  6 08:49:37 1994", 784111777, "asctime, space-padded day" },
		{ "Sun Nov 06 08:49:37 1994", 784111777, "asctime, two-digit day" },
		{ "Thu, 01 Jan 1970 00:00:00 GMT", 0, "the epoch" },
		{ "Tue, 29 Feb 2000 00:00:00 GMT", 951782400, "leap day in a 400-year" },
		{ "Wed, 31 Dec 1997 23:59:60 GMT", 883612800, "leap second (RFC 9110 allows 60)" },
		{ "Fri, 31 Dec 9999 23:59:59 GMT", INT64_C(253402300799), "the last four-digit year" },
		{ "Saturday, 01-Jan-00 00:00:00 GMT", 946684800, "RFC 850 year 00 is 2000" },
	};
	RUN(cases);
}

static void test_parse_rejects_bad_names(void **state)
{
	(void)state;
	static const struct date_case cases[] = {
		{ "Sux, 06 Nov 1994 08:49:37 GMT", -1, "bad day name" },
		{ "sun, 06 Nov 1994 08:49:37 GMT", -1, "day names are case-sensitive" },
		{ "Mon, 06 Nov 1994 08:49:37 GMT", -1, "weekday does not match the date" },
		{ "Sun, 06 Nox 1994 08:49:37 GMT", -1, "bad month name" },
		{ "Sun, 06 nov 1994 08:49:37 GMT", -1, "month names are case-sensitive" },
		{ "Sun, 06 Nov 1994 08:49:37 UTC", -1, "UTC is not GMT" },
		{ "Sun, 06 Nov 1994 08:49:37 gmt", -1, "GMT is case-sensitive" },
		{ "Sunday, 06 Nov 1994 08:49:37 GMT", -1, "long day name with IMF layout" },
		{ "Sun, 06-Nov-94 08:49:37 GMT", -1, "short day name with RFC 850 layout" },
		{ "Sundae, 06-Nov-94 08:49:37 GMT", -1, "long day name misspelt" },
	};
	RUN(cases);
}

static void test_parse_rejects_out_of_range_fields(void **state)
{
	(void)state;
	static const struct date_case cases[] = {
		{ "Sun, 00 Nov 1994 08:49:37 GMT", -1, "day 0" },
		{ "Thu, 31 Nov 1994 08:49:37 GMT", -1, "31 November" },
		{ "Sun, 29 Feb 1900 00:00:00 GMT", -1, "1900 is not a leap year" },
		{ "Thu, 29 Feb 2001 00:00:00 GMT", -1, "2001 is not a leap year" },
		{ "Sun, 06 Nov 1994 24:00:00 GMT", -1, "hour 24" },
		{ "Sun, 06 Nov 1994 08:60:00 GMT", -1, "minute 60" },
		{ "Sun, 06 Nov 1994 08:49:61 GMT", -1, "second 61" },
		{ "Wed, 31 Dec 1969 23:59:59 GMT", -1, "before 1970 is not representable" },
		{ "Sun Nov  0 08:49:37 1994", -1, "asctime day 0" },
		{ "Sun Nov 32 08:49:37 1994", -1, "asctime day 32" },
	};
	RUN(cases);
}

static void test_parse_rejects_bad_layout(void **state)
{
	(void)state;
	static const struct date_case cases[] = {
		{ "", -1, "empty" },
		{ "Sun", -1, "day name only" },
		{ "Sun, 06 Nov 1994 08:49:37 GMT ", -1, "trailing space" },
		{ "Sun, 06 Nov 1994 08:49:37 GMTx", -1, "trailing junk" },
		{ " Sun, 06 Nov 1994 08:49:37 GMT", -1, "leading space" },
		{ "Sun, 06 Nov 1994 08:49:37", -1, "no zone" },
		{ "Sun, 6 Nov 1994 08:49:37 GMT", -1, "one-digit day in IMF-fixdate" },
		{ "Sun, 06 Nov 94 08:49:37 GMT", -1, "two-digit year in IMF-fixdate" },
		{ "Sun, 06 Nov 1994 08-49-37 GMT", -1, "bad time separators" },
		{ "Sun, 06 Nov 1994 8:49:37 GMT ", -1, "one-digit hour" },
		{ "Sun, 06 Nov +994 08:49:37 GMT", -1, "sign in the year" },
		{ "Sunday, 06-Nov-1994 08:49:37 GMT", -1, "four-digit year in RFC 850" },
		{ "Sunday, 06-Nov-94 08:49:37 GMT x", -1, "RFC 850 trailing junk" },
		{ "Sun Nov  6 08:49:37 1994 ", -1, "asctime trailing space" },
		{ "Sun Nov 6 08:49:37 1994", -1, "asctime unpadded day" },
		{ "Sun Nov  6 08:49:37 94", -1, "asctime two-digit year" },
	};
	RUN(cases);
	assert_int_equal(ka_http_date_parse((struct ka_str){ NULL, 0 }), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_known_dates),
		cmocka_unit_test(test_format_clamps_out_of_range),
		cmocka_unit_test(test_format_matches_gmtime_and_parses_back),
		cmocka_unit_test(test_parse_three_forms),
		cmocka_unit_test(test_parse_rejects_bad_names),
		cmocka_unit_test(test_parse_rejects_out_of_range_fields),
		cmocka_unit_test(test_parse_rejects_bad_layout),
	};
	return cmocka_run_group_tests(tests, guard_setup, NULL);
}
