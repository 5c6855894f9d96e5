/*
 * The request path, from request-target to an open file beneath the document root
 * (path.h): percent-decoding and dot-segment removal on the decoded bytes, refusing
 * rather than repairing anything doubtful, then openat2(RESOLVE_BENEATH), so that the
 * kernel, not this code, has the last word on staying inside the root; where openat2
 * is missing, open and check where the descriptor really is.
 */
#include "server/path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/http_chars.h"

/* ---- the request path ------------------------------------------------------------- */

/* RFC 9112 3.2.2: a server must accept absolute-form; we serve its path. Anything else
 * that does not start with '/' comes back unchanged and is refused by the caller. */
struct ka_str ka_path_origin(struct ka_str target)
{
	size_t skip;
	if (target.len >= 7 && ka_str_ieq((struct ka_str){ target.p, 7 }, "http://"))
		skip = 7;
	else if (target.len >= 8 && ka_str_ieq((struct ka_str){ target.p, 8 }, "https://"))
		skip = 8;
	else
		return target;
	const char *slash = memchr(target.p + skip, '/', target.len - skip);
	if (slash == NULL)
		return (struct ka_str){ "/", 1 };
	return (struct ka_str){ slash, target.len - (size_t)(slash - target.p) };
}

/*
 * Percent-decodes raw into out and removes dot segments there (RFC 3986 5.2.4) on the
 * decoded bytes, so "%2e%2e" is as much a ".." as ".." is. Repeated slashes collapse;
 * the result starts with '/' and ends with one when raw named a directory ("/a/",
 * "/a/."). Returns NULL, or the problem with *status set to 400 or 404.
 */
const char *ka_path_clean(struct ka_str raw, char *out, size_t cap, size_t *out_len,
                          int *status)
{
	*status = 400;
	if (raw.len == 0 || raw.p[0] != '/')
		return "path must start with '/'";

	size_t len = 0;
	for (size_t i = 0; i < raw.len; i++) {
		unsigned char c = (unsigned char)raw.p[i];
		if (c == '%') {
			int hi = i + 2 < raw.len ? ka_hex_value((unsigned char)raw.p[i + 1]) : -1;
			int lo = hi >= 0 ? ka_hex_value((unsigned char)raw.p[i + 2]) : -1;
			if (lo < 0)
				return "bad percent-escape";
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0')
			return "NUL byte in path";
		if (ka_is_ctl(c))
			return "control byte in path";
		if (len + 1 >= cap - sizeof("index.html")) {
			*status = 404;  /* longer than any path the kernel opens */
			return "path too long";
		}
		out[len++] = (char)c;
	}

	/* In place: each segment written is preceded by at least one '/' consumed, so the
	 * write position w never passes the read position i. */
	size_t w = 0, i = 0;
	bool names_dir = false;
	while (i < len) {
		while (i < len && out[i] == '/')
			i++;
		if (i == len) {
			names_dir = true;  /* the path ended with '/' */
			break;
		}
		size_t start = i;
		while (i < len && out[i] != '/')
			i++;
		size_t seg = i - start;
		if (seg == 1 && out[start] == '.') {
			names_dir = true;
			continue;
		}
		if (seg == 2 && out[start] == '.' && out[start + 1] == '.') {
			if (w == 0)
				return "path climbs above the root";
			while (out[w - 1] != '/')
				w--;
			w--;
			names_dir = true;
			continue;
		}
		out[w++] = '/';
		memmove(out + w, out + start, seg);
		w += seg;
		names_dir = false;
	}
	if (w == 0 || names_dir)
		out[w++] = '/';
	out[w] = '\0';
	*out_len = w;
	return NULL;
}

/* ---- opening beneath the root ----------------------------------------------------- */

/* Set once openat2 has answered ENOSYS (a kernel before 5.6, or a seccomp filter that
 * does not know it), so later requests go straight to the fallback. */
static int openat2_missing;

/* The path the kernel has for fd, via /proc; returns its length or -errno. */
static ssize_t fd_real_path(int fd, char *buf, size_t cap)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, buf, cap - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= cap - 1)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return n;
}

/*
 * Without openat2: open first, then check where the opened file really is against
 * where the root really is. Checking the opened descriptor, not the name, leaves no
 * window for a rename race. Weaker than RESOLVE_BENEATH in one way: a symlink to a
 * device outside the root is opened (O_NONBLOCK | O_NOCTTY) before being refused.
 * Without /proc nothing can be checked, so nothing is served (EIO, a 500).
 */
static int open_checked(int dir_fd, const char *rel, int flags)
{
	char root_real[PATH_MAX], file_real[PATH_MAX];
	ssize_t root_len = fd_real_path(dir_fd, root_real, sizeof(root_real));
	if (root_len < 0)
		return -EIO;
	int fd = openat(dir_fd, rel, flags);
	if (fd < 0)
		return -errno;
	ssize_t file_len = fd_real_path(fd, file_real, sizeof(file_real));
	bool beneath = false;
	if (file_len >= root_len && memcmp(file_real, root_real, (size_t)root_len) == 0)
		beneath = file_len == root_len || file_real[root_len] == '/' ||
		          (root_len == 1 && root_real[0] == '/');
	if (!beneath) {
		close(fd);
		return file_len < 0 ? -EIO : -EXDEV;
	}
	return fd;
}

/*
 * Opens rel (relative, normalised) beneath dir_fd; returns fd or -errno. Symlinks are
 * followed, but never out of the root, and never through /proc's magic links.
 */
int ka_path_open_beneath(int dir_fd, const char *rel, int flags)
{
	if (!__atomic_load_n(&openat2_missing, __ATOMIC_RELAXED)) {
		struct open_how how = {
			.flags = (uint64_t)flags,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
		};
		/* EAGAIN: a rename raced a ".." during resolution and the kernel could not
		 * prove it stayed beneath (openat2(2)); retrying is the documented answer. */
		for (int attempt = 0; attempt < 3; attempt++) {
			long fd = syscall(SYS_openat2, dir_fd, rel, &how, sizeof(how));
			if (fd >= 0)
				return (int)fd;
			if (errno != EAGAIN)
				break;
		}
		if (errno != ENOSYS)
			return -errno;
		__atomic_store_n(&openat2_missing, 1, __ATOMIC_RELAXED);
	}
	return open_checked(dir_fd, rel, flags);
}

/* After EACCES: a directory may be searchable (x) without being readable (r), as user
 * directories often are. All we need of it is its index.html, which we can reach
 * without reading the directory, so hand back an O_PATH descriptor if it is one. */
int ka_path_open_searchable_dir(int dir_fd, const char *rel)
{
	int fd = ka_path_open_beneath(dir_fd, rel, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -EACCES;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		close(fd);
		return -EACCES;
	}
	return fd;
}
