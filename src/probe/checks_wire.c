/*
 * The two checks that read the wire rather than the byte stream.
 *
 * tcp_keepalive watches an idle connection for the server's TCP keepalive probes, as
 * tcpdump would: a packet socket (AF_PACKET, which needs CAP_NET_RAW) with a classic
 * BPF filter on the connection's 4-tuple sees every segment the server sends. A probe
 * is a segment without SYN, FIN or RST, with at most one byte, whose sequence number
 * is one below the next one expected (RFC 9293 3.8.4; Linux sends no byte). Linux
 * restarts the idle timer when a probe is answered, so the interval and the count only
 * show when nobody answers: once the response is in, a socket filter that drops every
 * segment goes on kaprobe's own socket (SO_ATTACH_FILTER needs no privilege), and its
 * kernel never sees the probes. After its count of unanswered probes the server's
 * kernel resets the connection, which the packet socket sees too.
 *
 * lingering sends a request with Connection: close and, in the same write, a second
 * request with a 64 KiB body, as a pipelining client that has not seen the answer yet
 * would, and reports how the server ends the connection: a FIN (it read and discarded
 * what followed, so the response arrived intact) or a reset (it closed with unread
 * bytes, and a reset can destroy a response the client has not read yet, RFC 9112 9.6).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"
#include "probe/check.h"

/* ---- the packet socket ------------------------------------------------------------------- */

struct kp_pktwatch {
	struct ka_io io;               /* first: the loop hands us this pointer */
	struct run *r;
	bool closed;                   /* freed at the probe's end: an event of the same batch
	                                * may still point at it */
	bool have_nxt;
	uint32_t rcv_nxt;              /* the server's next sequence number, as seen */
	bool idle;                     /* the response is in: watching for probes */
	int64_t t_idle_us;
	int64_t probes;
	int64_t t_first_us, t_last_us;
};

#define BPF_MAX 32

/* Appends "drop unless the 32-bit (or 16- or 8-bit) word at off equals v"; the jump
 * targets are fixed once the program's length is known. */
struct bpf_build {
	struct sock_filter ins[BPF_MAX];
	unsigned n;
	unsigned drops[BPF_MAX];       /* indexes of the jumps to the drop */
	unsigned ndrops;
};

static void bpf_expect(struct bpf_build *b, uint16_t load, uint32_t off, uint32_t v)
{
	b->ins[b->n++] = (struct sock_filter)BPF_STMT(load, off);
	b->drops[b->ndrops++] = b->n;
	b->ins[b->n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, v, 0, 0);
}

static void bpf_expect_bytes(struct bpf_build *b, uint32_t off, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i += 4) {
		uint32_t w;
		memcpy(&w, p + i, 4);
		bpf_expect(b, BPF_LD | BPF_W | BPF_ABS, off + (uint32_t)i, ntohl(w));
	}
}

/* Accepts TCP segments from server to local, both in network byte order inside the
 * sockaddrs; the packet starts at its IP header (SOCK_DGRAM). */
static void bpf_for(struct bpf_build *b, const struct sockaddr_storage *server,
                    const struct sockaddr_storage *local)
{
	memset(b, 0, sizeof(*b));
	if (server->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)server, *l = (const void *)local;
		bpf_expect(b, BPF_LD | BPF_B | BPF_ABS, 9, IPPROTO_TCP);
		bpf_expect_bytes(b, 12, (const uint8_t *)&s->sin_addr, 4);
		bpf_expect_bytes(b, 16, (const uint8_t *)&l->sin_addr, 4);
		/* Not a later fragment: the ports are where the header says. */
		b->ins[b->n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6);
		b->drops[b->ndrops++] = b->n;
		b->ins[b->n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 0, 0);
		b->ins[b->n++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0);
		bpf_expect(b, BPF_LD | BPF_H | BPF_IND, 0, ntohs(s->sin_port));
		bpf_expect(b, BPF_LD | BPF_H | BPF_IND, 2, ntohs(l->sin_port));
	} else {
		const struct sockaddr_in6 *s = (const void *)server, *l = (const void *)local;
		/* The TCP header right after the fixed header: kaprobe's peers send no
		 * extension headers on a connection. */
		bpf_expect(b, BPF_LD | BPF_B | BPF_ABS, 6, IPPROTO_TCP);
		bpf_expect_bytes(b, 8, s->sin6_addr.s6_addr, 16);
		bpf_expect_bytes(b, 24, l->sin6_addr.s6_addr, 16);
		bpf_expect(b, BPF_LD | BPF_H | BPF_ABS, 40, ntohs(s->sin6_port));
		bpf_expect(b, BPF_LD | BPF_H | BPF_ABS, 42, ntohs(l->sin6_port));
	}
	b->ins[b->n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffff);
	unsigned drop = b->n;
	b->ins[b->n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	/* For a JEQ the jump on false drops; for the JSET the jump on true does. */
	for (unsigned i = 0; i < b->ndrops; i++) {
		struct sock_filter *j = &b->ins[b->drops[i]];
		uint8_t off = (uint8_t)(drop - b->drops[i] - 1);
		if (BPF_OP(j->code) == BPF_JSET)
			j->jt = off;
		else
			j->jf = off;
	}
}

