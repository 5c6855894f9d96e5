/*
 * HTTP dates (RFC 9110 5.6.7): formatting the IMF-fixdate the server sends in Date and
 * Last-Modified, and parsing the three forms a recipient must accept (IMF-fixdate,
 * the obsolete RFC 850 form and asctime) for If-Modified-Since and friends. Pure
 * arithmetic on the proleptic Gregorian calendar: no locale, no time zone, no gmtime
 * or strptime, so the result never depends on the environment the server runs in.
 * Dates before 1970 are not representable here (the parser returns -1 for them, the
 * same value as "invalid"); the formatter clamps to 1970..9999.
 */
#include <string.h>
#include <time.h>

#include "core/http_parse.h"

static const char day_names[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const day_names_long[7] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
};
static const char month_names[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* 9999-12-31T23:59:59Z: the last instant with the 4-digit year IMF-fixdate requires. */
#define MAX_FORMAT_SECONDS INT64_C(253402300799)

/*
 * Days since 1970-01-01 for a proleptic Gregorian date, by counting 400-year eras
 * that start on March 1 so the leap day falls at the end of the year (the well-known
 * "days from civil" arithmetic). m is 1..12, d is 1..31.
 */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);                    /* 0..399 */
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  /* 0..365 */
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;       /* 0..146096 */
	return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of days_from_civil, for z >= 0 (the only range the formatter uses). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned char dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static void put2(char *out, unsigned v)
{
	out[0] = (char)('0' + v / 10);
	out[1] = (char)('0' + v % 10);
}

void ka_http_date_format(int64_t unix_seconds, char out[KA_HTTP_DATE_LEN + 1])
{
	if (unix_seconds < 0)
		unix_seconds = 0;
	if (unix_seconds > MAX_FORMAT_SECONDS)
		unix_seconds = MAX_FORMAT_SECONDS;

	int64_t days = unix_seconds / 86400;
	unsigned secs = (unsigned)(unix_seconds % 86400);
	int64_t year;
	unsigned month, mday;
	civil_from_days(days, &year, &month, &mday);
	unsigned wday = (unsigned)((days + 4) % 7);  /* 1970-01-01 was a Thursday */

	/* "Sun, 06 Nov 1994 08:49:37 GMT" */
	memcpy(out, day_names[wday], 3);
	out[3] = ',';
	out[4] = ' ';
	put2(out + 5, mday);
	out[7] = ' ';
	memcpy(out + 8, month_names[month - 1], 3);
	out[11] = ' ';
	put2(out + 12, (unsigned)(year / 100));
	put2(out + 14, (unsigned)(year % 100));
	out[16] = ' ';
	put2(out + 17, secs / 3600);
	out[19] = ':';
	put2(out + 20, secs / 60 % 60);
	out[22] = ':';
	put2(out + 23, secs % 60);
	memcpy(out + 25, " GMT", 5);  /* includes the NUL */
}

/* ---- parsing ------------------------------------------------------------------------ */

