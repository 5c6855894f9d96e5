/*
 * Static files from the document root (static_file.h). A request path is decoded and
 * normalised once (path.c), with every doubtful input refused (400) rather than
 * repaired; the kernel then resolves the result beneath the root with
 * openat2(RESOLVE_BENEATH), so even a path that code got wrong, or a symlink planted
 * in the root, cannot leave it. What follows is RFC 9110 for one representation: validators (13.1), 304, and a
 * single byte range (14) or the whole file.
 *
 * Choices the rules left open, kept in one place:
 *  - A symlink resolving outside the root (EXDEV) and a symlink loop (ELOOP) are 403:
 *    the name exists, we refuse to follow it.
 *  - A path the kernel finds too long (a name over NAME_MAX, or over PATH_MAX once
 *    decoded) is 404: no such file can exist. 414 is the parser's, for a target over
 *    8 KiB, whatever names it holds.
 *  - Decoded control bytes (0x01-0x1f, 0x7f) are 400 like NUL: no file we serve has
 *    such a name, and refusing them keeps them out of logs and error pages.
 *  - A target in absolute-form ("http://host/p", RFC 9112 3.2.2) is served by its path.
 *  - A suffix range on an empty file is answered 200 with the (empty) whole: there is
 *    no "bytes a-b/0" to send.
 *  - If-Match and If-Unmodified-Since are not evaluated (we never send 412).
 *  - A directory that is searchable but not readable (0711) still serves its index.
 *  - HEAD gets no body whatever the status, error bodies carry X-Content-Type-Options:
 *    nosniff (they echo part of the request), and a Location never starts with "//".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/static_file.h"

#include "core/http_chars.h"
#include "server/conn.h"
#include "server/path.h"

/* Room for a decoded, normalised path plus "index.html"; longer ones are 404 anyway,
 * since the kernel would refuse them (ENAMETOOLONG) at PATH_MAX. */
#define PATH_CAP (PATH_MAX + 16)
/* A Location value longer than this would not fit in ka_resp.extra beside the other
 * headers; such a redirect is answered 414 instead. */
#define LOCATION_MAX 400

/* ---- the root --------------------------------------------------------------------- */

int ka_static_root_open(struct ka_static_root *root, const char *path)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		root->dir_fd = -1;
		return -errno;
	}
	root->dir_fd = fd;
	return 0;
}

void ka_static_root_close(struct ka_static_root *root)
{
	if (root->dir_fd >= 0)
		close(root->dir_fd);
	root->dir_fd = -1;
}

/* ---- content types ---------------------------------------------------------------- */

static const struct {
	const char *ext;
	const char *type;
} mime_table[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },  /* RFC 9239 */
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "xml", "application/xml" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "ico", "image/x-icon" },
	{ "wasm", "application/wasm" },
	{ "pdf", "application/pdf" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "mp4", "video/mp4" },
	{ "webm", "video/webm" },
	{ "mp3", "audio/mpeg" },
	{ "zip", "application/zip" },
	{ "gz", "application/gzip" },
};

const char *ka_mime_type(const char *name, size_t len)
{
	/* The extension is what follows the last '.' of the last path segment; a leading
	 * dot (".txt", a hidden file) does not start one. */
	size_t dot = 0, base = 0;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '/')
			base = i + 1, dot = 0;
		else if (name[i] == '.' && i > base)
			dot = i + 1;
	}
	if (dot != 0) {
		struct ka_str ext = { name + dot, len - dot };
		for (size_t i = 0; i < sizeof(mime_table) / sizeof(mime_table[0]); i++)
			if (ka_str_ieq(ext, mime_table[i].ext))
				return mime_table[i].type;
	}
	return "application/octet-stream";
}

/* ---- validators and preconditions (RFC 9110 8.8, 13) ------------------------------ */

/* The only header with this name, or NULL when there is none or more than one: a
 * precondition or range sent twice is not one we can read a single way. */
