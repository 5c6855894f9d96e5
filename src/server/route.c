/*
 * The route table (route.h). Kept sorted as routes are added, so that finding one is
 * a walk that stops at the first match: exact paths, then prefixes from the longest.
 * Tables hold a handful of entries, so the walk costs less than any index would.
 */
#include "server/route.h"

#include <string.h>

/* Whether a sorts before b. */
static bool before(const struct ka_route *a, const struct ka_route *b)
{
	if (a->prefix != b->prefix)
		return !a->prefix;
	return a->path_len > b->path_len;
}

int ka_routes_add(struct ka_routes *t, const struct ka_route *r)
{
	struct ka_route add = *r;
	unsigned i;

	if (t->n == KA_MAX_ROUTES)
		return -1;
	if (add.path_len == 0)
		add.path_len = strlen(add.path);
	for (i = t->n; i > 0 && before(&add, &t->v[i - 1]); i--)
		t->v[i] = t->v[i - 1];
	t->v[i] = add;
	t->n++;
	return 0;
}

const struct ka_route *ka_routes_find(const struct ka_routes *t, struct ka_str path)
{
	for (unsigned i = 0; i < t->n; i++) {
		const struct ka_route *r = &t->v[i];

		if (r->prefix ? path.len >= r->path_len && memcmp(path.p, r->path, r->path_len) == 0
		              : path.len == r->path_len && memcmp(path.p, r->path, path.len) == 0)
			return r;
	}
	return NULL;
}
