/*
 * The pid file, the user, inherited listening sockets and the binary upgrade
 * (process.h). The upgrade is nginx's: the running process forks and executes the
 * binary at the path it was started with (not /proc/self/exe, which names the old,
 * possibly deleted, file), passing its listening sockets as open descriptors listed in
 * KAHTTPD_LISTEN_FDS and a pipe in KAHTTPD_READY_FD. The new process uses those
 * sockets instead of binding (so the kernel's accept queues carry over, where closing
 * and re-binding, or SO_REUSEPORT alone, would reset the clients waiting in them) and
 * writes one byte to the pipe once its workers run; only then does the old one drain.
 */
#include "server/process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

/* ---- the pid file ------------------------------------------------------------------------ */

static char *pid_path;     /* the name our pid file has now (FILE, or FILE.oldbin) */
static char *pid_base;     /* FILE as configured */

int ka_pidfile_write(const char *path)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n) {
		int err = errno ? errno : EIO;

		close(fd);
		unlink(path);
		return -err;
	}
	close(fd);
	free(pid_base);
	free(pid_path);
	pid_base = strdup(path);
	pid_path = strdup(path);
	return 0;
}

static bool pidfile_is_ours(const char *path)
{
	char text[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	return strtol(text, NULL, 10) == (long)getpid();
}

void ka_pidfile_remove(void)
{
	if (pid_path && pidfile_is_ours(pid_path))
		unlink(pid_path);
	free(pid_path);
	free(pid_base);
	pid_path = pid_base = NULL;
}

void ka_pidfile_rename(bool old)
{
	char *oldbin;

	if (!pid_base || asprintf(&oldbin, "%s.oldbin", pid_base) < 0)
		return;
	if (rename(old ? pid_base : oldbin, old ? oldbin : pid_base) < 0) {
		fprintf(stderr, "kahttpd: --pid-file: cannot rename '%s': %s\n",
		        old ? pid_base : oldbin, strerror(errno));
		free(oldbin);
		return;
	}
	free(pid_path);
	pid_path = old ? oldbin : strdup(pid_base);
	if (!old)
		free(oldbin);
}

/* ---- the user ---------------------------------------------------------------------------- */

int ka_user_check(const char *user)
{
	errno = 0;
	if (!getpwnam(user)) {
		fprintf(stderr, "kahttpd: --user: no user '%s'%s%s\n", user, errno ? ": " : "",
		        errno ? strerror(errno) : "");
		return -1;
	}
	return 0;
}

int ka_user_become(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw)
		return ka_user_check(user);
	if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
		return 0;  /* an upgrade's new process: the old one had already become user */
	/* Groups first: once the uid is gone, so is the right to change them. */
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		fprintf(stderr, "kahttpd: --user %s: cannot become that user: %s\n", user,
		        strerror(errno));
		return -1;
	}
	/* Dropped for good: a process that can become root again has not dropped anything. */
	if (setuid(0) == 0) {
		fprintf(stderr, "kahttpd: --user %s: could regain root after dropping it\n", user);
		return -1;
	}
	return 0;
}

/* ---- sockets given to us ----------------------------------------------------------------- */

static int role_parse(const char *name, size_t len, struct ka_inherited *s)
{
	if (len == 4 && memcmp(name, "http", 4) == 0)
		s->role = KA_ROLE_PUBLIC, s->tls = false;
	else if (len == 5 && memcmp(name, "https", 5) == 0)
		s->role = KA_ROLE_PUBLIC, s->tls = true;
	else if (len == 5 && memcmp(name, "admin", 5) == 0)
		s->role = KA_ROLE_ADMIN, s->tls = false;
	else
		return -1;
	return 0;
}

/* A descriptor we were given must be a listening stream socket; it becomes
 * non-blocking (accept4 must never block a worker) and close-on-exec. */
static int check_listening(int fd, const char *from)
{
	int yes = 0;
	socklen_t len = sizeof(yes);
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &yes, &len) < 0 || !yes) {
		fprintf(stderr, "kahttpd: %s: descriptor %d is not a listening socket\n", from, fd);
		return -1;
	}
	if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "kahttpd: %s: descriptor %d: %s\n", from, fd, strerror(errno));
		return -1;
	}
	return 0;
}

/* KAHTTPD_LISTEN_FDS: "FD:ROLE:TEXT;..." with ROLE http, https or admin and TEXT the
 * --listen value the socket was bound for (empty for a socket systemd gave). */
