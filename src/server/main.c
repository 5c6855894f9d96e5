/*
 * kahttpd's entry point: read the configuration, bind every listener (so that a bad
 * address or a busy port is reported before anything runs, and port 0 is resolved to
 * the real port), start the workers, print one "listening on" line per listener, then
 * wait for a signal. SIGTERM and SIGINT drain (exit 0, or 1 if the shutdown timeout
 * had to cut connections); SIGQUIT exits at once.
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
#include "server/process.h"
#include "server/server.h"
#include "server/tls.h"

#define BACKLOG 4096
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

/* A port that someone else holds would be silently shared under SO_REUSEPORT (if the
 * holder also set it): try it once without, so that "address in use" is reported. */
static int check_port_free(const struct ka_listen *l)
{
	int fd = ka_sock_listen((const struct sockaddr *)&l->addr, l->addr_len, false, 1);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* Options set on a listening socket are copied by the kernel to every socket accepted
 * from it (the child socket is cloned from the listener), and the keepalive timer of
 * the child is started at once. Setting them here saves five setsockopt calls per
 * accepted connection; test_tcp_keepalive checks that they reach accepted sockets. */
static int set_inherited_options(int fd, const struct ka_config *cfg)
{
	const struct ka_tcp_keepalive *k = &cfg->tcp_keepalive;
	int err;

	/* Without a low-water mark a slow reader can have megabytes queued in the socket,
	 * and writability returns only once much of it drained: longer than --io-timeout
	 * for a client that reads slowly but steadily. With it, we write (and so see
	 * progress) every time 128 KiB have gone. */
	if ((err = ka_sock_set_notsent_lowat(fd, 128 * 1024)) ||
	    (err = ka_sock_set_nodelay(fd)) ||
	    (err = ka_sock_set_tcp_keepalive(fd, k->idle, k->intvl, k->cnt)))
		return err;
	return cfg->tcp_user_timeout ? ka_sock_set_user_timeout(fd, cfg->tcp_user_timeout) : 0;
}

/* The listening line of a socket, and its port for the TIME_WAIT count. */
static void announce(struct ka_server *srv, unsigned slot, int fd)
{
	struct sockaddr_storage bound;
	socklen_t bound_len;
	char text[KA_ADDR_TEXT_MAX] = "?";

	if (ka_sock_local_addr(fd, &bound, &bound_len) == 0) {
		ka_sock_addr_text((struct sockaddr *)&bound, text, sizeof(text));
		srv->ports[slot] = ntohs(bound.ss_family == AF_INET6
		                             ? ((struct sockaddr_in6 *)&bound)->sin6_port
		                             : ((struct sockaddr_in *)&bound)->sin_port);
	}
	printf("kahttpd: listening on %s://%s\n", srv->public_tls[slot] ? "https" : "http", text);
}

/* A new slot of public sockets, -1 in every worker; exits when there are too many. */
static unsigned add_slot(struct ka_server *srv, bool tls, const char *text)
{
	unsigned slot = srv->n_public++;

	if (slot == KA_MAX_PUBLIC) {
		fprintf(stderr, "kahttpd: too many listening sockets (at most %d per worker)\n",
		        KA_MAX_PUBLIC);
		exit(1);
	}
	srv->public_tls[slot] = tls;
	srv->public_text[slot] = text;
	for (unsigned k = 0; k < srv->n_workers; k++)
		srv->listen_fds[k][slot] = -1;
	return slot;
}

/* Worker k's descriptor of a socket we were given: the socket itself for the first,
 * a duplicate for the others, so that each worker closes its own. */
static int share_fd(int fd, unsigned k)
{
	int dup_fd = k ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : fd;

	if (dup_fd < 0) {
		perror("kahttpd: dup");
		exit(1);
	}
	return dup_fd;
}

/* Binds one socket per worker for listener l; exits with a message on failure. */
static void bind_one(struct ka_server *srv, const struct ka_listen *l, bool tls)
{
	unsigned slot = add_slot(srv, tls, l->text);
	struct sockaddr_storage bound;
	socklen_t bound_len;
	int err = check_port_free(l);

	for (unsigned k = 0; err == 0 && k < srv->n_workers; k++) {
		/* Worker 0's socket resolves port 0; the others bind the port it got. */
		const struct sockaddr *a = k ? (struct sockaddr *)&bound
		                             : (const struct sockaddr *)&l->addr;
		int fd = ka_sock_listen(a, k ? bound_len : l->addr_len, true, BACKLOG);

		if (fd < 0)
			err = fd;
		else if (!(err = set_inherited_options(fd, &srv->cfg)))
			srv->listen_fds[k][slot] = fd;
		if (k == 0 && fd >= 0)
			err = ka_sock_local_addr(fd, &bound, &bound_len);
	}
	if (err) {
		fprintf(stderr, "kahttpd: --%s %s: %s\n", tls ? "tls-listen" : "listen", l->text,
		        strerror(-err));
		exit(1);
	}
	announce(srv, slot, srv->listen_fds[0][slot]);
}

/* Listener l's sockets from the process we upgrade: as many as it had workers. Ours
 * share them round: with fewer workers than sockets, the extra ones get slots of their
 * own, each accepted from by one worker. false when none was handed on for l. */
static bool adopt_one(struct ka_server *srv, struct ka_inherited_set *inh,
                      const struct ka_listen *l, bool tls)
{
	int fds[KA_MAX_INHERITED];
	unsigned m = 0, n = srv->n_workers, slot;

	for (unsigned i = 0; i < inh->n; i++) {
		struct ka_inherited *s = &inh->v[i];

		if (!s->used && s->role == KA_ROLE_PUBLIC && s->tls == tls &&
		    strcmp(s->text, l->text) == 0) {
			s->used = true;
			fds[m++] = s->fd;
		}
	}
	if (m == 0)
		return false;
	slot = add_slot(srv, tls, l->text);
	for (unsigned k = 0; k < n; k++)
		srv->listen_fds[k][slot] = k < m ? fds[k] : share_fd(fds[k % m], 1);
	for (unsigned j = n; j < m; j++) {
		unsigned extra = add_slot(srv, tls, l->text);

		srv->listen_fds[j % n][extra] = fds[j];
	}
	for (unsigned j = 0; j < m; j++)
		if (set_inherited_options(fds[j], &srv->cfg) < 0)
			perror("kahttpd: listening socket options");
	announce(srv, slot, fds[0]);
	return true;
}

/* The public listeners, HTTP then HTTPS: sockets systemd (or an upgraded process that
 * had them from systemd) gave replace the configured addresses of their kind; sockets
 * an upgraded process bound are matched to our configuration by their --listen text;
 * the rest are bound here. Given sockets that match nothing (a listener no longer
 * configured) are closed. Exits with a message on failure. */
static void bind_listeners(struct ka_server *srv, struct ka_inherited_set *inh)
{
	const struct ka_config *cfg = &srv->cfg;

	srv->listen_fds = calloc(srv->n_workers, sizeof(*srv->listen_fds));
	if (!srv->listen_fds) {
		perror("kahttpd");
		exit(1);
	}
	for (int tls = 0; tls <= 1; tls++) {
		const struct ka_listen *ls = tls ? cfg->tls_listen : cfg->listen;
		unsigned n = tls ? cfg->n_tls_listen : cfg->n_listen;
		bool given = false;

		for (unsigned i = 0; i < inh->n; i++) {
			struct ka_inherited *s = &inh->v[i];
			unsigned slot;

			if (s->used || s->role != KA_ROLE_PUBLIC || s->tls != tls || s->text[0])
				continue;
			s->used = given = true;
			slot = add_slot(srv, tls, "");
			for (unsigned k = 0; k < srv->n_workers; k++)
				srv->listen_fds[k][slot] = share_fd(s->fd, k);
			if (set_inherited_options(s->fd, cfg) < 0)
				perror("kahttpd: listening socket options");
			announce(srv, slot, s->fd);
		}
		for (unsigned i = 0; !given && i < n; i++)
			if (!adopt_one(srv, inh, &ls[i], tls))
				bind_one(srv, &ls[i], tls);
	}
	bool https = false;

	for (unsigned i = 0; i < srv->n_public; i++)
		https |= srv->public_tls[i];
	if (https && !srv->tls) {
		fprintf(stderr, "kahttpd: an HTTPS socket was given: needs a certificate "
		        "(--tls-cert FILE --tls-key FILE)\n");
		exit(2);
	}
}

/* --admin: one socket, served by its own worker, never by the public listeners; a
 * given one comes first. */
static void bind_admin(struct ka_server *srv, struct ka_inherited_set *inh)
{
	const struct ka_listen *l = &srv->cfg.admin;
	struct sockaddr_storage bound;
	socklen_t bound_len;
	char text[KA_ADDR_TEXT_MAX];
	int err = 0;

	srv->admin_fd = -1;
	srv->admin_text = l->text;
	for (unsigned i = 0; i < inh->n && srv->admin_fd < 0; i++) {
		struct ka_inherited *s = &inh->v[i];

		if (!s->used && s->role == KA_ROLE_ADMIN &&
		    (!s->text[0] || strcmp(s->text, l->text) == 0)) {
			s->used = true;
			srv->admin_fd = s->fd;
			if (!s->text[0])
				srv->admin_text = "";
		}
	}
	if (srv->admin_fd < 0 && !l->text[0])
		return;
	if (srv->admin_fd < 0) {
		err = check_port_free(l);
		if (!err && (err = ka_sock_listen((const struct sockaddr *)&l->addr, l->addr_len,
		                                  false, 64)) >= 0)
			srv->admin_fd = err;
	}
	if (err >= 0)
		err = ka_sock_local_addr(srv->admin_fd, &bound, &bound_len);
	if (err < 0) {
		fprintf(stderr, "kahttpd: --admin %s: %s\n", l->text, strerror(-err));
		exit(1);
	}
	ka_sock_addr_text((struct sockaddr *)&bound, text, sizeof(text));
	printf("kahttpd: admin on http://%s\n", text);
}

/* Given sockets that nothing took: listeners the new configuration no longer has. */
static void close_unused(struct ka_inherited_set *inh)
{
	for (unsigned i = 0; i < inh->n; i++)
		if (!inh->v[i].used)
			close(inh->v[i].fd);
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
};

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
	if (!lf->stopping && srv->cfg.drain_delay > 0) {
		lf->stopping = true;
		lf->drain_at = mono_ms() + srv->cfg.drain_delay;
		return;
	}
	lf->stopping = true;
	begin_drain(lf, KA_WAKE_STOP);
}