/* A fixed-width run of digits at p; -1 if any byte is not a digit. */
static int parse_digits(const char *p, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* Month names are case-sensitive (RFC 9110 5.6.7); returns 1..12 or 0. */
static unsigned parse_month(const char *p)
{
	for (unsigned i = 0; i < 12; i++)
		if (memcmp(p, month_names[i], 3) == 0)
			return i + 1;
	return 0;
}

/* "HH:MM:SS"; the second may be 60 (RFC 9110 5.6.7 allows a leap second). */
static bool parse_time(const char *p, int *h, int *mi, int *s)
{
	if (p[2] != ':' || p[5] != ':')
		return false;
	*h = parse_digits(p, 2);
	*mi = parse_digits(p + 3, 2);
	*s = parse_digits(p + 6, 2);
	return *h >= 0 && *h <= 23 && *mi >= 0 && *mi <= 59 && *s >= 0 && *s <= 60;
}

/*
 * Combines validated fields into unix seconds. The weekday the sender named must be
 * the weekday of the date: a date that says two different things is rejected rather
 * than guessed at, in the spirit of the parser's strictness.
 */
static int64_t assemble(int64_t year, unsigned month, int mday, int h, int mi, int s,
                        unsigned wday)
{
	if (year < 1970 || month == 0 || mday < 1 || (unsigned)mday > days_in_month(year, month))
		return -1;
	int64_t days = days_from_civil(year, month, (unsigned)mday);
	if ((unsigned)((days + 4) % 7) != wday)
		return -1;
	return days * 86400 + h * 3600 + mi * 60 + s;
}

/*
 * RFC 850 two-digit years: RFC 9110 5.6.7 says a year that appears to be more than 50
 * years in the future means the most recent past year with the same last two digits.
 */
static int64_t rfc850_year(int yy)
{
	int64_t now = (int64_t)time(NULL);
	int64_t now_year;
	unsigned m, d;
	civil_from_days(now > 0 ? now / 86400 : 0, &now_year, &m, &d);
	int64_t year = now_year - now_year % 100 + yy;
	if (year > now_year + 50)
		year -= 100;
	else if (year <= now_year - 50)
		year += 100;
	return year;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static int64_t parse_imf_fixdate(const char *p, size_t len, unsigned wday)
{
	int h, mi, s;
	if (len != 29 || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' ||
	    p[16] != ' ' || memcmp(p + 25, " GMT", 4) != 0 || !parse_time(p + 17, &h, &mi, &s))
		return -1;
	int mday = parse_digits(p + 5, 2);
	int year = parse_digits(p + 12, 4);
	if (mday < 0 || year < 0)
		return -1;
	return assemble(year, parse_month(p + 8), mday, h, mi, s, wday);
}

/* "Sunday, 06-Nov-94 08:49:37 GMT", p already past the day name and its comma. */
static int64_t parse_rfc850(const char *p, size_t len, unsigned wday)
{
	int h, mi, s;
	if (len != 23 || p[0] != ' ' || p[3] != '-' || p[7] != '-' || p[10] != ' ' ||
	    memcmp(p + 19, " GMT", 4) != 0 || !parse_time(p + 11, &h, &mi, &s))
		return -1;
	int mday = parse_digits(p + 1, 2);
	int yy = parse_digits(p + 8, 2);
	if (mday < 0 || yy < 0)
		return -1;
	return assemble(rfc850_year(yy), parse_month(p + 4), mday, h, mi, s, wday);
}

/* "Sun Nov  6 08:49:37 1994": the day is two digits or a space and one digit. */
static int64_t parse_asctime(const char *p, size_t len, unsigned wday)
{
	int h, mi, s;
	if (len != 24 || p[3] != ' ' || p[7] != ' ' || p[10] != ' ' || p[19] != ' ' ||
	    !parse_time(p + 11, &h, &mi, &s))
		return -1;
	int mday = p[8] == ' ' ? parse_digits(p + 9, 1) : parse_digits(p + 8, 2);
	int year = parse_digits(p + 20, 4);
	if (mday < 0 || year < 0)
		return -1;
	return assemble(year, parse_month(p + 4), mday, h, mi, s, wday);
}

int64_t ka_http_date_parse(struct ka_str s)
{
	const char *p = s.p;
	size_t len = s.len;
	if (p == NULL || len < 4)
		return -1;

	/* The form is told apart by what follows the day name (RFC 9110 5.6.7). */
	for (unsigned wday = 0; wday < 7; wday++) {
		if (memcmp(p, day_names[wday], 3) != 0)
			continue;
		if (p[3] == ',')
			return parse_imf_fixdate(p, len, wday);
		if (p[3] == ' ')
			return parse_asctime(p, len, wday);
		size_t n = strlen(day_names_long[wday]);
		if (len > n && memcmp(p, day_names_long[wday], n) == 0 && p[n] == ',')
			return parse_rfc850(p + n + 1, len - n - 1, wday);
		return -1;
	}
	return -1;
}
