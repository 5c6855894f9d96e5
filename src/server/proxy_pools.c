/*
 * The reverse proxy's routes and pools (proxy.h): the --proxy prefixes of each
 * configuration as route-table entries, the registry of every backend named since
 * start, one ka_upstream per backend per worker, and their figures for /status and
 * /metrics.
 */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "server/proxy_exchange.h"
#include "server/server.h"

struct px_worker *ka_px_worker(struct ka_conn *c)
{
	return &c->w->srv->proxies->workers[c->w->index];
}

struct ka_upstream *ka_px_upstream(struct ka_conn *c, const struct px_route *r, unsigned i)
{
	struct ka_proxies *p = c->w->srv->proxies;
	struct px_worker *pw = &p->workers[c->w->index];
	unsigned k = r->reg[i];

	struct ka_upstream *up = atomic_load_explicit(&pw->ups[k], memory_order_relaxed);

	if (!up) {
		if (!(up = calloc(1, sizeof(*up))))
			return NULL;
		ka_upstream_init(up, p->reg[k], c->w);
		/* Published whole: the admin worker reads the figures. */
		atomic_store_explicit(&pw->ups[k], up, memory_order_release);
	}
	return up;
}

int ka_px_register(struct ka_server *srv, const struct ka_backend *b)
{
	struct ka_proxies *p = srv->proxies;
	unsigned n;

	if (!p) {
		if (!(p = calloc(1, sizeof(*p))) ||
		    !(p->workers = calloc(srv->n_workers + 1, sizeof(*p->workers)))) {
			free(p);
			return -1;
		}
		p->n_workers = srv->n_workers + 1;
		srv->proxies = p;
	}
	n = atomic_load(&p->n_reg);

	for (unsigned i = 0; i < n; i++)
		if (strcmp(p->reg[i]->text, b->text) == 0)
			return (int)i;
	if (n == PX_MAX_BACKENDS)
		return -1;
	p->reg[n] = b;
	atomic_store_explicit(&p->n_reg, n + 1, memory_order_release);
	return (int)n;
}

void ka_proxy_free(struct ka_server *srv)
{
	struct ka_proxies *p = srv->proxies;

	if (!p)
		return;
	for (unsigned k = 0; k < p->n_workers; k++) {
		struct px_worker *pw = &p->workers[k];

		for (unsigned i = 0; i < PX_MAX_BACKENDS; i++) {
			struct ka_upstream *up = pw->ups[i];

			if (!up)
				continue;
			while (up->idle_head)
				ka_upstream_close(up->idle_head, "exit");
			free(up);
		}
	}
	while (p->gens) {
		struct px_gen *g = p->gens;

		p->gens = g->next;
		free(g);
	}
	free(p->workers);
	free(p);
	srv->proxies = NULL;
}

/* ---- figures -------------------------------------------------------------------------- */

unsigned ka_proxy_backends(const struct ka_server *srv)
{
	return srv->proxies ? atomic_load(&srv->proxies->n_reg) : 0;
}

static int64_t shortest(int64_t a, int64_t b)
{
	return a < 0 ? b : b < 0 ? a : KA_MIN(a, b);
}

void ka_proxy_figures(const struct ka_server *srv, unsigned i, struct ka_upstream_figures *f)
{
	const struct ka_proxies *p = srv->proxies;

	memset(f, 0, sizeof(*f));
	f->told_ms = f->learned_ms = -1;
	f->backend = p->reg[i]->text;
	for (unsigned k = 0; k < p->n_workers; k++) {
		/* A pool is made once by its worker and never freed before exit. */
		const struct ka_upstream *up = atomic_load_explicit(&p->workers[k].ups[i],
		                                                    memory_order_acquire);
		const struct ka_upstream_stats *s = up ? &up->stats : NULL;

		if (!up)
			continue;
		f->open += ka_stat_get(&s->open);
		f->idle += ka_stat_get(&s->idle);
		f->connects += ka_stat_get(&s->connects);
		f->reuses += ka_stat_get(&s->reuses);
		f->retired_told += ka_stat_get(&s->retired_told);
		f->retired_learned += ka_stat_get(&s->retired_learned);
		f->retired_max += ka_stat_get(&s->retired_max);
		f->closed_idle += ka_stat_get(&s->closed_idle);
		f->stale_failures += ka_stat_get(&s->stale_failures);
		f->retries += ka_stat_get(&s->retries);
		for (int j = 0; j < KA_UP_FAILURES; j++)
			f->failures[j] += ka_stat_get(&s->failures[j]);
		/* Read without a lock from another thread: a torn value is impossible for an
		 * aligned int64 on the machines we build for, and a stale one is harmless. */
		f->told_ms = shortest(f->told_ms, *(volatile const int64_t *)&up->told_ms);
		f->learned_ms = shortest(f->learned_ms, *(volatile const int64_t *)&up->learned_ms);
	}
}