static const struct ka_str *single_header(const struct ka_http_request *req,
                                          const char *name)
{
	const struct ka_str *found = NULL;
	for (size_t i = 0; i < req->num_headers; i++) {
		if (!ka_str_ieq(req->headers[i].name, name))
			continue;
		if (found != NULL)
			return NULL;
		found = &req->headers[i].value;
	}
	return found;
}

/* RFC 9110 13.1.2: does this list of entity-tags hold one that weakly matches etag
 * (same opaque-tag, W/ ignored)? A malformed list matches nothing from where it breaks. */
static bool etag_list_has(struct ka_str list, const char *etag, size_t etag_len)
{
	const char *p = list.p, *end = list.p + list.len;
	for (;;) {
		while (p < end && (ka_is_ows(*p) || *p == ','))
			p++;
		if (p == end)
			return false;
		if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
			p += 2;
		if (p == end || *p != '"')
			return false;
		const char *close_quote = memchr(p + 1, '"', (size_t)(end - p - 1));
		if (close_quote == NULL)
			return false;
		size_t tag_len = (size_t)(close_quote + 1 - p);
		if (tag_len == etag_len && memcmp(p, etag, etag_len) == 0)
			return true;
		p = close_quote + 1;
		while (p < end && ka_is_ows(*p))
			p++;
		if (p < end && *p != ',')
			return false;
	}
}

/* RFC 9110 13.2.2 steps 3 and 4, for GET and HEAD: 304 or not. */
static bool is_not_modified(const struct ka_http_request *req, const char *etag,
                            size_t etag_len, int64_t mtime)
{
	bool has_inm = false;
	for (size_t i = 0; i < req->num_headers; i++) {
		if (!ka_str_ieq(req->headers[i].name, "If-None-Match"))
			continue;
		has_inm = true;
		struct ka_str v = req->headers[i].value;
		if ((v.len == 1 && v.p[0] == '*') || etag_list_has(v, etag, etag_len))
			return true;
	}
	if (has_inm)
		return false;  /* 13.1.3: If-Modified-Since is ignored beside If-None-Match */
	const struct ka_str *ims = single_header(req, "If-Modified-Since");
	if (ims == NULL)
		return false;
	int64_t since = ka_http_date_parse(*ims);
	return since >= 0 && mtime <= since;
}

/* RFC 9110 13.1.5: Range counts only if If-Range, when sent, still describes the file:
 * the same strong entity-tag, or exactly its Last-Modified date. */
static bool is_if_range_current(const struct ka_http_request *req, const char *etag,
                                size_t etag_len, int64_t mtime)
{
	bool sent = false;
	for (size_t i = 0; i < req->num_headers && !sent; i++)
		sent = ka_str_ieq(req->headers[i].name, "If-Range");
	if (!sent)
		return true;
	const struct ka_str *v = single_header(req, "If-Range");
	if (v == NULL)
		return false;
	if (v->len > 0 && v->p[0] == '"')
		return v->len == etag_len && memcmp(v->p, etag, etag_len) == 0;
	if (v->len >= 2 && v->p[0] == 'W' && v->p[1] == '/')
		return false;  /* a weak tag never matches strongly */
	int64_t date = ka_http_date_parse(*v);
	return date >= 0 && date == mtime;
}

/* ---- Range (RFC 9110 14.1) -------------------------------------------------------- */

enum range_result {
	RANGE_WHOLE,  /* no usable Range: send 200 */
	RANGE_ONE,    /* one satisfiable range: 206 */
	RANGE_UNSAT,  /* one valid range, not satisfiable: 416 */
};

/* Digits into *v, saturating: a position too big to hold is merely past the end. */
static bool parse_pos(const char **pp, const char *end, uint64_t *v)
{
	const char *p = *pp;
	uint64_t n = 0;
	while (p < end && ka_is_digit(*p)) {
		unsigned d = (unsigned)(*p++ - '0');
		n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
	}
	if (p == *pp)
		return false;
	*pp = p;
	*v = n;
	return true;
}

static void skip_ows(const char **pp, const char *end)
{
	while (*pp < end && ka_is_ows(**pp))
		(*pp)++;
}