/* ---- binary upgrade (SIGUSR2) ------------------------------------------------------------- */

/* Every listening socket we accept from, as the new process must get them. */
static unsigned handoff_list(const struct ka_server *srv, struct ka_handoff *out)
{
	unsigned n = 0;

	for (unsigned k = 0; k < srv->n_workers; k++)
		for (unsigned i = 0; i < srv->n_public; i++)
			if (srv->listen_fds[k][i] >= 0)
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
	n = handoff_list(srv, socks);
	atomic_store(&srv->unhealthy, true);
	ka_pidfile_rename(true);
	/* Until the child has executed, it holds copies of our descriptors (worker.c,
	 * conn.c: a connection's close must then take it out of epoll itself). */
	atomic_store(&srv->fds_shared, true);
	lf->child = ka_upgrade_spawn(socks, n, &lf->ready_fd);
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
		fprintf(stderr, "kahttpd: SIGHUP ignored\n");
		break;
	}
}

/* Until every worker has ended. -1 when poll fails. */
static int wait_for_workers(struct life *lf)
{
	struct ka_server *srv = lf->srv;

	while (lf->finished < lf->n_all) {
		struct pollfd pfd[3] = { { lf->sig_fd, POLLIN, 0 }, { done_fd, POLLIN, 0 },
			                 { lf->ready_fd, POLLIN, 0 } };
		int timeout = -1;

		if (lf->drain_at) {
			int64_t left = lf->drain_at - mono_ms();

			if (left <= 0) {
				begin_drain(lf, KA_WAKE_STOP);
				continue;
			}
			timeout = (int)left;
		}
		if (poll(pfd, 3, timeout) < 0) {
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

/* Becomes --user, after binding and before any thread runs. */
static void drop_privileges(const struct ka_config *cfg)
{
	if (cfg->user && ka_user_become(cfg->user) < 0)
		exit(2);
}

int main(int argc, char **argv)
{
	static struct ka_server srv;
	static struct ka_inherited_set inh;
	struct ka_config *cfg = &srv.cfg;
	int sig_fd, err, rc = 0;
	unsigned n_all;

	ka_upgrade_init(argc, argv);
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
	if ((err = ka_static_root_open(&srv.root, cfg->root)) < 0) {
		fprintf(stderr, "kahttpd: --root: cannot open directory '%s': %s\n", cfg->root,
		        strerror(-err));
		return 2;
	}
	if ((err = ka_access_log_open(&srv)) < 0) {
		fprintf(stderr, "kahttpd: --access-log: cannot open '%s': %s\n", cfg->access_log,
		        strerror(-err));
		return 2;
	}
	if (ka_handlers_build(&srv) < 0)
		return 1;
	{
		bool failed;

		srv.tls = ka_tls_new(cfg, stderr, &failed);
		if (failed)
			return 2;
	}
	srv.n_workers = cfg->workers ? cfg->workers : cpu_count();
	srv.buf_size = cfg->max_header_size > 16384 ? cfg->max_header_size : 16384;
	raise_fd_limit(cfg);

	sig_fd = take_signals();
	done_fd = eventfd(0, EFD_CLOEXEC);
	if (sig_fd < 0 || done_fd < 0) {
		perror("kahttpd");
		return 1;
	}

	bind_listeners(&srv, &inh);
	bind_admin(&srv, &inh);
	close_unused(&inh);
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
	ka_upgrade_ready();
	{
		struct life lf = { .srv = &srv, .sig_fd = sig_fd, .n_all = n_all, .ready_fd = -1 };

		if (wait_for_workers(&lf) < 0)
			return 1;
	}
	for (unsigned k = 0; k < n_all; k++) {
		pthread_join(srv.workers[k].thread, NULL);
		if (srv.workers[k].cut)
			rc = 1;
		ka_worker_destroy(&srv.workers[k]);
	}
	ka_pidfile_remove();
	free(srv.workers);
	free(srv.listen_fds);
	ka_tls_free(srv.tls);
	ka_static_root_close(&srv.root);
	ka_access_log_close(&srv);
	ka_config_free(cfg);
	return rc;
}
