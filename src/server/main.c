/*
 * kahttpd's entry point: read the configuration, bind every listener or take the ones
 * given (listen.c: so that a bad address or a busy port is reported before anything
 * runs, and port 0 is resolved to the real port), write the pid file, drop to --user,
 * start the workers, print one "listening on" line per listener, say READY=1 to
 * systemd, then wait for signals (docs/operations.md). SIGTERM and SIGINT drain (after
 * --drain-delay; exit 0, or 1 if the shutdown timeout had to cut connections);
 * SIGQUIT exits at once; SIGHUP reloads the configuration (reload.c); SIGUSR2 starts
 * the binary on disk with our listening sockets and drains once it serves (process.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netinet/in.h>
#include <time.h>

#include "core/sockopt.h"
#include "server/accesslog.h"
#include "server/config.h"
#include "server/handlers.h"
#include "server/listen.h"
#include "server/process.h"
#include "server/proxy.h"
#include "server/reload.h"
#include "server/sdnotify.h"
#include "server/server.h"
#include "server/tls.h"

/* Descriptors besides the connections: listeners, epoll and eventfds, files being sent. */
#define FD_SPARE 256

static int done_fd = -1;  /* each worker thread adds 1 when its loop has ended */

/* SIGQUIT: exit at once, without draining, once the n workers (running of them still
 * running) have written out their access log lines, or after a second without news
 * from them, should one be stuck. */
static void quit(struct ka_server *srv, unsigned n, unsigned running)
{
	struct pollfd pfd = { done_fd, POLLIN, 0 };
	uint64_t ended;

	if (srv->log_fd < 0)
		_exit(0);
	for (unsigned k = 0; k < n; k++)
		ka_worker_wake(&srv->workers[k], KA_WAKE_QUIT);
	while (running > 0 && poll(&pfd, 1, 1000) > 0)
		if (read(done_fd, &ended, sizeof(ended)) == sizeof(ended))
			running -= ended < running ? (unsigned)ended : running;
	_exit(0);
}

static void *worker_thread(void *arg)
{
	uint64_t one = 1;

	ka_worker_main(arg);
	if (write(done_fd, &one, sizeof(one)) < 0)
		perror("kahttpd: eventfd");
	return NULL;
}

/* Each connection is a descriptor. The usual soft limit, 1024, is kept for programs
 * that use select(); one that needs more raises it itself, up to the hard limit. What
 * remains short makes accept4 fail with EMFILE: the workers then stop accepting for a
 * moment (worker.c) and new clients wait in the listen backlog. */
static void raise_fd_limit(const struct ka_config *cfg)
{
	rlim_t want = (rlim_t)cfg->max_connections + FD_SPARE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < want)
		fprintf(stderr,
		        "kahttpd: --max-connections %llu needs about %llu descriptors, the limit is "
		        "%llu (ulimit -n): beyond it new clients wait\n",
		        (unsigned long long)cfg->max_connections, (unsigned long long)want,
		        (unsigned long long)rl.rlim_cur);
}

static unsigned cpu_count(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	return 1;
}

/* Signals are taken by the main thread alone, through a signalfd; workers inherit the
 * blocked mask. A vanished client must cost EPIPE, never SIGPIPE. */
static int take_signals(void)
{
	sigset_t sigs;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGQUIT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	return signalfd(-1, &sigs, SFD_CLOEXEC);
}

/* What the main thread knows of the process's life, between signals. */
struct life {
	struct ka_server *srv;
	int sig_fd;
	unsigned n_all;       /* workers, the admin worker included */
	unsigned finished;    /* workers whose loop has ended */
	bool stopping;        /* SIGTERM/SIGINT came: /healthz says 503 */
	bool drained;         /* the request workers were told to drain */
	bool admin_told;      /* so was the admin worker */
	int64_t drain_at;     /* CLOCK_MONOTONIC ms when --drain-delay ends; 0: none pending */
	pid_t child;          /* the new process of an upgrade under way, 0 when none */
	int ready_fd;         /* its pipe: a byte when it serves, EOF if it failed; -1 */
	bool handed_over;     /* the upgrade's new process is systemd's main process now */
	int64_t status_at;    /* next STATUS= to systemd; 0 without NOTIFY_SOCKET */
	int64_t watchdog_at;  /* next WATCHDOG=1; 0 without a watchdog */
	uint64_t status_requests;  /* requests counted at the last STATUS= */
	int argc;             /* the command line, read again at each SIGHUP */
	char **argv;
};