/*
 * "bytes=a-b", "bytes=a-", "bytes=-n", OWS tolerated between the parts and around
 * commas, empty list elements skipped (RFC 9110 5.6.1). Anything malformed, another
 * unit, or more than one range is RANGE_WHOLE: we serve multipart/byteranges never, and
 * an unreadable Range is ignored (14.2).
 */
static enum range_result parse_range(struct ka_str v, uint64_t size, uint64_t *first,
                                     uint64_t *last)
{
	const char *p = v.p, *end = v.p + v.len;
	skip_ows(&p, end);
	const char *unit = p;
	while (p < end && *p != '=' && !ka_is_ows(*p))
		p++;
	if (!ka_str_ieq((struct ka_str){ unit, (size_t)(p - unit) }, "bytes"))
		return RANGE_WHOLE;
	skip_ows(&p, end);
	if (p == end || *p != '=')
		return RANGE_WHOLE;
	p++;

	unsigned count = 0;
	bool is_suffix = false, has_last = false;
	uint64_t a = 0, b = 0;
	for (;;) {
		skip_ows(&p, end);
		if (p == end)
			break;
		if (*p == ',') {
			p++;
			continue;
		}
		bool spec_suffix = false, spec_has_last = false;
		uint64_t spec_a = 0, spec_b = 0;
		if (*p == '-') {
			p++;
			skip_ows(&p, end);
			if (!parse_pos(&p, end, &spec_a))
				return RANGE_WHOLE;
			spec_suffix = true;
		} else {
			if (!parse_pos(&p, end, &spec_a))
				return RANGE_WHOLE;
			skip_ows(&p, end);
			if (p == end || *p != '-')
				return RANGE_WHOLE;
			p++;
			skip_ows(&p, end);
			spec_has_last = parse_pos(&p, end, &spec_b);
			if (spec_has_last && spec_b < spec_a)
				return RANGE_WHOLE;  /* 14.1.1: last-pos < first-pos is invalid */
		}
		skip_ows(&p, end);
		if (p < end && *p != ',')
			return RANGE_WHOLE;
		if (count++ == 0) {
			is_suffix = spec_suffix, has_last = spec_has_last;
			a = spec_a, b = spec_b;
		}
	}
	if (count != 1)
		return RANGE_WHOLE;

	if (is_suffix) {
		if (a == 0)
			return RANGE_UNSAT;
		if (size == 0)
			return RANGE_WHOLE;
		*first = a >= size ? 0 : size - a;
		*last = size - 1;
		return RANGE_ONE;
	}
	if (a >= size)
		return RANGE_UNSAT;
	*first = a;
	*last = has_last && b < size ? b : size - 1;
	return RANGE_ONE;
}

/* ---- answering -------------------------------------------------------------------- */

struct serve {
	const struct ka_static_root *root;
	struct ka_file_cache *cache;  /* NULL: no caching */
	bool conditional;  /* some header could be a precondition or a Range */
	const struct ka_http_request *req;
	struct ka_resp *resp;
	char *scratch;
	size_t scratch_len;
	struct ka_str raw_path;  /* the path as sent (absolute-form reduced to its path) */
	int fd;                  /* ours until handed to resp as its body */
};

/* Any error: headers so far are dropped, the body names the status, the path as sent
 * and, in parentheses, the problem. */
static void fail(struct serve *s, int status, const char *problem)
{
	struct ka_resp *r = s->resp;
	ka_resp_init(r, status);
	size_t n = ka_resp_format_text(s->scratch, s->scratch_len, status, s->raw_path.p,
	                               s->raw_path.len);
	size_t plen = problem != NULL ? strlen(problem) : 0;
	if (plen > 0 && n > 0 && n + plen + 3 <= s->scratch_len) {
		char *p = s->scratch + n - 1;  /* over the '\n' */
		*p++ = ' ';
		*p++ = '(';
		memcpy(p, problem, plen);
		p += plen;
		*p++ = ')';
		*p++ = '\n';
		n += plen + 3;
	}
	ka_resp_text(r, status, s->scratch, n);
	/* The body echoes part of the request: keep browsers from sniffing it as HTML. */
	(void)ka_resp_add_header(r, "X-Content-Type-Options", "nosniff");
}

