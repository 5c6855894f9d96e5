/*
 * The reverse proxy's per-worker pools, one ka_upstream per backend per worker, and
 * their figures for /status and /metrics (proxy.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "server/proxy_exchange.h"
#include "server/server.h"

struct px_worker *ka_px_worker(struct ka_conn *c)
{
	struct ka_proxies *p = c->w->srv->proxies;
	struct px_worker *pw = &p->workers[c->w->index];

	if (!pw->ups) {  /* first use on this worker */
		pw->ups = calloc(p->n_backends, sizeof(*pw->ups));
		if (!pw->ups)
			return NULL;
		for (unsigned r = 0; r < p->n_routes; r++)
			for (unsigned i = 0; i < p->routes[r].conf->n_backends; i++)
				ka_upstream_init(&pw->ups[p->routes[r].first + i],
				                 &p->routes[r].conf->backends[i], c->w);
	}
	return pw;
}

void ka_proxy_free(struct ka_server *srv)
{
	struct ka_proxies *p = srv->proxies;

	if (!p)
		return;
	for (unsigned k = 0; k < p->n_workers; k++) {
		struct px_worker *pw = &p->workers[k];

		for (unsigned i = 0; pw->ups && i < p->n_backends; i++)
			while (pw->ups[i].idle_head)
				ka_upstream_close(pw->ups[i].idle_head, "exit");
		free(pw->ups);
	}
	free(p->workers);
	free(p);
	srv->proxies = NULL;
}

/* ---- figures -------------------------------------------------------------------------- */

unsigned ka_proxy_backends(const struct ka_server *srv)
{
	return srv->proxies ? srv->proxies->n_backends : 0;
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
	for (unsigned r = 0; r < p->n_routes; r++)
		if (i >= p->routes[r].first && i < p->routes[r].first + p->routes[r].conf->n_backends)
			f->backend = p->routes[r].conf->backends[i - p->routes[r].first].text;
	for (unsigned k = 0; k < p->n_workers; k++) {
		const struct ka_upstream *up = p->workers[k].ups ? &p->workers[k].ups[i] : NULL;
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
