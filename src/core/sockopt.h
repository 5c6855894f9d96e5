/*
 * Sockets: address parsing and printing, listening sockets, and the per-connection
 * options that matter for persistence (TCP_NODELAY, TCP keepalive, TCP_USER_TIMEOUT).
 * Functions return 0 (or a descriptor) on success and -errno on failure.
 */
#ifndef KA_SOCKOPT_H
#define KA_SOCKOPT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* "[v6]:port" is at most 1 + 45 + 2 + 5 bytes. */
#define KA_ADDR_TEXT_MAX 64

/* Parses "HOST:PORT" or "[IPV6]:PORT"; HOST may be a name (resolved once, first
 * address). Returns 0 or -EINVAL. */
int ka_sock_parse_addr(const char *text, struct sockaddr_storage *addr, socklen_t *len);

/* Formats as "HOST:PORT" ("[::1]:8080" for IPv6); returns out. */
char *ka_sock_addr_text(const struct sockaddr *addr, char *out, size_t out_len);

/* A non-blocking, close-on-exec listening socket. With reuseport, SO_REUSEPORT is set
 * so that each worker can own a socket on the same port and the kernel spreads new
 * connections among them. Returns the fd or -errno. */
int ka_sock_listen(const struct sockaddr *addr, socklen_t len, bool reuseport, int backlog);

/* The address a socket is bound to (the real port after binding port 0). */
int ka_sock_local_addr(int fd, struct sockaddr_storage *addr, socklen_t *len);

int ka_sock_set_nodelay(int fd);

/* SO_KEEPALIVE on with TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT; idle 0 turns it off. */
int ka_sock_set_tcp_keepalive(int fd, int idle_s, int intvl_s, int count);

/* TCP_USER_TIMEOUT in ms; 0 restores the kernel default. */
int ka_sock_set_user_timeout(int fd, unsigned ms);

/* TCP_NOTSENT_LOWAT: the socket reports writable only while fewer than bytes wait
 * unsent in it. */
int ka_sock_set_notsent_lowat(int fd, unsigned bytes);

/* The pending socket error (SO_ERROR) as a positive errno, 0 if none. */
int ka_sock_error(int fd);

#endif