static void fail_errno(struct serve *s, int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		fail(s, 404, NULL);
		break;
	case EACCES:
	case EPERM:
		fail(s, 403, "permission denied");
		break;
	case EXDEV:
		fail(s, 403, "outside the document root");
		break;
	case ELOOP:
		fail(s, 403, "too many symbolic links");
		break;
	case ENAMETOOLONG:
		fail(s, 404, "name too long");
		break;
	default:
		fail(s, 500, "cannot open");
		break;
	}
}

/* Bytes a Location may carry as sent; the rest is percent-encoded. '\\' is among them
 * because browsers read it as '/', which would turn "/\host" into "//host". */
static bool is_location_safe(unsigned char c)
{
	return ka_is_vchar(c) && c != '\\';
}

static bool append_location(char *loc, size_t *n, const char *p, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		size_t need = is_location_safe(c) ? 1 : 3;
		if (*n + need >= LOCATION_MAX)
			return false;
		if (need == 1) {
			loc[(*n)++] = (char)c;
		} else {
			loc[(*n)++] = '%';
			loc[(*n)++] = hex[c >> 4];
			loc[(*n)++] = hex[c & 15];
		}
	}
	return true;
}

/* A directory asked for without its trailing slash: 301 to the same path with one, so
 * relative links in its index.html resolve inside it. Leading slashes are collapsed to
 * one: "//host/" in a Location would send the browser to another site. */
static void redirect_to_dir(struct serve *s)
{
	char loc[LOCATION_MAX];
	size_t n = 0;
	struct ka_str path = s->raw_path;
	while (path.len > 0 && path.p[0] == '/')
		path.p++, path.len--;
	bool fits = append_location(loc, &n, "/", 1) &&
	            append_location(loc, &n, path.p, path.len) &&
	            append_location(loc, &n, "/", 1);
	if (fits && s->req->query.len > 0)
		fits = append_location(loc, &n, "?", 1) &&
		       append_location(loc, &n, s->req->query.p, s->req->query.len);
	if (!fits) {
		fail(s, 414, "redirect target too long");
		return;
	}
	loc[n] = '\0';
	struct ka_resp *r = s->resp;
	ka_resp_init(r, 301);
	if (ka_resp_add_header(r, "Location", loc) < 0) {
		fail(s, 414, "redirect target too long");
		return;
	}
	size_t len = ka_resp_format_text(s->scratch, s->scratch_len, 301, loc, n);
	ka_resp_text(r, 301, s->scratch, len);
}

/* What a response needs to know of a file, from fstat or from the cache. */
struct file_view {
	int64_t mtime;
	uint64_t size;
	const char *etag;
	int etag_len;
	const char *validators;  /* the Last-Modified and ETag lines */
	int validators_len;
	const char *content_type;
	struct ka_cached_file *cached;  /* the body's bytes, pinned; NULL: read s->fd */
};

