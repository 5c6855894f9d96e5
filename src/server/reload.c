/*
 * The configuration reload (reload.h). The configuration is one immutable struct per
 * generation: the main thread builds the next one with the same code as at start
 * (ka_config_load over the same argv, so every option of the table reloads, options
 * added to the table later included), checks it, and publishes its pointer in
 * srv->live; each worker takes it between two events (w->cfg), so that a request never
 * sees half of one configuration and half of another. Values read per request
 * (keep-alive, limits, timeouts) apply from the next request; timers already running
 * keep their deadline when it grows and are brought forward when it shrinks, except an
 * idle connection's, which its Keep-Alive header announced. What was replaced stays
 * allocated until exit: a worker may still be reading it, and reloads are rare.
 *
 * --proxy reloads too: the public listeners get a new route table (handlers.c), and a
 * backend kept keeps its pool. Not reloaded (the new value is ignored, with a message):
 * --workers, --root, --demo, --admin, --user and --pid-file, which shape the process itself; they change at the
 * next binary upgrade (SIGUSR2), which starts a process from the new configuration.
 */
#include "server/reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/accesslog.h"
#include "server/config.h"
#include "server/listen.h"
#include "server/handlers.h"
#include "server/server.h"
#include "server/tls.h"

/* What reloads replaced, freed at exit. */
struct retired {
	struct retired *next;
	struct ka_config *cfg;
	struct ka_tls *tls;
};

static struct retired *retired;

static void retire(struct ka_config *cfg, struct ka_tls *tls)
{
	struct retired *r = calloc(1, sizeof(*r));

	if (!r)
		return;  /* leaked rather than freed under a worker */
	r->cfg = cfg;
	r->tls = tls;
	r->next = retired;
	retired = r;
}

void ka_reload_init(struct ka_server *srv)
{
	atomic_store(&srv->live, &srv->cfg);
	pthread_mutex_init(&srv->listen_lock, NULL);
	pthread_mutex_init(&srv->reload.lock, NULL);
	srv->reload.ok = true;
}

void ka_reload_free(struct ka_server *srv)
{
	const struct ka_config *live = atomic_load(&srv->live);

	while (retired) {
		struct retired *r = retired;

		retired = r->next;
		if (r->cfg) {
			ka_config_free(r->cfg);
			free(r->cfg);
		}
		ka_tls_free(r->tls);
		free(r);
	}
	if (live && live != &srv->cfg) {
		ka_config_free((struct ka_config *)live);
		free((void *)live);
	}
	atomic_store(&srv->live, &srv->cfg);
	pthread_mutex_destroy(&srv->listen_lock);
	pthread_mutex_destroy(&srv->reload.lock);
}

static bool differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* The options that shape the process: a new value waits for an upgrade. */
static void warn_fixed(const struct ka_server *srv, const struct ka_config *next)
{
	const struct ka_config *now = &srv->cfg;
	const struct {
		const char *name;
		bool changed;
	} fixed[] = {
		{ "workers", next->workers != now->workers },
		{ "root", differs(next->root, now->root) },
		{ "demo", next->demo != now->demo },
		{ "admin", strcmp(next->admin.text, now->admin.text) != 0 },
		{ "user", differs(next->user, now->user) },
		{ "pid-file", differs(next->pid_file, now->pid_file) },
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (fixed[i].changed)
			fprintf(stderr, "kahttpd: reload: --%s: a new value takes effect at the next "
			        "binary upgrade (SIGUSR2) or restart, not at a reload\n", fixed[i].name);
}

/* The first line of the messages, without the program's name, for /status. */
static void record(struct ka_server *srv, bool ok, const char *msgs)
{
	struct ka_reload_status *st = &srv->reload;
	const char *text = msgs ? msgs : "";
	size_t len;

	if (strncmp(text, "kahttpd: ", 9) == 0)
		text += 9;
	len = strcspn(text, "\n");
	if (len >= sizeof(st->error))
		len = sizeof(st->error) - 1;
	pthread_mutex_lock(&st->lock);
	st->ok = ok;
	if (ok) {
		st->reloads++;
		st->error[0] = '\0';
	} else {
		st->failed++;
		memcpy(st->error, text, len);
		st->error[len] = '\0';
		if (!len)
			snprintf(st->error, sizeof(st->error), "the configuration did not load");
	}
	pthread_mutex_unlock(&st->lock);
}

bool ka_reload(struct ka_server *srv, int argc, char **argv)
{
	struct ka_config *next = calloc(1, sizeof(*next));
	char *msgs = NULL;
	size_t msgs_len = 0;
	FILE *err = open_memstream(&msgs, &msgs_len);
	struct ka_tls *tls = NULL;
	struct ka_listen_plan plan;
	const struct ka_routes *routes = NULL;
	int log_fd = -1, rc;
	bool ok = next && err;

	memset(&plan, 0, sizeof(plan));
	if (ok)
		ok = ka_config_load(next, argc, argv, stdout, err) == KA_CONFIG_OK;
	if (ok && next->n_tls_cert) {
		bool failed;

		tls = ka_tls_new(next, err, &failed);
		ok = !failed;
	}
	if (ok && (rc = ka_access_log_reopen(next, &log_fd)) < 0) {
		fprintf(err, "kahttpd: --access-log: cannot open '%s': %s\n", next->access_log,
		        strerror(-rc));
		ok = false;
	}
	if (ok)
		ok = ka_listen_reload_prepare(srv, next, &plan, err) == 0;
	if (ok && !ka_config_proxies_equal(next, atomic_load(&srv->live)))
		ok = (routes = ka_handlers_rebuild(srv, next, err)) != NULL;
	if (err)
		fclose(err);
	if (!ok) {
		fprintf(stderr, "%skahttpd: reload: the configuration did not load; nothing "
		        "changed\n", msgs ? msgs : "");
		record(srv, false, msgs);
		ka_tls_free(tls);
		if (log_fd > STDERR_FILENO)
			close(log_fd);
		if (next) {
			ka_config_free(next);
			free(next);
		}
		free(msgs);
		return false;
	}
	free(msgs);

	warn_fixed(srv, next);
	ka_listen_reload_commit(srv, next, &plan);
	if (tls)
		retire(NULL, atomic_exchange(&srv->tls, tls));
	if (log_fd >= 0)
		ka_access_log_swap(srv, log_fd);
	if (routes)  /* before the configuration: a worker takes both together */
		atomic_store(&srv->live_routes, routes);
	{
		const struct ka_config *old = atomic_exchange(&srv->live, next);

		if (old != &srv->cfg)
			retire((struct ka_config *)old, NULL);
	}
	record(srv, true, NULL);
	for (unsigned k = 0; k < srv->n_workers + (srv->admin_fd >= 0 ? 1 : 0); k++)
		ka_worker_wake(&srv->workers[k], KA_WAKE_RELOAD);
	fprintf(stderr, "kahttpd: reload: configuration loaded\n");
	return true;
}
