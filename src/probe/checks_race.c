/*
 * The two checks that build on the measured idle timeout.
 *
 * close_race sends requests just as the server's idle timer fires: each try opens a
 * connection, gets one response, waits the measured idle timeout plus an offset of a
 * few tens of milliseconds either way, and sends a second request, unless the
 * server's close (or anything else from it) is already waiting in the socket, seen
 * with a MSG_PEEK recv: then the server closed first, as it may, and the try does not
 * count. A request that was sent while the connection still looked open must be
 * answered: a server that resets the connection or closes it without an answer loses
 * a request it received, and a client that reuses connections (every browser, every
 * HTTP library's pool) turns that into an error it cannot tell from a server failure.
 *
 * advertised_vs_enforced compares the Keep-Alive timeout= of the first response with
 * the idle timeout measured: a client that trusts the header keeps an idle connection
 * that long, and races the close when the server enforces less.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/util.h"
#include "probe/check.h"

/* Offsets from the measured idle timeout, in ms: the tries that straddle the close. */
static const int offsets_ms[] = { -30, -20, -10, -5, 0, 5, 10, 20 };
#define TRIES (sizeof(offsets_ms) / sizeof(offsets_ms[0]))

enum try_end { TRY_OPEN, TRY_ANSWERED, TRY_RESET, TRY_CLOSED, TRY_LATE, TRY_ERROR };

struct race_try {
	struct race *race;
	struct kp_conn *conn;
	int offset_ms;
	bool sent;                 /* the request that races the close is out */
	bool conn_close;           /* its answer said Connection: close */
	int64_t t_first_us;        /* its first response */
	int64_t closed_after_us;   /* TRY_LATE: the server's close, after that response */
	enum try_end end;
};

struct race {
	struct run *r;
	int64_t idle_ms;           /* the measured idle timeout; in round 2, the closes seen */
	int round;                 /* 1, or 2 when most of round 1 found the close first */
	int64_t first_idle_ms;     /* round 2: the measured idle timeout */
	unsigned closing, errors;  /* answers with Connection: close, failed tries, so far */
	unsigned opened, ended;
	struct race_try tries[TRIES];
};

static const struct kp_conn_ops try_ops;

static void race_pump(struct race *race);

/* A server whose idle close wanders (lighttpd checks once a second) may close almost
 * every try before it sends: a second round aims at the earliest close round 1 saw,
 * since its connections start in the same phase of the server's clock. Returns true
 * when it started. */
static bool race_again(struct race *race, unsigned sent, unsigned late)
{
	int64_t earliest = INT64_MAX;

	/* A server that closes on time leaves about half the tries sent (those before
	 * its timeout); one or none sent means its closes came well before. */
	if (race->round > 1 || sent * 4 >= TRIES || late == 0)
		return false;
	for (size_t i = 0; i < TRIES; i++)
		if (race->tries[i].end == TRY_LATE && race->tries[i].closed_after_us > 0)
			earliest = KA_MIN(earliest, race->tries[i].closed_after_us);
	if (earliest == INT64_MAX || earliest / 1000 + offsets_ms[0] < 50)
		return false;
	race->round = 2;
	race->first_idle_ms = race->idle_ms;
	race->idle_ms = earliest / 1000;
	race->opened = race->ended = 0;
	for (size_t i = 0; i < TRIES; i++)
		race->tries[i] = (struct race_try){ .race = race, .offset_ms = offsets_ms[i] };
	race_pump(race);
	return true;
}