static void serve_view(struct serve *s, const struct file_view *v)
{
	struct ka_resp *r = s->resp;
	uint64_t size = v->size;

	static const char accept_ranges[] = "Accept-Ranges: bytes\r\n";

	ka_resp_init(r, 200);
	(void)ka_resp_add_lines(r, v->validators, (size_t)v->validators_len);
	if (s->conditional && is_not_modified(s->req, v->etag, (size_t)v->etag_len, v->mtime)) {
		/* RFC 9110 15.4.5: validators only; the fd is closed by our caller. */
		r->status = 304;
		return;
	}
	r->content_type = v->content_type;
	(void)ka_resp_add_lines(r, accept_ranges, sizeof(accept_ranges) - 1);

	uint64_t first = 0, last = size ? size - 1 : 0;
	enum range_result range = RANGE_WHOLE;
	const struct ka_str *range_value = s->conditional ? single_header(s->req, "Range") : NULL;
	if (s->req->method_id == KA_METHOD_GET && range_value != NULL &&
	    is_if_range_current(s->req, v->etag, (size_t)v->etag_len, v->mtime))
		range = parse_range(*range_value, size, &first, &last);

	if (range == RANGE_UNSAT) {
		char content_range[48];
		snprintf(content_range, sizeof(content_range), "bytes */%llu",
		         (unsigned long long)size);
		fail(s, 416, "no such bytes");
		(void)ka_resp_add_header(r, "Content-Range", content_range);
		return;
	}
	uint64_t len = size;
	if (range == RANGE_ONE) {
		char content_range[80];
		snprintf(content_range, sizeof(content_range), "bytes %llu-%llu/%llu",
		         (unsigned long long)first, (unsigned long long)last,
		         (unsigned long long)size);
		(void)ka_resp_add_header(r, "Content-Range", content_range);
		r->status = 206;
		len = last - first + 1;
	} else {
		first = 0;
	}
	r->content_length = (int64_t)len;
	if (v->cached) {
		v->cached->refs++;  /* the response's own pin, released by the output path */
		r->body = KA_BODY_MEM;
		r->mem = v->cached->data + first;
		r->mem_len = (size_t)len;
		r->pin = v->cached;
		r->unpin = ka_cached_file_unpin;
		return;
	}
	r->body = KA_BODY_FILE;
	r->file_fd = s->fd;
	r->file_off = (off_t)first;
	r->file_len = (size_t)len;
}

static void serve_cached(struct serve *s, struct ka_cached_file *f)
{
	const struct file_view v = {
		.mtime = f->mtime_s, .size = (uint64_t)f->size, .etag = f->etag,
		.etag_len = f->etag_len, .validators = f->validators,
		.validators_len = f->validators_len, .content_type = f->content_type, .cached = f,
	};

	serve_view(s, &v);
	ka_cached_file_unpin(f);  /* the lookup's pin; the response holds its own */
}

/* s->fd is an open regular file described by st; name gives its Content-Type. */
static void serve_file(struct serve *s, const char *name, size_t name_len,
                       const struct stat *st)
{
	char etag[48], validators[128];
	struct file_view v = {
		.mtime = (int64_t)st->st_mtime, .size = (uint64_t)st->st_size, .etag = etag,
		.validators = validators, .content_type = ka_mime_type(name, name_len),
	};

	v.validators_len = ka_file_validators(v.mtime, v.size, etag, &v.etag_len, validators);
	serve_view(s, &v);
}

/* The path named a directory (s->fd): redirect to add its trailing slash, or open its
 * index.html in its place (path grows, rel points into it, st is the index's). False
 * when the response is already made. */
static bool open_index(struct serve *s, char *path, size_t *path_len, const char **rel,
                       struct stat *st)
{
	close(s->fd);
	s->fd = -1;
	if (s->raw_path.p[s->raw_path.len - 1] != '/') {
		redirect_to_dir(s);
		return false;
	}
	/* clean_path ended path with '/' and left room for this. */
	memcpy(path + *path_len, "index.html", sizeof("index.html"));
	*path_len += sizeof("index.html") - 1;
	*rel = path + 1;
	s->fd = ka_path_open_beneath(s->root->dir_fd, *rel, KA_PATH_READ_FLAGS);
	if (s->fd < 0) {
		if (s->fd == -ENOENT)
			fail(s, 403, "no index.html");
		else
			fail_errno(s, -s->fd);
		return false;
	}
	if (fstat(s->fd, st) < 0) {
		fail(s, 500, "cannot stat");
		return false;
	}
	return true;
}