/* A TCP segment from the server, as much of it as this check reads. */
struct segment {
	uint32_t seq;
	uint8_t flags;
	size_t payload;
};

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04

static bool segment_parse(const uint8_t *b, size_t n, int family, struct segment *s)
{
	size_t ip_len, total;

	if (family == AF_INET) {
		if (n < 20 || (b[0] >> 4) != 4)
			return false;
		ip_len = (size_t)(b[0] & 0xf) * 4;
		total = (size_t)b[2] << 8 | b[3];
	} else {
		if (n < 40 || (b[0] >> 4) != 6)
			return false;
		ip_len = 40;
		total = 40 + ((size_t)b[4] << 8 | b[5]);
	}
	if (n < ip_len + 20 || total < ip_len + 20)
		return false;
	const uint8_t *tcp = b + ip_len;
	size_t tcp_len = (size_t)(tcp[12] >> 4) * 4;
	if (total < ip_len + tcp_len)
		return false;
	s->seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
	s->flags = tcp[13];
	s->payload = total - ip_len - tcp_len;
	return true;
}

static void tcpka_result(struct run *r, bool reset);

static void watch_segment(struct kp_pktwatch *w, const struct segment *s)
{
	struct kp_results *res = w->r->p->res;
	int64_t now = w->r->p->net.loop.now_us;
	uint32_t end = s->seq + (uint32_t)s->payload + ((s->flags & (TH_SYN | TH_FIN)) ? 1 : 0);

	if (w->idle && (s->flags & TH_RST)) {
		tcpka_result(w->r, true);
		return;
	}
	if (w->idle && !(s->flags & (TH_SYN | TH_FIN | TH_RST)) && s->payload <= 1 && w->have_nxt &&
	    s->seq == w->rcv_nxt - 1) {
		if (w->probes++ == 0)
			w->t_first_us = now;
		w->t_last_us = now;
		return;
	}
	if (!w->have_nxt || (int32_t)(end - w->rcv_nxt) > 0) {
		w->rcv_nxt = end;
		w->have_nxt = true;
	}
	if (w->idle && (s->flags & TH_FIN)) {
		/* The server closed the idle connection (its HTTP idle timeout came first):
		 * no more probes will come. */
		res->tcpka_server_closed = true;
		res->tcpka_close_s = (double)(now - w->t_idle_us) / 1e6;
		tcpka_result(w->r, false);
	}
}

static void watch_event(struct ka_io *io, uint32_t events)
{
	struct kp_pktwatch *w = (struct kp_pktwatch *)io;
	uint8_t buf[256];  /* the headers are enough; the rest is cut */

	(void)events;
	for (int i = 0; i < 64 && !w->closed; i++) {
		struct sockaddr_ll from;
		socklen_t len = sizeof(from);
		struct segment s;
		ssize_t n = recvfrom(io->fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from, &len);

		if (n < 0)
			return;  /* EAGAIN: drained */
		/* On loopback each segment shows twice: leaving (PACKET_OUTGOING) and
		 * arriving. Only what arrived counts. */
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (segment_parse(buf, KA_MIN((size_t)n, sizeof(buf)), w->r->p->t->addr.ss_family, &s))
			watch_segment(w, &s);
	}
}

static void watch_close(struct run *r)
{
	struct kp_pktwatch *w = r->watch;

	if (w == NULL)
		return;
	r->watch = NULL;
	ka_loop_del(&r->p->net.loop, &w->io);
	close(w->io.fd);
	w->io.fd = -1;
	w->closed = true;
	r->watch_closed = w;
}

/* Opens the packet socket for this connection's segments from the server. Returns 0
 * or -errno. The socket has no protocol until its filter is on, so it never queues a
 * packet the filter would have refused. */
static int watch_open(struct run *r)
{
	struct sockaddr_storage local;
	socklen_t local_len;
	struct bpf_build b;
	int family = r->p->t->addr.ss_family;

	if (ka_sock_local_addr(r->conn->io.fd, &local, &local_len) < 0)
		return -errno;
	bpf_for(&b, &r->p->t->addr, &local);
	struct sock_fprog prog = { .len = (unsigned short)b.n, .filter = b.ins };
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(family == AF_INET ? ETH_P_IP : ETH_P_IPV6),
	};
	struct kp_pktwatch *w = calloc(1, sizeof(*w));
	int err = 0;
	if (w == NULL)
		err = -ENOMEM;
	else if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
	         bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		err = -errno;
	if (err == 0) {
		w->io.fd = fd;
		w->io.on_event = watch_event;
		w->r = r;
		err = ka_loop_add(&r->p->net.loop, &w->io, KA_EV_IN);
	}
	if (err != 0) {
		free(w);
		close(fd);
		return err;
	}
	r->watch = w;
	return 0;
}

