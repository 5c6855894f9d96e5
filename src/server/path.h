/*
 * The request path: from request-target to a file opened beneath the document root.
 */
#ifndef KA_PATH_H
#define KA_PATH_H

#include <fcntl.h>
#include <stddef.h>

#include "core/http_parse.h"

/* For reading: O_NONBLOCK so that a FIFO in the root cannot stall a worker inside
 * open(); it has no effect on the regular files we go on to read. */
#define KA_PATH_READ_FLAGS (O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

/* RFC 9112 3.2.2: the path of an absolute-form target ("http://h/p" gives "/p", and
 * "http://h" gives "/"); any other target comes back unchanged. */
struct ka_str ka_path_origin(struct ka_str target);

/* Percent-decodes raw into out[cap] and removes dot segments (RFC 3986 5.2.4) from the
 * decoded bytes, so "%2e%2e" is as much a ".." as ".." is; repeated slashes collapse.
 * The result starts with '/' and ends with one when raw named a directory. Returns
 * NULL, or the problem with *status set to 400 or 414. */
const char *ka_path_clean(struct ka_str raw, char *out, size_t cap, size_t *out_len,
                          int *status);

/* Opens rel (relative, normalised) beneath dir_fd; returns the descriptor or -errno
 * (EXDEV: a symlink leads out of the root). Symlinks are followed, but never out of
 * the root and never through /proc's magic links. */
int ka_path_open_beneath(int dir_fd, const char *rel, int flags);

/* After EACCES on a directory that is searchable but not readable: an O_PATH
 * descriptor for it, enough to reach its index.html; -EACCES otherwise. */
int ka_path_open_searchable_dir(int dir_fd, const char *rel);

#endif