static int read_upgrade_fds(struct ka_inherited_set *set, const char *list)
{
	const char *p = list;

	while (*p) {
		const char *end = strchr(p, ';'), *colon;
		struct ka_inherited *s = &set->v[set->n];
		char *after;
		long fd;

		if (!end)
			end = p + strlen(p);
		fd = strtol(p, &after, 10);
		colon = after < end && *after == ':' ? memchr(after + 1, ':', (size_t)(end - after - 1))
		                                     : NULL;
		if (set->n == KA_MAX_INHERITED || after == p || fd < 0 || fd > INT_MAX || !colon ||
		    role_parse(after + 1, (size_t)(colon - after - 1), s) < 0 ||
		    (size_t)(end - colon - 1) >= sizeof(s->text)) {
			fprintf(stderr, "kahttpd: KAHTTPD_LISTEN_FDS: malformed entry in '%s'\n", list);
			return -1;
		}
		s->fd = (int)fd;
		memcpy(s->text, colon + 1, (size_t)(end - colon - 1));
		s->text[end - colon - 1] = '\0';
		if (check_listening(s->fd, "KAHTTPD_LISTEN_FDS") < 0)
			return -1;
		set->n++;
		p = *end ? end + 1 : end;
	}
	return 0;
}

/* sd_listen_fds(3): LISTEN_FDS descriptors from 3 on, for us if LISTEN_PID is our pid,
 * named by LISTEN_FDNAMES (colon-separated; unnamed ones serve http). */
