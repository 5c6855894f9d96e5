/*
 * Counters and histograms (see stats.h).
 */
#include "server/stats.h"

const uint64_t ka_rpc_bounds[KA_RPC_BUCKETS - 1] = { 1, 2, 5, 10, 100, 1000 };
const uint64_t ka_life_bounds_ms[KA_LIFE_BUCKETS - 1] = { 100,    1000,   5000,    15000,
                                                          60000,  300000, 1800000, 3600000 };

static const char *const reason_names[KA_CLOSE_REASONS] = {
	[KA_CLOSE_KEEPALIVE_TIMEOUT] = "keepalive_timeout",
	[KA_CLOSE_KEEPALIVE_REQUESTS] = "keepalive_requests",
	[KA_CLOSE_KEEPALIVE_TIME] = "keepalive_time",
	[KA_CLOSE_CLIENT_CLOSE] = "client_close",
	[KA_CLOSE_CONNECTION_CLOSE] = "connection_close",
	[KA_CLOSE_HEADER_TIMEOUT] = "header_timeout",
	[KA_CLOSE_IO_TIMEOUT] = "io_timeout",
	[KA_CLOSE_BAD_REQUEST] = "bad_request",
	[KA_CLOSE_TCP_KEEPALIVE] = "tcp_keepalive",
	[KA_CLOSE_EVICTED] = "evicted",
	[KA_CLOSE_SHUTDOWN] = "shutdown",
	[KA_CLOSE_ERROR] = "error",
	[KA_CLOSE_TLS_HANDSHAKE] = "tls_handshake",
};

const char *ka_tls_fail_name(enum ka_tls_fail f)
{
	static const char *const names[KA_TLS_FAILS] = {
		"timeout", "eof", "http", "alpn", "version", "protocol", "error",
	};

	return f < KA_TLS_FAILS ? names[f] : "?";
}

const char *ka_close_reason_name(enum ka_close_reason r)
{
	return r < KA_CLOSE_REASONS ? reason_names[r] : "?";
}

const char *ka_conn_state_name(enum ka_conn_state s)
{
	static const char *const names[KA_CONN_STATES] = {
		"reading", "reading", "processing", "writing", "idle", "lingering",
	};

	return s < KA_CONN_STATES ? names[s] : "?";
}

static unsigned bucket(const uint64_t *bounds, unsigned n, uint64_t v)
{
	unsigned i = 0;

	while (i < n && v > bounds[i])
		i++;
	return i;
}

void ka_stats_closed(struct ka_stats *s, enum ka_close_reason reason, int by_client,
                     uint64_t requests, int64_t lifetime_ms)
{
	uint64_t life = lifetime_ms > 0 ? (uint64_t)lifetime_ms : 0;

	ka_stat_add(&s->closed[reason], 1);
	if (by_client)
		ka_stat_add(&s->closed_by_client, 1);
	ka_stat_add(&s->rpc[bucket(ka_rpc_bounds, KA_RPC_BUCKETS - 1, requests)], 1);
	ka_stat_add(&s->rpc_sum, (int64_t)requests);
	ka_stat_add(&s->life[bucket(ka_life_bounds_ms, KA_LIFE_BUCKETS - 1, life)], 1);
	ka_stat_add(&s->life_sum_ms, (int64_t)life);
}

void ka_stats_sum(struct ka_stats *sum, const struct ka_stats *add)
{
	const ka_counter *from = (const ka_counter *)add;
	ka_counter *to = (ka_counter *)sum;

	for (size_t i = 0; i < sizeof(*add) / sizeof(ka_counter); i++)
		ka_stat_add(&to[i], (int64_t)ka_stat_get(&from[i]));
}
