/*
 * kahttpd's entry point: read the configuration, bind every listener (so that a bad
 * address or a busy port is reported before anything runs, and port 0 is resolved to
 * the real port), start the workers, print one "listening on" line per listener, then
 * wait for a signal. SIGTERM and SIGINT drain (exit 0, or 1 if the shutdown timeout
 * had to cut connections); SIGQUIT exits at once.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <netinet/in.h>
#include <time.h>

#include "core/sockopt.h"
#include "server/accesslog.h"
#include "server/config.h"
#include "server/handlers.h"
#include "server/proxy.h"
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

/* Binds one socket per worker for every listener; exits with a message on failure. */
static void bind_listeners(struct ka_server *srv)
{
	const struct ka_config *cfg = &srv->cfg;

	srv->listen_fds = calloc(srv->n_workers, sizeof(*srv->listen_fds));
	if (!srv->listen_fds) {
		perror("kahttpd");
		exit(1);
	}
	srv->n_public = cfg->n_listen + cfg->n_tls_listen;
	for (unsigned i = 0; i < srv->n_public; i++) {
		bool tls = i >= cfg->n_listen;
		const struct ka_listen *l = tls ? &cfg->tls_listen[i - cfg->n_listen] : &cfg->listen[i];
		struct sockaddr_storage bound;
		socklen_t bound_len;
		char text[KA_ADDR_TEXT_MAX];
		int err = check_port_free(l);

		for (unsigned k = 0; err == 0 && k < srv->n_workers; k++) {
			/* Worker 0's socket resolves port 0; the others bind the port it got. */
			const struct sockaddr *a = k ? (struct sockaddr *)&bound
			                             : (const struct sockaddr *)&l->addr;
			int fd = ka_sock_listen(a, k ? bound_len : l->addr_len, true, BACKLOG);

			if (fd < 0)
				err = fd;
			else if (!(err = set_inherited_options(fd, cfg)))
				srv->listen_fds[k][i] = fd;
			if (k == 0 && fd >= 0)
				err = ka_sock_local_addr(fd, &bound, &bound_len);
		}
		if (err) {
			fprintf(stderr, "kahttpd: --%s %s: %s\n", tls ? "tls-listen" : "listen", l->text,
			        strerror(-err));
			exit(1);
		}
		ka_sock_addr_text((struct sockaddr *)&bound, text, sizeof(text));
		printf("kahttpd: listening on %s://%s\n", tls ? "https" : "http", text);
		srv->ports[i] = ntohs(bound.ss_family == AF_INET6
		                          ? ((struct sockaddr_in6 *)&bound)->sin6_port
		                          : ((struct sockaddr_in *)&bound)->sin_port);
	}
}

/* --admin: one socket, served by its own worker, never by the public listeners. */
static void bind_admin(struct ka_server *srv)
{
	const struct ka_listen *l = &srv->cfg.admin;
	struct sockaddr_storage bound;
	socklen_t bound_len;
	char text[KA_ADDR_TEXT_MAX];
	int err;

	srv->admin_fd = -1;
	if (!l->text[0])
		return;
	err = check_port_free(l);
	if (!err && (err = ka_sock_listen((const struct sockaddr *)&l->addr, l->addr_len, false,
	                                  64)) >= 0) {
		srv->admin_fd = err;
		err = ka_sock_local_addr(srv->admin_fd, &bound, &bound_len);
	}
	if (err < 0) {
		fprintf(stderr, "kahttpd: --admin %s: %s\n", l->text, strerror(-err));
		exit(1);
	}
	ka_sock_addr_text((struct sockaddr *)&bound, text, sizeof(text));
	printf("kahttpd: admin on http://%s\n", text);
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
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	return signalfd(-1, &sigs, SFD_CLOEXEC);
}

/* Until every worker has ended: SIGTERM and SIGINT drain them all, SIGQUIT quits.
 * -1 when poll fails. */
static int wait_for_workers(struct ka_server *srv, int sig_fd, unsigned n_all)
{
	unsigned finished = 0;
	bool stopping = false;

	while (finished < n_all) {
		struct pollfd pfd[2] = { { sig_fd, POLLIN, 0 }, { done_fd, POLLIN, 0 } };

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("kahttpd: poll");
			return -1;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sig_fd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGQUIT)
				quit(srv, n_all, n_all - finished);
			if (!stopping) {
				stopping = true;
				for (unsigned k = 0; k < n_all; k++)
					ka_worker_wake(&srv->workers[k], KA_WAKE_STOP);
			}
		}
		if (pfd[1].revents & POLLIN) {
			uint64_t n;

			if (read(done_fd, &n, sizeof(n)) == sizeof(n))
				finished += (unsigned)n;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct ka_server srv;
	struct ka_config *cfg = &srv.cfg;
	int sig_fd, err, rc = 0;
	unsigned n_all;

	switch (ka_config_load(cfg, argc, argv, stdout, stderr)) {
	case KA_CONFIG_OK:
		break;
	case KA_CONFIG_EXIT:
		return 0;
	case KA_CONFIG_ERROR:
		return 2;
	}
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
	srv.n_workers = cfg->workers ? cfg->workers : cpu_count();
	if (ka_handlers_build(&srv) < 0)
		return 1;
	{
		bool failed;

		srv.tls = ka_tls_new(cfg, stderr, &failed);
		if (failed)
			return 2;
	}
	srv.buf_size = cfg->max_header_size > 16384 ? cfg->max_header_size : 16384;
	raise_fd_limit(cfg);

	sig_fd = take_signals();
	done_fd = eventfd(0, EFD_CLOEXEC);
	n_all = srv.n_workers + (cfg->admin.text[0] ? 1 : 0);
	srv.workers = calloc(n_all, sizeof(*srv.workers));
	if (sig_fd < 0 || done_fd < 0 || !srv.workers) {
		perror("kahttpd");
		return 1;
	}

	bind_listeners(&srv);
	bind_admin(&srv);
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		srv.started = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	for (unsigned k = 0; k < n_all; k++) {
		if ((err = ka_worker_init(&srv.workers[k], &srv, k)) ||
		    (err = -pthread_create(&srv.workers[k].thread, NULL, worker_thread,
		                           &srv.workers[k]))) {
			fprintf(stderr, "kahttpd: starting worker %u: %s\n", k, strerror(-err));
			return 1;
		}
	}
	fflush(stdout);

	if (wait_for_workers(&srv, sig_fd, n_all) < 0)
		return 1;
	for (unsigned k = 0; k < n_all; k++) {
		pthread_join(srv.workers[k].thread, NULL);
		if (srv.workers[k].cut)
			rc = 1;
	}
	ka_proxy_free(&srv);  /* its pooled connections are in the workers' loops */
	for (unsigned k = 0; k < n_all; k++)
		ka_worker_destroy(&srv.workers[k]);
	free(srv.workers);
	free(srv.listen_fds);
	ka_tls_free(srv.tls);
	ka_static_root_close(&srv.root);
	ka_access_log_close(&srv);
	ka_config_free(cfg);
	return rc;
}