static int read_systemd_fds(struct ka_inherited_set *set)
{
	const char *pid = getenv("LISTEN_PID"), *count = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	long n;

	if (!pid || !count || strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	n = strtol(count, NULL, 10);
	if (n < 0 || n > KA_MAX_INHERITED) {
		fprintf(stderr, "kahttpd: LISTEN_FDS: bad count '%s'\n", count);
		return -1;
	}
	for (long i = 0; i < n; i++) {
		struct ka_inherited *s = &set->v[set->n];
		const char *name = "http";
		size_t len = 4;

		if (names && *names) {
			const char *end = strchr(names, ':');

			name = names;
			len = end ? (size_t)(end - names) : strlen(names);
			names = end ? end + 1 : names + len;
		}
		memset(s, 0, sizeof(*s));
		if (role_parse(name, len, s) < 0) {
			fprintf(stderr, "kahttpd: LISTEN_FDNAMES: unknown name '%.*s' (http, https or "
			        "admin)\n", (int)len, name);
			return -1;
		}
		s->fd = 3 + (int)i;
		if (check_listening(s->fd, "LISTEN_FDS") < 0)
			return -1;
		set->n++;
	}
	set->from_systemd = n > 0;
	return 0;
}

int ka_inherited_read(struct ka_inherited_set *set)
{
	const char *list = getenv("KAHTTPD_LISTEN_FDS");
	int rc;

	memset(set, 0, sizeof(*set));
	rc = list ? read_upgrade_fds(set, list) : read_systemd_fds(set);
	unsetenv("KAHTTPD_LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return rc;
}

/* ---- binary upgrade ---------------------------------------------------------------------- */

static char *exe_given;   /* argv[0], absolute if it had a slash */
static char **exe_argv;
static int ready_fd = -1; /* in the new process: the old one's pipe */

void ka_upgrade_init(int argc, char **argv)
{
	const char *fd = getenv("KAHTTPD_READY_FD");
	char cwd[PATH_MAX];

	if (fd) {
		ready_fd = (int)strtol(fd, NULL, 10);
		if (ready_fd < 3 || fcntl(ready_fd, F_SETFD, FD_CLOEXEC) < 0)
			ready_fd = -1;
		unsetenv("KAHTTPD_READY_FD");
	}
	if (argv[0][0] != '/' && strchr(argv[0], '/') && getcwd(cwd, sizeof(cwd)) &&
	    asprintf(&exe_given, "%s/%s", cwd, argv[0]) < 0)
		exe_given = NULL;
	if (!exe_given)
		exe_given = strdup(argv[0]);
	exe_argv = calloc((size_t)argc + 1, sizeof(*exe_argv));
	for (int i = 0; exe_argv && i < argc; i++)
		exe_argv[i] = argv[i];
}

const char *ka_upgrade_exe(void)
{
	return exe_given ? exe_given : "?";
}

bool ka_upgrade_ready(void)
{
	if (ready_fd < 0)
		return false;
	if (write(ready_fd, "R", 1) != 1)
		perror("kahttpd: telling the old process we serve");
	close(ready_fd);
	ready_fd = -1;
	return true;
}

/* argv[0] without a slash was found in PATH, as the shell did. */
static char *exe_path(void)
{
	const char *path = getenv("PATH");

	if (strchr(exe_given, '/'))
		return strdup(exe_given);
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char *full;

		if (asprintf(&full, "%.*s/%s", (int)len, len ? p : ".", exe_given) < 0)
			return NULL;
		if (access(full, X_OK) == 0)
			return full;
		free(full);
		p += len + (end ? 1 : 0);
	}
	return strdup(exe_given);
}

static const char *role_name(const struct ka_handoff *h)
{
	return h->role == KA_ROLE_ADMIN ? "admin" : h->tls ? "https" : "http";
}

/* Our environment minus what described our own start, plus the two variables of the
 * upgrade. Built before fork: the child may only call async-signal-safe functions. */
static char **upgrade_env(const struct ka_handoff *socks, unsigned n, int ready_w)
{
	static const char *const drop[] = { "KAHTTPD_LISTEN_FDS=", "KAHTTPD_READY_FD=",
		                            "LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=",
		                            "WATCHDOG_PID=" };
	size_t count = 0, k = 0, len = 32;
	char **env, *list;

	while (environ[count])
		count++;
	for (unsigned i = 0; i < n; i++)
		len += strlen(socks[i].text) + 24;
	env = calloc(count + 3, sizeof(*env));
	list = malloc(len);
	if (!env || !list) {
		free(env);
		free(list);
		return NULL;
	}
	for (size_t i = 0; i < count; i++) {
		bool keep = true;

		for (size_t d = 0; d < sizeof(drop) / sizeof(drop[0]); d++)
			if (strncmp(environ[i], drop[d], strlen(drop[d])) == 0)
				keep = false;
		if (keep)
			env[k++] = environ[i];
	}
	size_t off = (size_t)snprintf(list, len, "KAHTTPD_LISTEN_FDS=");
	for (unsigned i = 0; i < n; i++)
		off += (size_t)snprintf(list + off, len - off, "%s%d:%s:%s", i ? ";" : "",
		                        socks[i].fd, role_name(&socks[i]), socks[i].text);
	env[k++] = list;
	if (asprintf(&env[k], "KAHTTPD_READY_FD=%d", ready_w) < 0)
		env[k] = NULL;
	return env;
}

static void free_env(char **env)
{
	size_t k = 0;

	if (!env)
		return;
	while (env[k] && strncmp(env[k], "KAHTTPD_LISTEN_FDS=", 19) != 0)
		k++;
	if (env[k]) {
		free(env[k]);
		free(env[k + 1]);
	}
	free(env);
}

pid_t ka_upgrade_spawn(const struct ka_handoff *socks, unsigned n, int *ready)
{
	int p[2];
	char *exe;
	char **env;
	pid_t pid;

	if (!exe_argv) {
		fprintf(stderr, "kahttpd: upgrade: out of memory\n");
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("kahttpd: upgrade: pipe");
		return -1;
	}
	exe = exe_path();
	env = upgrade_env(socks, n, p[1]);
	if (!exe || !env) {
		fprintf(stderr, "kahttpd: upgrade: out of memory\n");
		pid = -1;
		goto out;
	}
	pid = fork();
	if (pid == 0) {
		sigset_t none;
		int err;

		/* Only async-signal-safe calls until execve: the parent has threads. The
		 * signal mask survives execve, and ours blocks what the signalfd takes. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (unsigned i = 0; i < n; i++)
			fcntl(socks[i].fd, F_SETFD, 0);
		fcntl(p[1], F_SETFD, 0);
		execve(exe, exe_argv, env);
		err = errno;
		{
			char msg[2] = { 'E', (char)(err < 128 ? err : 127) };

			if (write(p[1], msg, 2) < 0)
				_exit(126);
		}
		_exit(127);
	}
	if (pid < 0)
		perror("kahttpd: upgrade: fork");
out:
	close(p[1]);
	if (pid > 0)
		*ready = p[0];
	else
		close(p[0]);
	free(exe);
	free_env(env);
	return pid;
}