/* ---- tcp_keepalive ------------------------------------------------------------------------- */

/* The packet socket goes with the check: level-triggered, it would keep waking the
 * loop. */
static void tcpka_finish(struct run *r)
{
	int unused = 0;

	watch_close(r);
	/* Our socket hears the server again before it closes, so that its close ends
	 * with a handshake rather than a FIN retransmitted to nobody. ENOENT: no filter. */
	if (r->conn != NULL && !r->conn->closed)
		setsockopt(r->conn->io.fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused));
	kp_run_finish(r);
}

void kp_tcpka_start(struct run *r)
{
	kp_run_send(r, "GET", 1, "");
}

void kp_tcpka_connected(struct run *r)
{
	int err = watch_open(r);

	if (err == 0)
		return;
	r->p->res->tcpka_unavailable = true;
	kp_run_evidence(r, "cannot watch the wire: packet socket: %s%s", strerror(-err),
	                err == -EPERM ? " (needs CAP_NET_RAW)" : "");
	/* The request goes on: its answer shows the server speaks HTTP. */
}

void kp_tcpka_response(struct run *r, const struct kp_response *resp)
{
	static struct sock_filter drop_all[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { .len = 1, .filter = drop_all };

	if (r->watch == NULL) {  /* no packet socket: the evidence says why */
		tcpka_finish(r);
		return;
	}
	if (!resp->keeps_open) {
		kp_run_evidence(r, "#1 %s: the server ended the connection with the response: no idle "
		                   "connection to probe", r->first);
		tcpka_finish(r);
		return;
	}
	/* From here on this socket's kernel sees nothing the server sends: it answers no
	 * probe, so the server's kernel goes through all of them. */
	if (setsockopt(r->conn->io.fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
		kp_run_evidence(r, "cannot silence kaprobe's socket: SO_ATTACH_FILTER: %s",
		                strerror(errno));
		tcpka_finish(r);
		return;
	}
	r->watch->idle = true;
	r->watch->t_idle_us = resp->t_done_us;
	kp_conn_set_timer(r->conn, resp->t_done_us / 1000 + r->p->o->max_wait_ms);
}

static void tcpka_result(struct run *r, bool reset)
{
	struct kp_results *res = r->p->res;
	struct kp_pktwatch *w = r->watch;
	char interval[64] = "";

	if (w->probes > 0) {
		res->tcpka_known = true;
		res->tcpka_probes = w->probes;
		res->tcpka_first_s = (double)(w->t_first_us - w->t_idle_us) / 1e6;
		if (w->probes > 1) {
			res->has_tcpka_interval = true;
			res->tcpka_interval_s =
				(double)(w->t_last_us - w->t_first_us) / 1e6 / (double)(w->probes - 1);
			snprintf(interval, sizeof(interval), ", then every %.3f s", res->tcpka_interval_s);
		}
		res->has_tcpka_count = reset;
		res->tcpka_count = w->probes;
	}
	if (reset && w->probes > 0)
		kp_run_evidence(r, "#1 %s; kaprobe's socket silenced; first probe %.3f s after the "
		                   "response%s; %lld unanswered, then the server reset %.3f s after "
		                   "the response", r->first, res->tcpka_first_s, interval,
		                (long long)w->probes,
		                (double)(r->p->net.loop.now_us - w->t_idle_us) / 1e6);
	else if (reset)
		kp_run_evidence(r, "#1 %s; the server reset the idle connection %.3f s after the "
		                   "response, without a probe", r->first,
		                (double)(r->p->net.loop.now_us - w->t_idle_us) / 1e6);
	else if (res->tcpka_server_closed && w->probes > 0)
		kp_run_evidence(r, "#1 %s; kaprobe's socket silenced; first probe %.3f s after the "
		                   "response%s; %lld seen, then the server closed the idle connection "
		                   "(FIN) %.3f s after the response", r->first, res->tcpka_first_s,
		                interval, (long long)w->probes, res->tcpka_close_s);
	else if (res->tcpka_server_closed)
		kp_run_evidence(r, "#1 %s; no probe; the server closed the idle connection (FIN) "
		                   "%.3f s after the response", r->first, res->tcpka_close_s);
	else if (w->probes > 0)
		kp_run_evidence(r, "#1 %s; kaprobe's socket silenced; first probe %.3f s after the "
		                   "response%s; %lld seen, no reset within %.1f s (--max-wait)",
		                r->first, res->tcpka_first_s, interval, (long long)w->probes,
		                (double)r->p->o->max_wait_ms / 1000.0);
	else
		kp_run_evidence(r, "#1 %s; no probe within %.1f s of the response (--max-wait)",
		                r->first, (double)r->p->o->max_wait_ms / 1000.0);
	tcpka_finish(r);
}

void kp_tcpka_closed(struct run *r, const struct kp_conn *c)
{
	char how[160];

	watch_close(r);
	if (kp_run_closed_unanswered(r, c))
		return;
	kp_run_evidence(r, "#1 %s; %s, before kaprobe's socket was silenced", r->first,
	                kp_run_close_text(r, c, how, sizeof(how)));
	tcpka_finish(r);
}

void kp_tcpka_timer(struct run *r)
{
	if (r->answered == 0)
		watch_close(r);
	if (kp_run_timeout_unanswered(r))
		return;
	tcpka_result(r, false);
}

void kp_tcpka_cleanup(struct run *r)
{
	watch_close(r);
	free(r->watch_closed);
	r->watch_closed = NULL;
}

/* ---- lingering ------------------------------------------------------------------------------ */

/* The second request's body: more than a server reads at once (nginx reads 1 KiB of
 * head, kahttpd 16 KiB), so some of it is still in the server's socket when it closes. */
#define LINGER_BODY 65536

void kp_linger_start(struct run *r)
{
	char buf[KP_PATH_MAX + KP_HOST_MAX + 256];
	static char body[LINGER_BODY];
	size_t n = kp_request_format(buf, sizeof(buf), r->p->t, "GET", 1, "Connection: close\r\n");

	kp_conn_queue(r->conn, buf, n, KA_METHOD_GET);
	n = kp_request_format(buf, sizeof(buf), r->p->t, "POST", 1,
	                      "Content-Type: text/plain\r\nContent-Length: 65536\r\n");
	memset(body, 'x', sizeof(body));
	kp_conn_queue(r->conn, buf, n, KA_METHOD_GET);
	kp_conn_append(r->conn, body, sizeof(body));
	kp_conn_flush(r->conn);  /* before the connect completes: one send() if it fits */
	kp_conn_set_timer(r->conn, r->p->net.loop.now + r->p->o->timeout_ms);
}

void kp_linger_response(struct run *r, const struct kp_response *resp)
{
	if (resp->index == 2) {
		kp_run_evidence(r, "#1 %s; the server answered the request after Connection: close "
		                   "too (#2 %s): it did not end the connection", r->first, r->last);
		kp_run_finish(r);
		return;
	}
	r->awaiting_close = true;
	kp_conn_set_timer(r->conn, resp->t_done_us / 1000 +
	                           KA_MIN((int64_t)KP_PROMPT_CLOSE_MS, r->p->o->max_wait_ms));
}

void kp_linger_closed(struct run *r, const struct kp_conn *c)
{
	struct kp_results *res = r->p->res;
	char how[160];

	if (c->end == KP_END_RST) {
		res->lingering = KP_LINGER_RESET;
		if (r->answered == 0)
			kp_run_evidence(r, "GET with Connection: close, then a POST of 64 KiB in the same "
			                   "write; the server reset the connection before its response "
			                   "was complete: the response was destroyed");
		else
			kp_run_evidence(r, "GET with Connection: close, then a POST of 64 KiB in the same "
			                   "write; #1 %s; %s: it closed with the POST unread",
			                r->first, kp_run_close_text(r, c, how, sizeof(how)));
	} else if (c->end == KP_END_FIN && r->answered > 0) {
		res->lingering = KP_LINGER_FIN;
		kp_run_evidence(r, "GET with Connection: close, then a POST of 64 KiB in the same "
		                   "write; #1 %s; %s: the response arrived intact", r->first,
		                kp_run_close_text(r, c, how, sizeof(how)));
	} else if (kp_run_closed_unanswered(r, c)) {
		return;
	} else {
		kp_run_evidence(r, "#1 %s; %s", r->first, kp_run_close_text(r, c, how, sizeof(how)));
	}
	kp_run_finish(r);
}

void kp_linger_timer(struct run *r)
{
	if (kp_run_timeout_unanswered(r))
		return;
	if (r->awaiting_close)
		kp_run_evidence(r, "#1 %s; still open %.1f s after a response to Connection: close "
		                   "(kaprobe closed it)", r->first,
		                (double)KA_MIN((int64_t)KP_PROMPT_CLOSE_MS, r->p->o->max_wait_ms) / 1000.0);
	kp_run_finish(r);
}