#define STATUS_INTERVAL_MS 1000

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The request workers drain; the admin worker keeps answering (/healthz says 503)
 * until they have all ended, so that a balancer sees the drain, not a refused port. */
static void begin_drain(struct life *lf, unsigned flags)
{
	struct ka_server *srv = lf->srv;

	lf->drain_at = 0;
	if (lf->drained)
		return;
	lf->drained = true;
	for (unsigned k = 0; k < srv->n_workers; k++)
		ka_worker_wake(&srv->workers[k], flags);
}

/* SIGTERM or SIGINT: /healthz turns 503 at once; the drain begins now, or after
 * --drain-delay of normal serving (a second signal cuts the delay short). */
static void on_stop_signal(struct life *lf)
{
	struct ka_server *srv = lf->srv;

	atomic_store(&srv->unhealthy, true);
	if (!lf->stopping && !lf->handed_over)
		ka_notify("STOPPING=1");
	if (!lf->stopping && srv->cfg.drain_delay > 0) {
		lf->stopping = true;
		lf->drain_at = mono_ms() + srv->cfg.drain_delay;
		return;
	}
	lf->stopping = true;
	if (lf->handed_over) {
		/* Draining after an upgrade, idle connections wait for their next request;
		 * a stop signal closes them now, as any drain does. */
		for (unsigned k = 0; k < lf->n_all; k++)
			ka_worker_wake(&srv->workers[k], KA_WAKE_STOP);
		return;
	}
	begin_drain(lf, KA_WAKE_STOP);
}

/* ---- binary upgrade (SIGUSR2) ------------------------------------------------------------- */

/* Every listening socket we accept from, as the new process must get them. */
static unsigned handoff_list(struct ka_server *srv, struct ka_handoff *out)
{
	unsigned n = 0;

	for (unsigned k = 0; k < srv->n_workers; k++)
		for (unsigned i = 0; i < srv->n_public; i++)
			if (srv->listen_fds[k][i] >= 0 && !atomic_load(&srv->public_removed[i]))
				out[n++] = (struct ka_handoff){ srv->listen_fds[k][i], KA_ROLE_PUBLIC,
					                        srv->public_tls[i], srv->public_text[i] };
	if (srv->admin_fd >= 0)
		out[n++] = (struct ka_handoff){ srv->admin_fd, KA_ROLE_ADMIN, false, srv->admin_text };
	return n;
}

/* The upgrade did not happen: we go on serving as before. */
static void upgrade_failed(struct life *lf)
{
	atomic_store(&lf->srv->unhealthy, false);
	atomic_store(&lf->srv->fds_shared, false);
	ka_pidfile_rename(false);
	lf->child = 0;
}

/* SIGUSR2: start the binary on disk with our listening sockets; we drain once it says
 * it serves (on_upgrade_news). Meanwhile /healthz says 503 and we serve as usual. */
static void begin_upgrade(struct life *lf)
{
	struct ka_server *srv = lf->srv;
	struct ka_handoff *socks;
	unsigned n;

	if (lf->stopping || lf->child) {
		fprintf(stderr, "kahttpd: SIGUSR2 ignored: %s\n",
		        lf->child ? "an upgrade is under way" : "draining");
		return;
	}
	socks = calloc((size_t)srv->n_workers * srv->n_public + 1, sizeof(*socks));
	if (!socks) {
		fprintf(stderr, "kahttpd: upgrade: out of memory; still serving\n");
		return;
	}
	atomic_store(&srv->unhealthy, true);
	ka_pidfile_rename(true);
	/* Until the child has executed, it holds copies of our descriptors (worker.c,
	 * conn.c: a connection's close must then take it out of epoll itself). */
	atomic_store(&srv->fds_shared, true);
	/* Held until the child has its copies: a worker closes a listener a reload
	 * removed under this lock, and its number could be reused meanwhile. */
	pthread_mutex_lock(&srv->listen_lock);
	n = handoff_list(srv, socks);
	lf->child = ka_upgrade_spawn(socks, n, &lf->ready_fd);
	pthread_mutex_unlock(&srv->listen_lock);
	free(socks);
	if (lf->child < 0) {
		fprintf(stderr, "kahttpd: upgrade: the new binary could not be started; still "
		        "serving\n");
		upgrade_failed(lf);
	}
}