static void race_done(struct race *race)
{
	struct run *r = race->r;
	struct kp_results *res = r->p->res;
	unsigned sent = 0, late = 0;
	char round2[120] = "";

	for (size_t i = 0; i < TRIES; i++) {
		const struct race_try *t = &race->tries[i];
		sent += t->sent;
		late += t->end == TRY_LATE;
		res->race_tries += t->sent;
		res->race_answered += t->end == TRY_ANSWERED;
		res->race_reset += t->end == TRY_RESET;
		res->race_closed += t->end == TRY_CLOSED;
		res->race_late += t->end == TRY_LATE;
		race->closing += t->end == TRY_ANSWERED && t->conn_close;
		race->errors += t->end == TRY_ERROR;
	}
	if (race_again(race, sent, late))
		return;
	res->race_known = true;
	if (race->round == 2)
		snprintf(round2, sizeof(round2), "; almost all found the close first, so %zu more aimed at "
		         "the earliest close seen (%.3f s)", TRIES, (double)race->idle_ms / 1000.0);
	kp_run_evidence(r, "%zu connections, each a request %d to %+d ms around the measured idle "
	                   "timeout (%.3f s) after a first response%s: %u sent, %u answered (%u with "
	                   "Connection: close), %u reset, %u closed unanswered; %u found the "
	                   "server's close first (not sent)%s", TRIES, offsets_ms[0],
	                offsets_ms[TRIES - 1], (double)(race->round == 2 ? race->first_idle_ms
	                                                                  : race->idle_ms) / 1000.0,
	                round2, res->race_tries, res->race_answered, race->closing, res->race_reset,
	                res->race_closed, res->race_late,
	                race->errors ? "; some tries failed before their first response" : "");
	kp_run_finish(r);
}

static void try_end(struct race_try *t, enum try_end end)
{
	struct race *race = t->race;

	if (t->end != TRY_OPEN)
		return;
	t->end = end;
	if (t->conn != NULL) {
		kp_conn_close(t->conn);  /* no callback: a no-op when the server ended it */
		t->conn = NULL;
	}
	race->r->p->extra_open--;
	if (++race->ended == TRIES)
		race_done(race);
	else
		kp_probe_pump(race->r->p);
}

static void try_response(struct kp_conn *c, const struct kp_response *resp)
{
	struct race_try *t = c->owner;
	struct race *race = t->race;

	kp_conn_clear_timer(c);
	if (resp->index == 1) {
		if (!resp->keeps_open) {
			try_end(t, TRY_LATE);
			return;
		}
		t->t_first_us = resp->t_done_us;
		kp_conn_set_timer(c, resp->t_done_us / 1000 + race->idle_ms + t->offset_ms);
		return;
	}
	t->conn_close = resp->head.conn_close;
	try_end(t, TRY_ANSWERED);
}

static void try_closed(struct kp_conn *c)
{
	struct race_try *t = c->owner;

	t->conn = NULL;  /* released by the client layer */
	if (!t->sent && c->responses > 0)
		t->closed_after_us = c->t_end_us - t->t_first_us;
	if (!t->sent)
		try_end(t, c->responses > 0 ? TRY_LATE : TRY_ERROR);
	else
		try_end(t, c->end == KP_END_RST ? TRY_RESET : TRY_CLOSED);
}

static void try_timer(struct kp_conn *c)
{
	struct race_try *t = c->owner;
	struct run *r = t->race->r;
	char buf[KP_PATH_MAX + KP_HOST_MAX + 256], peek;

	if (t->sent || c->responses == 0) {  /* no answer within --timeout */
		try_end(t, t->sent ? TRY_CLOSED : TRY_ERROR);
		return;
	}
	/* Anything from the server already here (its FIN, a reset, a 408, a TLS
	 * close_notify) means it acted first: a client would see it before sending. */
	ssize_t n = recv(c->io.fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
		try_end(t, TRY_LATE);
		return;
	}
	size_t len = kp_request_format(buf, sizeof(buf), r->p->t, "GET", 1, "");
	kp_conn_queue(c, buf, len, KA_METHOD_GET);
	t->sent = true;
	kp_conn_flush(c);
	kp_conn_set_timer(c, r->p->net.loop.now + r->p->o->timeout_ms);
}

static const struct kp_conn_ops try_ops = {
	.response = try_response,
	.closed = try_closed,
	.timer = try_timer,
};

void kp_race_start(struct run *r)
{
	const struct kp_results *res = r->p->res;

	if (!res->idle_closed_by_server) {
		kp_run_evidence(r, "no idle timeout to race: %s", res->idle_answered
		                ? "the idle connection was still open at --max-wait"
		                : "the idle check got no response");
		kp_run_finish(r);
		return;
	}
	if (res->idle_timeout_s * 1000.0 + offsets_ms[0] < 50) {
		kp_run_evidence(r, "no idle timeout to race: the server closes %.3f s after a response",
		                res->idle_timeout_s);
		kp_run_finish(r);
		return;
	}
	struct race *race = calloc(1, sizeof(*race));
	if (race == NULL) {
		kp_run_evidence(r, "out of memory");
		kp_run_finish(r);
		return;
	}
	race->r = r;
	race->idle_ms = (int64_t)(res->idle_timeout_s * 1000.0 + 0.5);
	for (size_t i = 0; i < TRIES; i++) {
		race->tries[i].race = race;
		race->tries[i].offset_ms = offsets_ms[i];
	}
	r->race = race;
	race->round = 1;
	race_pump(race);
}

