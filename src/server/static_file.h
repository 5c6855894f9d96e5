/*
 * Static files from the document root: GET and HEAD, validators (ETag, Last-Modified)
 * and conditional requests, single byte ranges, index.html for directories. Every path
 * is resolved beneath the root by the kernel (openat2 RESOLVE_BENEATH), so no request,
 * however encoded, and no symlink can reach outside it.
 */
#ifndef KA_STATIC_FILE_H
#define KA_STATIC_FILE_H

#include "core/http_parse.h"
#include "server/file_cache.h"
#include "server/resp.h"
#include "server/route.h"

struct ka_static_root {
	int dir_fd;  /* O_PATH | O_DIRECTORY descriptor of --root */
};

/* Opens the root directory; returns 0 or -errno. */
int ka_static_root_open(struct ka_static_root *root, const char *path);
void ka_static_root_close(struct ka_static_root *root);

/*
 * Answers req from the root into resp, through cache (a worker's small-file cache, or
 * NULL for none; a cached body is pinned in resp->pin until sent). scratch (at least 4 KiB) holds the bytes resp
 * points into (error and redirect bodies); it must live as long as resp is in use.
 * The caller owns resp->file_fd once this returns. Never fails: every outcome is a
 * response. 200/206/304 for a file or a directory's index.html; 301 to add a
 * directory's trailing slash; 400 for a path that is malformed or climbs above the
 * root; 403 for what exists but is not served (outside the root, not a regular file,
 * a directory without index.html, no permission); 404; 405 for methods other than GET
 * and HEAD; 414 for a path too long; 416; 500. The choices behind these are listed at
 * the top of static_file.c. For HEAD the body is always KA_BODY_NONE, with the
 * content_length GET would have had.
 */
void ka_static_serve(const struct ka_static_root *root, struct ka_file_cache *cache,
                     const struct ka_http_request *req, struct ka_resp *resp, char *scratch,
                     size_t scratch_len);

/* Adds the document root as the route for every path (the others are tried first);
 * -1 when t is full. */
int ka_static_add_routes(struct ka_routes *t, const struct ka_static_root *root);

/* Content-Type for a file name by its extension; "application/octet-stream" otherwise. */
const char *ka_mime_type(const char *name, size_t len);

#endif