/* The new process's pipe spoke: one byte when it serves (we drain, handing over), or
 * EOF (or an exec error) when it failed (we go on). */
static void on_upgrade_news(struct life *lf)
{
	struct ka_server *srv = lf->srv;
	char msg[2] = { 0, 0 };
	ssize_t got = read(lf->ready_fd, msg, sizeof(msg));
	int status = 0;
	pid_t done = 0;

	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	close(lf->ready_fd);
	lf->ready_fd = -1;
	if (got >= 1 && msg[0] == 'R') {
		atomic_store(&srv->fds_shared, false);
		fprintf(stderr, "kahttpd: upgrade: pid %ld serves; draining\n", (long)lf->child);
		/* systemd follows the new process from now on (NotifyAccess=all lets it
		 * speak); we say nothing more, not even STOPPING=1, which would be taken for
		 * the service's. */
		ka_notify("MAINPID=%ld", (long)lf->child);
		lf->handed_over = true;
		lf->stopping = true;
		lf->drained = lf->admin_told = true;
		for (unsigned k = 0; k < lf->n_all; k++)
			ka_worker_wake(&srv->workers[k], KA_WAKE_HANDOVER);
		return;
	}
	/* It has exited or is about to: collect its status, waiting a moment at most. */
	for (int i = 0; i < 200 && (done = waitpid(lf->child, &status, WNOHANG)) == 0; i++)
		poll(NULL, 0, 10);
	if (got == 2 && msg[0] == 'E')
		fprintf(stderr, "kahttpd: upgrade: cannot execute '%s': %s; still serving\n",
		        ka_upgrade_exe(), strerror(msg[1]));
	else if (done == lf->child && WIFEXITED(status))
		fprintf(stderr, "kahttpd: upgrade: the new process (pid %ld) exited with status %d "
		        "before serving; still serving\n", (long)lf->child, WEXITSTATUS(status));
	else if (done == lf->child && WIFSIGNALED(status))
		fprintf(stderr, "kahttpd: upgrade: the new process (pid %ld) was killed by signal "
		        "%d before serving; still serving\n", (long)lf->child, WTERMSIG(status));
	else
		fprintf(stderr, "kahttpd: upgrade: the new process (pid %ld) closed its pipe "
		        "without serving; still serving\n", (long)lf->child);
	upgrade_failed(lf);
}

/* SIGHUP: read the configuration again; systemd hears RELOADING=1, then READY=1
 * whether or not it loaded (the old one still serves). */