void kp_race_pump(struct run *r)
{
	if (r->race != NULL)
		race_pump(r->race);
}

/* Opens the next tries while --connections allows. */
static void race_pump(struct race *race)
{
	struct run *r = race->r;
	struct probe *p = r->p;
	char buf[KP_PATH_MAX + KP_HOST_MAX + 256];

	while (race->opened < TRIES && !r->done &&
	       kp_probe_open(p) < (unsigned)p->o->connections) {
		struct race_try *t = &race->tries[race->opened++];

		t->conn = kp_conn_open(&p->net, p->t, &try_ops, t);
		if (t->conn == NULL) {
			kp_probe_fatal(p, "cannot open a socket: %s", strerror(errno));
			return;
		}
		p->extra_open++;
		size_t len = kp_request_format(buf, sizeof(buf), p->t, "GET", 1, "");
		kp_conn_queue(t->conn, buf, len, KA_METHOD_GET);
		kp_conn_flush(t->conn);
		kp_conn_set_timer(t->conn, p->net.loop.now + p->o->timeout_ms);
	}
}

void kp_race_cleanup(struct run *r)
{
	struct race *race = r->race;

	if (race == NULL)
		return;
	for (size_t i = 0; i < TRIES; i++)
		if (race->tries[i].conn != NULL)
			kp_conn_close(race->tries[i].conn);
	free(race);
	r->race = NULL;
}

/* ---- advertised_vs_enforced ------------------------------------------------------------------ */

/* A measurement on loopback is good to a few ms; more than this is a real difference. */
#define ADV_SLACK_S 0.05

void kp_advertised_start(struct run *r)
{
	struct kp_results *res = r->p->res;
	double max_wait_s = (double)r->p->o->max_wait_ms / 1000.0;
	bool advertised = res->advertised_timeout_s >= 0;

	if (!res->idle_answered) {
		kp_run_evidence(r, "the idle check got no response");
	} else if (res->idle_closed_by_server && res->idle_timeout_s < ADV_SLACK_S) {
		kp_run_evidence(r, "not persistent: the server closes %.3f s after a response",
		                res->idle_timeout_s);
	} else if (!advertised) {
		res->advertised_verdict = KP_ADV_NONE;
		if (res->idle_closed_by_server)
			kp_run_evidence(r, "no Keep-Alive timeout= advertised; idle connections closed "
			                   "after %.3f s", res->idle_timeout_s);
		else
			kp_run_evidence(r, "no Keep-Alive timeout= advertised; idle connections still open "
			                   "at %.1f s (--max-wait)", max_wait_s);
	} else if (res->idle_closed_by_server) {
		bool more = (double)res->advertised_timeout_s > res->idle_timeout_s + ADV_SLACK_S;
		res->advertised_verdict = more ? KP_ADV_MORE : KP_ADV_OK;
		kp_run_evidence(r, "advertises timeout=%lld, closes idle connections after %.3f s%s",
		                (long long)res->advertised_timeout_s, res->idle_timeout_s,
		                more ? ": more than it enforces" : "");
	} else if ((double)res->advertised_timeout_s <= max_wait_s) {
		res->advertised_verdict = KP_ADV_OK;
		kp_run_evidence(r, "advertises timeout=%lld; idle connections still open at %.1f s "
		                   "(--max-wait)", (long long)res->advertised_timeout_s, max_wait_s);
	} else {
		kp_run_evidence(r, "advertises timeout=%lld; idle connections still open at %.1f s "
		                   "(--max-wait): a longer --max-wait tells", (long long)
		                res->advertised_timeout_s, max_wait_s);
	}
	kp_run_finish(r);
}

void kp_noconn_response(struct run *r, const struct kp_response *resp)
{
	(void)r;
	(void)resp;
}

void kp_noconn_closed(struct run *r, const struct kp_conn *c)
{
	(void)r;
	(void)c;
}

void kp_noconn_timer(struct run *r)
{
	(void)r;
}