static void serve(struct serve *s)
{
	const struct ka_http_request *req = s->req;
	s->raw_path = ka_path_origin(req->path);

	/* Any other method, known or not, is 405 with Allow: nothing here is served but
	 * by GET and HEAD. */
	if (req->method_id != KA_METHOD_GET && req->method_id != KA_METHOD_HEAD) {
		fail(s, 405, "only GET and HEAD");
		(void)ka_resp_add_header(s->resp, "Allow", "GET, HEAD");
		return;
	}

	char path[PATH_CAP];
	size_t path_len;
	int status;
	const char *problem = ka_path_clean(s->raw_path, path, sizeof(path), &path_len, &status);
	if (problem != NULL) {
		fail(s, status, problem);
		return;
	}
	/* RESOLVE_BENEATH refuses absolute names: open "a/b" for "/a/b", "." for "/". */
	const char *rel = path_len > 1 ? path + 1 : ".";
	const char *key = rel;
	size_t key_len = strlen(key);

	if (s->cache) {
		struct ka_cached_file *f = ka_file_cache_get(s->cache, s->root->dir_fd, key, key_len);

		if (f) {
			serve_cached(s, f);
			return;
		}
	}

	struct stat st;
	s->fd = ka_path_open_beneath(s->root->dir_fd, rel, KA_PATH_READ_FLAGS);
	if (s->fd == -EACCES)
		s->fd = ka_path_open_searchable_dir(s->root->dir_fd, rel);
	if (s->fd < 0) {
		fail_errno(s, -s->fd);
		return;
	}
	if (fstat(s->fd, &st) < 0) {
		fail(s, 500, "cannot stat");
		return;
	}
	if (S_ISDIR(st.st_mode) && !open_index(s, path, &path_len, &rel, &st))
		return;
	if (!S_ISREG(st.st_mode)) {
		fail(s, 403, "not a regular file");
		return;
	}
	if (s->cache) {
		/* key may alias path (and so rel) when no index.html was added: copy it. */
		char key_copy[PATH_CAP];
		struct ka_cached_file *f;

		memcpy(key_copy, key, key_len + 1);
		f = ka_file_cache_put(s->cache, key_copy, key_len, rel, strlen(rel), s->fd, &st,
		                      ka_mime_type(path, path_len));
		if (f) {
			serve_cached(s, f);
			return;
		}
	}
	serve_file(s, path, path_len, &st);
}

void ka_static_serve(const struct ka_static_root *root, struct ka_file_cache *cache,
                     const struct ka_http_request *req, struct ka_resp *resp, char *scratch,
                     size_t scratch_len)
{
	struct serve s = {
		.root = root,
		.cache = cache,
		.req = req,
		.resp = resp,
		.scratch = scratch,
		.scratch_len = scratch_len,
		.fd = -1,
	};
	/* Preconditions and Range are looked for only when a header name could be one of
	 * them (If-*, Range): most requests have none, and each lookup scans every header. */
	for (size_t i = 0; i < req->num_headers && !s.conditional; i++) {
		char c = (char)(req->headers[i].name.p[0] | 0x20);

		s.conditional = c == 'i' || c == 'r';
	}
	ka_resp_init(resp, 200);
	serve(&s);

	/* The one place a descriptor is let go: kept only when it became the body. */
	bool handed_over = resp->body == KA_BODY_FILE && resp->file_fd == s.fd;
	if (s.fd >= 0 && !handed_over)
		close(s.fd);

	/* RFC 9110 9.3.2: HEAD gets the headers GET would, content_length included, and no
	 * body, whatever the status; conn.c then has nothing to suppress. */
	if (req->method_id == KA_METHOD_HEAD) {
		if (resp->body == KA_BODY_FILE && resp->file_fd >= 0)
			close(resp->file_fd);
		resp->body = KA_BODY_NONE;
		resp->file_fd = -1;
		resp->file_off = 0;
		resp->file_len = 0;
		resp->mem = NULL;
		resp->mem_len = 0;
	}
}

/* ---- the route --------------------------------------------------------------------------- */

static void serve_static(struct ka_conn *c, const struct ka_route *route)
{
	struct ka_worker *w = c->w;
	struct ka_exchange *ex = c->ex;

	w->files.pass = w->loop.now_us;  /* the cache's checks: once per pass of the loop */
	ka_static_serve(route->data, &w->files, &ex->req, &ex->resp, ex->scratch,
	                sizeof(ex->scratch));
	ka_conn_respond(c);
}

int ka_static_add_routes(struct ka_routes *t, const struct ka_static_root *root)
{
	const struct ka_route r = { .path = "", .prefix = true, .methods = KA_METHODS_GET_HEAD,
		                    .allow = "GET, HEAD", .serve = serve_static, .data = root };

	return ka_routes_add(t, &r);
}