static void on_reload_signal(struct life *lf)
{
	struct timespec ts;

	/* During an upgrade the new process has our sockets of now: a listener we added
	 * would be left out; it reads the configuration itself anyway. */
	if (lf->stopping || lf->child) {
		fprintf(stderr, "kahttpd: SIGHUP ignored: %s\n",
		        lf->child ? "an upgrade is under way" : "draining");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ka_notify("RELOADING=1\nMONOTONIC_USEC=%llu",
	          (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	if (ka_reload(lf->srv, lf->argc, lf->argv))
		raise_fd_limit(atomic_load(&lf->srv->live));
	ka_notify("READY=1");
}

static void on_signal(struct life *lf)
{
	struct signalfd_siginfo si;

	if (read(lf->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	switch (si.ssi_signo) {
	case SIGQUIT:
		quit(lf->srv, lf->n_all, lf->n_all - lf->finished);
		break;
	case SIGTERM:
	case SIGINT:
		on_stop_signal(lf);
		break;
	case SIGUSR2:
		begin_upgrade(lf);
		break;
	case SIGHUP:
		on_reload_signal(lf);
		break;
	}
}

/* STATUS= for systemctl status: open connections and requests per second since the
 * last one; and WATCHDOG=1 when due. */
static void notify_tick(struct life *lf, int64_t now)
{
	struct ka_server *srv = lf->srv;

	if (lf->handed_over)
		return;
	if (lf->status_at && now >= lf->status_at) {
		struct ka_stats sum;
		uint64_t requests;
		double elapsed = (double)(now - lf->status_at + STATUS_INTERVAL_MS) / 1000.0;

		memset(&sum, 0, sizeof(sum));
		for (unsigned k = 0; k < srv->n_workers; k++)
			ka_stats_sum(&sum, &srv->workers[k].stats);
		requests = ka_stat_get(&sum.requests);
		ka_notify("STATUS=%s: %llu connections open, %.1f requests/s",
		          lf->stopping ? "draining" : "serving",
		          (unsigned long long)atomic_load(&srv->nconns),
		          (double)(requests - lf->status_requests) / elapsed);
		lf->status_requests = requests;
		lf->status_at = now + STATUS_INTERVAL_MS;
	}
	if (lf->watchdog_at && now >= lf->watchdog_at) {
		ka_notify("WATCHDOG=1");
		lf->watchdog_at = now + ka_notify_watchdog_ms();
	}
}

/* The poll timeout until the next thing the main thread must do by itself. */
static int next_timeout(const struct life *lf, int64_t now)
{
	int64_t next = INT64_MAX;
	const int64_t at[] = { lf->drain_at, lf->handed_over ? 0 : lf->status_at,
		               lf->handed_over ? 0 : lf->watchdog_at };

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		if (at[i] && at[i] < next)
			next = at[i];
	if (next == INT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now < 60000 ? next - now : 60000);
}

/* Until every worker has ended. -1 when poll fails. */
static int wait_for_workers(struct life *lf)
{
	struct ka_server *srv = lf->srv;

	while (lf->finished < lf->n_all) {
		struct pollfd pfd[3] = { { lf->sig_fd, POLLIN, 0 }, { done_fd, POLLIN, 0 },
			                 { lf->ready_fd, POLLIN, 0 } };
		int64_t now = mono_ms();

		if (lf->drain_at && now >= lf->drain_at)
			begin_drain(lf, KA_WAKE_STOP);
		notify_tick(lf, now);
		if (poll(pfd, 3, next_timeout(lf, now)) < 0) {
			if (errno == EINTR)
				continue;
			perror("kahttpd: poll");
			return -1;
		}
		if (pfd[0].revents & POLLIN)
			on_signal(lf);
		if (pfd[2].revents && lf->ready_fd >= 0)
			on_upgrade_news(lf);
		if (pfd[1].revents & POLLIN) {
			uint64_t n;

			if (read(done_fd, &n, sizeof(n)) == sizeof(n))
				lf->finished += (unsigned)n;
		}
		/* The request workers are done: now the admin worker. */
		if (lf->drained && !lf->admin_told && lf->finished >= srv->n_workers &&
		    lf->n_all > srv->n_workers) {
			lf->admin_told = true;
			ka_worker_wake(&srv->workers[srv->n_workers], KA_WAKE_STOP);
		}
	}
	return 0;
}

/* What the configuration names, opened before binding (and before --user): the root,
 * the access log, the routes, the certificates. 0, or the exit code (with a message). */
static int open_resources(struct ka_server *srv)
{
	const struct ka_config *cfg = &srv->cfg;
	bool failed;
	int err;

	if ((err = ka_static_root_open(&srv->root, cfg->root)) < 0) {
		fprintf(stderr, "kahttpd: --root: cannot open directory '%s': %s\n", cfg->root,
		        strerror(-err));
		return 2;
	}
	if ((err = ka_access_log_open(srv)) < 0) {
		fprintf(stderr, "kahttpd: --access-log: cannot open '%s': %s\n", cfg->access_log,
		        strerror(-err));
		return 2;
	}
	if (ka_handlers_build(srv) < 0)
		return 1;
	srv->tls = ka_tls_new(cfg, stderr, &failed);
	return failed ? 2 : 0;
}

/* Becomes --user, after binding and before any thread runs. */
static void drop_privileges(const struct ka_config *cfg)
{
	if (cfg->user && ka_user_become(cfg->user) < 0)
		exit(2);
}

/* The workers have stopped: everything is let go, in order. Returns the exit code: 1
 * when --shutdown-timeout had to cut connections. */
static int finish(struct ka_server *srv, unsigned n_all)
{
	int rc = 0;

	for (unsigned k = 0; k < n_all; k++) {
		pthread_join(srv->workers[k].thread, NULL);
		if (srv->workers[k].cut)
			rc = 1;
	}
	/* Client connections first: one may still hold a backend connection of a pool. */
	for (unsigned k = 0; k < n_all; k++)
		ka_worker_close_conns(&srv->workers[k]);
	ka_proxy_free(srv);  /* its pooled connections are in the workers' loops */
	for (unsigned k = 0; k < n_all; k++)
		ka_worker_destroy(&srv->workers[k]);
	ka_pidfile_remove();
	ka_handlers_free(srv);
	ka_reload_free(srv);
	free(srv->workers);
	free(srv->listen_fds);
	ka_tls_free(srv->tls);
	ka_static_root_close(&srv->root);
	ka_access_log_close(srv);
	ka_config_free(&srv->cfg);
	return rc;
}

int main(int argc, char **argv)
{
	static struct ka_server srv;
	static struct ka_inherited_set inh;
	struct ka_config *cfg = &srv.cfg;
	int sig_fd, err, rc = 0;
	unsigned n_all;

	ka_upgrade_init(argc, argv);
	ka_notify_init();
	ka_reload_init(&srv);
	switch (ka_config_load(cfg, argc, argv, stdout, stderr)) {
	case KA_CONFIG_OK:
		break;
	case KA_CONFIG_EXIT:
		return 0;
	case KA_CONFIG_ERROR:
		return 2;
	}
	if (ka_inherited_read(&inh) < 0)
		return 2;
	if (cfg->user && ka_user_check(cfg->user) < 0)
		return 2;
	/* The proxy's pools are per worker: their number is needed by the routes. */
	srv.n_workers = cfg->workers ? cfg->workers : cpu_count();
	if ((rc = open_resources(&srv)) != 0)
		return rc;
	srv.buf_size = cfg->max_header_size > 16384 ? cfg->max_header_size : 16384;
	raise_fd_limit(cfg);

	sig_fd = take_signals();
	done_fd = eventfd(0, EFD_CLOEXEC);
	if (sig_fd < 0 || done_fd < 0) {
		perror("kahttpd");
		return 1;
	}

	ka_listen_bind(&srv, &inh);
	ka_listen_bind_admin(&srv, &inh);
	ka_listen_close_unused(&inh);
	if (cfg->pid_file && (err = ka_pidfile_write(cfg->pid_file)) < 0) {
		fprintf(stderr, "kahttpd: --pid-file: cannot write '%s': %s\n", cfg->pid_file,
		        strerror(-err));
		return 2;
	}
	drop_privileges(cfg);
	n_all = srv.n_workers + (srv.admin_fd >= 0 ? 1 : 0);
	srv.workers = calloc(n_all, sizeof(*srv.workers));
	if (!srv.workers) {
		perror("kahttpd");
		return 1;
	}
	srv.started = mono_ms();
	for (unsigned k = 0; k < n_all; k++) {
		if ((err = ka_worker_init(&srv.workers[k], &srv, k)) ||
		    (err = -pthread_create(&srv.workers[k].thread, NULL, worker_thread,
		                           &srv.workers[k]))) {
			fprintf(stderr, "kahttpd: starting worker %u: %s\n", k, strerror(-err));
			return 1;
		}
	}
	fflush(stdout);
	/* The new process of an upgrade tells the old one, which tells systemd (MAINPID=);
	 * otherwise we are ready now, every socket bound and every worker running. */
	if (!ka_upgrade_ready())
		ka_notify("READY=1");
	{
		struct life lf = { .srv = &srv, .sig_fd = sig_fd, .n_all = n_all, .ready_fd = -1,
			           .argc = argc, .argv = argv };

		lf.status_at = ka_notify_enabled() ? mono_ms() : 0;
		lf.watchdog_at = ka_notify_watchdog_ms() ? mono_ms() : 0;

		if (wait_for_workers(&lf) < 0)
			return 1;
	}
	return finish(&srv, n_all);
}
