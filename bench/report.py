#!/usr/bin/python3
"""Turns one benchmark run's raw data into RESULTS.md, the data file for the chart,
and a short summary on stdout. Called by bench/run.sh; not meant to be edited by hand.

usage: report.py RUN_DIR OUT_MD OUT_DAT

RUN_DIR holds:
  meta.txt  key=value lines (date, cpu, kernel, versions, rounds, duration, clk_tck, ...)
  runs.tsv  scenario server round ticks_before ticks_after wrk_output_file
  idle.tsv  server round n closed rss_before_kib rss_after_kib bytes_per_conn
  idle_tls.tsv  the same over TLS
  tls.tsv   server protocol suite group tickets default_suite tls12_refused (s_client)
  perf/     SCENARIO.SERVER.tsv: perf samples by category (bench/perf_split.py)
  profile-ka.txt, profile-pipe.txt: bench/profile.sh's output for kahttpd
  proxy/    bench/proxy.sh's raw data (bench/proxy_report.py reads it: section 9)
"""
import os
import re
import statistics
import sys

SCENARIOS = [
    ("ka_small", "1. Keep-alive, 50 connections, 13-byte file"),
    ("ka_4k", "2. Keep-alive, 50 connections, 4 KiB file"),
    ("pipeline16", "3. Pipelined, depth 16, 50 connections, 13-byte file"),
    ("close", "4. New connection per request (Connection: close), 50 connections, 13-byte file"),
    ("tls_ka_small", "6. HTTPS keep-alive, 50 connections, 13-byte file"),
    ("tls_close", "7. New HTTPS connection per request, full TLS handshake each "
                  "(bench/tls_close_client.py), 50 connections, 13-byte file"),
]
SHORT = {"ka_small": "keep-alive 13 B", "ka_4k": "keep-alive 4 KiB",
         "pipeline16": "pipelined x16", "close": "new conn/request",
         "tls_ka_small": "TLS keep-alive 13 B", "tls_close": "TLS new conn/request"}
ORDER = ["kahttpd", "nginx", "h2o", "lighttpd"]

# (id, text, scenario or "idle", metric, kind, other server or None, factor)
#   kind "le": kahttpd's metric <= factor * other's (or <= factor when other is None)
#   kind "ge": kahttpd's metric >= factor * other's
TARGETS = [
    ("ka_small", "cpu", "le", "nginx", 0.6, "keep-alive 13 B: CPU/request <= 0.6 x nginx"),
    ("ka_small", "cpu", "le", "h2o", 0.85, "keep-alive 13 B: CPU/request <= 0.85 x h2o"),
    ("ka_4k", "cpu", "le", "nginx", 0.7, "keep-alive 4 KiB: CPU/request <= 0.7 x nginx"),
    ("pipeline16", "rps", "ge", "h2o", 5.0, "pipelined depth 16: requests/s >= 5 x h2o"),
    ("close", "cpu", "le", "nginx", 0.9, "new connection per request: CPU/request <= 0.9 x nginx"),
    ("idle", "bytes", "le", None, 256, "idle keep-alive connection: <= 256 bytes"),
    ("idle", "bytes", "le", "nginx", 0.5, "idle keep-alive connection: memory <= 0.5 x nginx"),
    ("tls_ka_small", "cpu", "le", "nginx", 0.6, "HTTPS keep-alive 13 B: CPU/request <= 0.6 x nginx"),
    ("tls_ka_small", "cpu", "le", "h2o", 0.9, "HTTPS keep-alive 13 B: CPU/request <= 0.9 x h2o"),
    ("tls_close", "cpu", "le", "nginx", 0.95,
     "new HTTPS connection, full handshake, per request: CPU/request <= 0.95 x nginx"),
    ("tls_idle", "bytes", "le", "nginx", 0.9, "idle TLS keep-alive connection: memory <= 0.9 x nginx"),
]


def to_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return float("nan")
    v = float(m.group(1))
    return v * {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[m.group(2)]


def parse_wrk(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    r = {"requests": 0, "seconds": float("nan"), "p50": float("nan"), "p99": float("nan"),
         "errors": 0, "non2xx": 0}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", text, re.M)
    if m:
        r["requests"] = int(m.group(1))
        r["seconds"] = to_us(m.group(2) + m.group(3)) / 1e6
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+\w+)", text, re.M)
        if m:
            r[key] = to_us(m.group(1))
            # wrk 4.1 prints "0.00us" for a percentile its histogram lost track of (seen
            # at ~500,000 pipelined responses/s): no real latency is 0, so not measured.
            if r[key] == 0:
                r[key] = float("nan")
                r["lat_lost"] = True
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        r["errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        r["non2xx"] = int(m.group(1))
    return r


def med(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def fmt(v, digits=2):
    if v != v:
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def fmt_lat(us):
    if us != us:
        return "n/a"
    return f"{us:.0f} µs" if us < 1000 else f"{us / 1000:.2f} ms"


def ratio(a, b):
    if a != a or b != b or not b:
        return float("nan")
    return a / b


def parse_perf(run_dir, scen, srv):
    """Where one server's CPU time went in one scenario: category -> share in %, from
    bench/perf_split.py's counts ("user", one entry per system call, "other kernel")."""
    counts = {}
    try:
        for line in open(os.path.join(run_dir, "perf", f"{scen}.{srv}.tsv")):
            cat, _, n = line.rstrip("\n").partition("\t")
            counts[cat] = int(n)
    except (OSError, ValueError):
        return None
    total = sum(counts.values())
    return {k: 100 * v / total for k, v in counts.items()} if total else None


def main():
    import proxy_report  # it imports this module's helpers
    run_dir, out_md, out_dat = sys.argv[1:4]
    proxy = proxy_report.load(os.path.join(run_dir, "proxy"))
    meta = {}
    for line in open(os.path.join(run_dir, "meta.txt")):
        k, _, v = line.rstrip("\n").partition("=")
        meta[k] = v
    clk = float(meta.get("clk_tck", "100"))

    runs = {}  # (scenario, server) -> list of per-run dicts
    for line in open(os.path.join(run_dir, "runs.tsv")):
        scen, srv, rnd, t0, t1, wrk_file = line.rstrip("\n").split("\t")
        r = parse_wrk(wrk_file)
        r["round"] = int(rnd)
        r["ticks"] = int(t1) - int(t0)
        r["cpu"] = (r["ticks"] / clk * 1e6 / r["requests"]) if r["requests"] else float("nan")
        r["rps"] = r["requests"] / r["seconds"] if r["requests"] else float("nan")
        # Share of CPU 0 the server used: near 100 % it is the bottleneck, well below it
        # wrk (one thread on CPU 1) is, and requests/s says little about the server.
        r["busy"] = 100 * r["ticks"] / clk / r["seconds"] if r["requests"] else float("nan")
        runs.setdefault((scen, srv), []).append(r)

    def read_idle(name):
        rows = {}  # server -> list of dicts
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            for line in open(path):
                srv, rnd, n, closed, before, after, bpc = line.rstrip("\n").split("\t")
                rows.setdefault(srv, []).append({"round": int(rnd), "n": int(n),
                                                 "closed": int(closed), "before": int(before),
                                                 "after": int(after), "bytes": float(bpc)})
        return rows
    idle = read_idle("idle.tsv")
    idle_tls = read_idle("idle_tls.tsv")
    tls_info = {}  # server -> what s_client negotiated
    try:
        for line in open(os.path.join(run_dir, "tls.tsv")):
            f = line.rstrip("\n").split("\t")
            tls_info[f[0]] = dict(zip(("protocol", "suite", "group", "tickets", "default_suite",
                                       "tls12_refused"), f[1:]))
    except OSError:
        pass

    servers = [s for s in ORDER if any(k[1] == s for k in runs) or s in idle or s in idle_tls]
    medians = {}  # (scenario, server) -> {metric: median}
    for (scen, srv), rs in runs.items():
        medians[(scen, srv)] = {k: med([r[k] for r in rs]) for k in ("rps", "p50", "p99", "cpu", "busy")}
    for srv, rs in idle.items():
        medians[("idle", srv)] = {"bytes": med([r["bytes"] for r in rs])}
    for srv, rs in idle_tls.items():
        medians[("tls_idle", srv)] = {"bytes": med([r["bytes"] for r in rs])}

    def metric(scen, srv, m):
        return medians.get((scen, srv), {}).get(m, float("nan"))

    out = []
    w = out.append
    w("# kahttpd benchmark results")
    w("")
    w("Written by `make bench` (bench/run.sh, bench/report.py); regenerated on every run, "
      "never edited by hand.")
    w("")
    w(f"- Date: {meta.get('date', '?')}")
    w(f"- Machine: {meta.get('cpu', '?')}, {meta.get('ncpu', '?')} CPUs, "
      f"{meta.get('mem', '?')}; kernel {meta.get('kernel', '?')}; {meta.get('os', '?')}")
    w(f"- Versions: {meta.get('v_kahttpd', '?')} (commit {meta.get('commit', '?')}, "
      f"{meta.get('cc', '?')}); {meta.get('v_nginx', '?')}; {meta.get('v_h2o', '?')}; "
      f"{meta.get('v_lighttpd', '?')}; "
      f"{proxy['meta'].get('v_haproxy', '?') + '; ' if proxy else ''}{meta.get('v_wrk', '?')}")
    w(f"- Method: every server runs with one worker (process or thread), pinned to CPU 0 "
      f"(`taskset -c 0`); `taskset -c 1 wrk -t1 -c50 -d{meta.get('duration', '?')}s --latency` "
      f"on CPU 1. {meta.get('rounds', '?')} round(s); within a round each scenario runs on "
      f"each server in turn (the starting server rotates per round), so drift hits all "
      f"alike. Every figure is the median over the rounds; the range column shows the "
      f"spread of CPU/request. CPU/request = (utime + stime of the server process from "
      f"/proc/PID/stat, after − before) / the responses wrk counted: the figure that "
      f"counts, since wrk shares the machine and may be the bottleneck for requests/s. "
      f"\"Server CPU busy\" is the server's CPU time / wall time: near 100 % the server "
      f"limits requests/s, well below it wrk does.")
    w(f"- Configurations (written by bench/servers.sh): access log off, HTTP keep-alive on, "
      f"75 s idle timeout, 1,000,000 requests per connection (kahttpd and h2o: no cap), "
      f"nginx `sendfile on; tcp_nopush on` (and, by default, no `open_file_cache`: it opens, "
      f"stats and closes the file on every request, as kahttpd does; h2o keeps a small cache "
      f"of open files, lighttpd a stat cache), kahttpd `--max-connections` as many as "
      f"descriptors allow and `--idle-watermark 1` (the others never shorten their idle "
      f"timeout), same document root. Files: hello.txt (13 bytes), 4k.txt (4,096 bytes).")
    if tls_info or idle_tls:
        w(f"- HTTPS (scenarios 6 to 8; {meta.get('v_openssl', 'OpenSSL')}): every server on a "
          f"second port of the same process, with one self-signed ECDSA P-256 certificate "
          f"(localhost, 127.0.0.1) made by `openssl req` at the start, TLS 1.3 only, session "
          f"tickets on and no server-side session cache, each configured as far as it can be "
          f"(nginx: `ssl_protocols TLSv1.3; ssl_ecdh_curve X25519; ssl_conf_command "
          f"Ciphersuites TLS_AES_128_GCM_SHA256; ssl_session_tickets on;`; h2o 2.2: "
          f"`minimum-version: TLSv1.3`, `ssl-session-resumption: {{mode: ticket}}`, and no "
          f"setting for TLS 1.3 suites or groups; lighttpd: the same OpenSSL commands through "
          f"`ssl.openssl.ssl-conf-cmd`; kahttpd: `--tls-protocols 1.3`, no setting for suites "
          f"or groups). What the servers cannot set the clients do: wrk, "
          f"tls_close_client.py and idle_client.py run with an `OPENSSL_CONF` that offers only "
          f"TLS 1.3, TLS_AES_128_GCM_SHA256 and X25519, so every server negotiates the same "
          f"(checked with `openssl s_client` at the start: table in section 8). "
          f"{meta.get('tls_duration', '?')} s per TLS run. wrk cannot make a full handshake "
          f"per connection (it resumes every other session), so scenario 7 uses "
          f"bench/tls_close_client.py: 50 Python threads, each connecting, handshaking without "
          f"a session to resume, sending one request with Connection: close and reading until "
          f"the server closes. It is slower than the servers (their CPU busy column): the "
          f"figure to compare is CPU/request.")
    if meta.get("steal") and runs:
        w(f"- CPU time stolen by the hypervisor during the throughput runs: "
          f"{meta['steal']} % of wall time on the two CPUs (high values mean noisy numbers).")
    if meta.get("quick") == "1":
        w("- **BENCH_QUICK=1 smoke run: one short round; not for decisions.**")
    w("")

    # ---- targets
    w("## Targets")
    w("")
    w("| target | kahttpd | reference | ratio | met |")
    w("|---|---|---|---|---|")
    target_lines = []
    for scen, m, kind, other, factor, text in TARGETS:
        mine = metric(scen, "kahttpd", m)
        unit = {"cpu": " µs/req", "rps": " req/s", "bytes": " B/conn"}[m]
        digits = 0 if m == "bytes" else 2
        if other is None:
            ref, r, ref_text = factor, mine, f"{fmt(factor, 0)}{unit}"
            limit = factor
            r_text = "—"
        else:
            ref = metric(scen, other, m)
            r = ratio(mine, ref)
            ref_text = f"{other} {fmt(ref, digits)}{unit}"
            limit = factor
            r_text = f"{fmt(r, 3)} ×"
        if r != r:
            met = "not measured"
        elif kind == "le":
            met = "**yes**" if r <= limit else "no"
        else:
            met = "**yes**" if r >= limit else "no"
        if m == "rps" and other is not None:
            # requests/s is only the server's when the server was the bottleneck; say
            # what one CPU could do by each server's CPU time per request beside it.
            cap = ratio(metric(scen, other, "cpu"), metric(scen, "kahttpd", "cpu"))
            r_text += f" (by CPU/request: {fmt(cap, 2)} ×)"
            busy = metric(scen, "kahttpd", "busy")
            if busy == busy and busy < 90:
                met += f" (kahttpd only {busy:.0f} % busy: wrk was the bottleneck)"
        w(f"| {text} | {fmt(mine, digits)}{unit} | {ref_text} | {r_text} | {met} |")
        if met == "not measured":
            continue  # not in this run (BENCH_SCENARIOS, BENCH_IDLE, BENCH_SERVERS)
        target_lines.append(f"{'MET ' if met.startswith('**yes**') else 'MISS'} {text}: kahttpd "
                            f"{fmt(mine, digits)}{unit}, ratio {r_text}")
    proxy_rows, proxy_misses = proxy_report.target_rows(proxy)
    out.extend(proxy_rows)
    w("")

    # ---- where the CPU goes: perf, every server, every scenario, in µs per request
    split = {}  # (scen, srv) -> {category: µs/request}
    for scen, _ in SCENARIOS:
        for srv in servers:
            shares = parse_perf(run_dir, scen, srv)
            cpu = metric(scen, srv, "cpu")
            if shares and cpu == cpu:
                split[(scen, srv)] = {k: v / 100 * cpu for k, v in shares.items()}

    # Servers do the same work through different calls (sendmsg or writev, recvfrom or
    # read; kahttpd's FIN leaves in shutdown, nginx's in close), so the comparison
    # groups them by what they do.
    roles = {"sendmsg": "sending", "writev": "sending", "write": "sending",
             "sendfile64": "sending", "sendfile": "sending", "recvfrom": "receiving",
             "read": "receiving", "recvmsg": "receiving", "shutdown": "closing",
             "close": "closing", "epoll_wait": "epoll_wait (sleeping and being woken)"}
    fresh = ("the newfstatat figure is kahttpd's file cache re-checking each file once per pass "
             "of the event loop, so that a file changed on disk is never served stale; "
             "below saturation a pass holds few requests")
    notes = {
        "ka_small": fresh,
        "ka_4k": fresh,
        "tls_ka_small": "what dominates: the same as without TLS, the system calls; on a "
                        "kept-alive TLS connection each request is one record to decrypt and "
                        "one to encrypt, AES-128-GCM in OpenSSL's record layer, about 2 µs in "
                        "every server (the OpenSSL column in \"Where the CPU goes\"). Beyond "
                        "that servers differ in their own loop and in how they feed OpenSSL: "
                        "kahttpd reads with OpenSSL's read-ahead (one read() for a record's "
                        "header and body) and then once more until EAGAIN, since a short "
                        "read through TLS does not prove the socket empty; nginx reads a "
                        "record's header and body apart; h2o reads the socket itself into a "
                        "memory BIO, one read per request; each makes one write per response",
        "tls_close": "what dominates: the full TLS 1.3 handshake, whose ECDSA P-256 "
                     "signature (CertificateVerify) and X25519 key exchange are OpenSSL's, "
                     "the same for every server (the OpenSSL column in \"Where the CPU "
                     "goes\"; the allocations OpenSSL makes count as user, in libc); the "
                     "servers differ in the session tickets they send (section 8: kahttpd "
                     "one, OpenSSL's default two), their accept and close path and their "
                     "own code",
        "close": "a client that sent Connection: close with nothing unread is closed at "
                 "once, as nginx does, but after one recv(MSG_PEEK) that nginx does not make: "
                 "it catches bytes sent regardless whose event has not come yet, which "
                 "close() would otherwise answer with a reset that destroys the response "
                 "(RFC 9112 9.6)",
    }

    def why(scen, other):
        """The groups of work where kahttpd spends most beyond the other server."""
        a, b = split.get((scen, "kahttpd")), split.get((scen, other))
        if not a or not b:
            return "no perf profile to compare (see Warnings)"

        def grouped(d):
            g = {}
            for k, v in d.items():
                g[roles.get(k, k)] = g.get(roles.get(k, k), 0) + v
            return g
        a, b = grouped(a), grouped(b)
        diff = sorted(((a.get(k, 0) - b.get(k, 0), k) for k in set(a) | set(b)), reverse=True)
        parts = [f"{k} {a.get(k, 0):.2f} vs {b.get(k, 0):.2f} µs" for d, k in diff[:3] if d > 0.05]
        text = ("kahttpd spends more than " + other + " in: " + "; ".join(parts)
                if parts else f"no category stands out against {other}")
        note = notes.get(scen, "")
        return text + (f". {note[0].upper()}{note[1:]}" if note else "")

    def tls_share_text():
        """What TLS adds per idle connection, server by server: TLS minus plain."""
        parts = []
        for s in servers:
            t, p = metric("tls_idle", s, "bytes"), metric("idle", s, "bytes")
            if t == t and p == p:
                parts.append(f"{s} {fmt(t - p, 0)}")
        if not parts:
            return ""
        return ("What TLS adds per idle connection (TLS − plain figure, mostly OpenSSL's SSL "
                "object with its cipher contexts and session): " + ", ".join(parts) + " bytes.")

    misses = []
    for scen, m, kind, other, factor, text in TARGETS:
        mine = metric(scen, "kahttpd", m)
        r = mine if other is None else ratio(mine, metric(scen, other, m))
        if r != r:
            continue
        ok = r <= factor if kind == "le" else r >= factor
        if ok:
            continue
        if m == "rps":
            busy = metric(scen, "kahttpd", "busy")
            cap = ratio(metric(scen, other, "cpu"), metric(scen, "kahttpd", "cpu"))
            line = (f"**{text}**: {fmt(r, 3)} ×, short by {fmt(100 * (1 - r / factor), 1)} %. "
                    f"kahttpd was {fmt(busy, 0)} % busy and {other} "
                    f"{fmt(metric(scen, other, 'busy'), 0)} %: ")
            if busy == busy and busy < 90:
                line += (f"wrk, alone on CPU 1, could not ask faster, so requests/s measures "
                         f"wrk here. By CPU time per request kahttpd does {fmt(cap, 2)} × "
                         f"the work of {other} per CPU second.")
            else:
                line += f"the server was the bottleneck; {why(scen, other)}."
        elif m == "bytes" and scen == "tls_idle":
            line = (f"**{text}**: {fmt(r, 3)} ×, {fmt(mine, 0)} bytes per connection against "
                    f"{fmt(metric(scen, other, m), 0)}. {tls_share_text()}")
        elif m == "bytes":
            line = f"**{text}**: {fmt(mine, 0)} bytes per connection."
        else:
            need = factor * metric(scen, other, m) if other else factor
            line = (f"**{text}**: {fmt(r, 3)} ×, {fmt(mine - need, 2)} µs per request over "
                    f"the target; {why(scen, other)} (perf, next section).")
            busy, other_busy = metric(scen, "kahttpd", "busy"), metric(scen, other, "busy")
            if busy == busy and other_busy == other_busy and busy < other_busy - 10:
                line += (f" kahttpd was {fmt(busy, 0)} % busy and {other} "
                         f"{fmt(other_busy, 0)} %: a server that keeps up with wrk sleeps in "
                         f"epoll_wait and pays to be woken, which a saturated one does not.")
        misses.append(line)
    if misses or proxy_misses:
        w("### Targets not met, and why")
        w("")
        for line in misses:
            w(f"- {line}")
        out.extend(proxy_misses)
        w("")

    # ---- one table per throughput scenario: plain ones (1-4) here, TLS ones (6, 7) after
    # the idle memory (5)
    def write_scenario(scen, title):
        present = [s for s in servers if (scen, s) in runs]
        if not present:
            return
        w(f"## {title}")
        w("")
        w("| server | requests/s | p50 | p99 | server CPU busy | CPU µs/request | CPU range | "
          "CPU vs nginx | CPU vs h2o | req/s vs nginx | req/s vs h2o |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for s in present:
            cpus = [r["cpu"] for r in runs[(scen, s)]]
            w(f"| {s} | {fmt(metric(scen, s, 'rps'))} | {fmt_lat(metric(scen, s, 'p50'))} | "
              f"{fmt_lat(metric(scen, s, 'p99'))} | {fmt(metric(scen, s, 'busy'), 0)} % | "
              f"{fmt(metric(scen, s, 'cpu'))} | "
              f"{fmt(min(cpus))}–{fmt(max(cpus))} | "
              f"{fmt(ratio(metric(scen, s, 'cpu'), metric(scen, 'nginx', 'cpu')))} | "
              f"{fmt(ratio(metric(scen, s, 'cpu'), metric(scen, 'h2o', 'cpu')))} | "
              f"{fmt(ratio(metric(scen, s, 'rps'), metric(scen, 'nginx', 'rps')))} | "
              f"{fmt(ratio(metric(scen, s, 'rps'), metric(scen, 'h2o', 'rps')))} |")
        w("")
        if scen.startswith("tls_"):
            shares = [f"{s} {split[(scen, s)].get('OpenSSL', 0):.1f} of {fmt(metric(scen, s, 'cpu'))}"
                      for s in present if (scen, s) in split]
            w(f"{notes[scen][0].upper()}{notes[scen][1:]}." + (
                f" µs per request inside OpenSSL's libraries (perf): {'; '.join(shares)}."
                if shares else ""))
            w("")

    for scen, title in SCENARIOS:
        if not scen.startswith("tls_"):
            write_scenario(scen, title)

    # ---- idle memory
    if idle:
        w("## 5. Idle keep-alive connections: resident memory per connection")
        w("")
        w(f"bench/idle_memory.sh, {meta.get('idle_rounds', '?')} rounds, each server in turn, "
          "each time freshly started: after a warm-up (100 connections holding an "
          "unfinished request at once, then answered and closed), N "
          "connections each complete one request and stay idle; "
          "(VmRSS after − VmRSS before) / N from /proc/PID/status. Kernel socket memory "
          "is not in RSS.")
        w("")
        w("| server | N | bytes/connection | range | vs nginx | vs h2o | "
          "VmRSS before → after (KiB, last round) |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        for s in servers:
            if s not in idle:
                continue
            rs = idle[s]
            b = metric("idle", s, "bytes")
            last = rs[-1]
            w(f"| {s} | {last['n']:,} | {fmt(b, 0)} | "
              f"{fmt(min(r['bytes'] for r in rs), 0)}–{fmt(max(r['bytes'] for r in rs), 0)} | "
              f"{fmt(ratio(b, metric('idle', 'nginx', 'bytes')))} | "
              f"{fmt(ratio(b, metric('idle', 'h2o', 'bytes')))} | "
              f"{last['before']:,} → {last['after']:,} |")
        if "lighttpd" in idle and idle["lighttpd"][-1]["n"] < max(
                r["n"] for rs in idle.values() for r in rs):
            w("")
            w("lighttpd keeps half its descriptors for files, so under this machine's open-file "
              "limit it holds fewer connections: its N is smaller.")
        w("")

    for scen, title in SCENARIOS:
        if scen.startswith("tls_"):
            write_scenario(scen, title)

    # ---- TLS: what was negotiated, and idle TLS memory
    if tls_info or idle_tls:
        w("## 8. HTTPS: what each server negotiated, and memory per idle TLS connection")
        w("")
    if tls_info:
        w("`openssl s_client -tls1_3` against each server's TLS port at the start, once with "
          "the bench's client configuration (what every measured client offered) and once "
          "with OpenSSL's default client offer (what wrk would get without it), and once with "
          "`-tls1_2`. Tickets: NewSessionTicket messages after one full handshake.")
        w("")
        w("| server | protocol | suite | group | tickets per full handshake | "
          "suite for a default client | TLS 1.2 refused |")
        w("|---|---|---|---|---:|---|---|")
        for s in servers:
            if s in tls_info:
                t = tls_info[s]
                w(f"| {s} | {t['protocol']} | {t['suite']} | {t['group']} | {t['tickets']} | "
                  f"{t['default_suite']} | {t['tls12_refused']} |")
        w("")
    if idle_tls:
        w(f"bench/idle_memory.sh --tls, {meta.get('idle_tls_rounds', '?')} round(s): as in "
          "section 5, but every connection made a full TLS handshake (bench/idle_client.py "
          "--tls, Python's ssl) before its one request. *TLS adds* is this figure minus the "
          "server's plain one in section 5 (a different N, but both per connection): mostly "
          "OpenSSL's per-connection SSL object, its two AES-GCM contexts and the session.")
        w("")
        w("| server | N | bytes/connection | range | vs nginx | vs h2o | plain | TLS adds | "
          "VmRSS before → after (KiB, last round) |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for s in servers:
            if s not in idle_tls:
                continue
            rs = idle_tls[s]
            b = metric("tls_idle", s, "bytes")
            p = metric("idle", s, "bytes")
            last = rs[-1]
            w(f"| {s} | {last['n']:,} | {fmt(b, 0)} | "
              f"{fmt(min(r['bytes'] for r in rs), 0)}–{fmt(max(r['bytes'] for r in rs), 0)} | "
              f"{fmt(ratio(b, metric('tls_idle', 'nginx', 'bytes')))} | "
              f"{fmt(ratio(b, metric('tls_idle', 'h2o', 'bytes')))} | {fmt(p, 0)} | "
              f"{fmt(b - p, 0)} | {last['before']:,} → {last['after']:,} |")
        w("")

    if proxy:
        out.extend(proxy_report.section(proxy, 9))

    def write_profiles():
        if split:
            w("## Where the CPU goes")
            w("")
            w("perf (`-e cpu-clock`, kernel stacks) sampled each server for 2 s during an extra, "
              "unmeasured 3 s wrk run of each scenario; each share of its samples is multiplied "
              "by the server's median CPU µs/request above. A system call's figure is its whole "
              "kernel path, including the loopback softirq work it triggered (the receiving "
              "side's TCP processing runs on the sender's CPU); *user* is the server's own code "
              "and its libraries but OpenSSL; *OpenSSL* the samples inside libcrypto and libssl "
              "(handshake signature and key exchange, record encryption); *other kernel* is interrupts, page faults and scheduling "
              "outside system calls. µs per request:")
            w("")
            for scen, title in SCENARIOS:
                present = [s for s in servers if (scen, s) in split]
                if not present:
                    continue
                cats = {}
                for s in present:
                    for k, v in split[(scen, s)].items():
                        if k not in ("user", "other kernel"):
                            cats[k] = max(cats.get(k, 0), v)
                shown = [k for k, v in sorted(cats.items(), key=lambda kv: -kv[1])
                         if v >= 0.03 * max(metric(scen, s, "cpu") for s in present)][:7]
                w(f"**{title}**")
                w("")
                w("| server | CPU µs/req | user | " + " | ".join(shown) +
                  " | other syscalls | other kernel |")
                w("|---|---:|---:|" + "---:|" * (len(shown) + 2))
                for s in present:
                    d = split[(scen, s)]
                    rest = sum(v for k, v in d.items() if k not in shown and k not in ("user", "other kernel"))
                    w(f"| {s} | {fmt(metric(scen, s, 'cpu'))} | {d.get('user', 0):.2f} | " +
                      " | ".join(f"{d.get(k, 0):.2f}" for k in shown) +
                      f" | {rest:.2f} | {d.get('other kernel', 0):.2f} |")
                w("")

        prof = []
        for name, title in (("profile-ka", "keep-alive, 10 connections, GET /hello.txt"),
                            ("profile-pipe", "pipelined depth 16, 10 connections, GET /hello.txt")):
            try:
                text = open(os.path.join(run_dir, name + ".txt"), errors="replace").read()
            except OSError:
                continue
            i = text.find("instructions per request")
            if i < 0:
                continue
            body = [l for l in text[i:].splitlines() if not l.startswith("files:")]
            prof.append((title, "\n".join(body).strip()))
        if prof:
            w("## kahttpd, instruction by instruction")
            w("")
            w("bench/profile.sh: an exact number of requests under `valgrind --tool=callgrind` "
              "(instructions, repeatable on a noisy machine) and under `strace -c -f` (system "
              "calls), minus a baseline run, per request.")
            w("")
            for title, body in prof:
                w(f"**{title}**")
                w("")
                w("```")
                w(body)
                w("```")
                w("")


    write_profiles()

    # ---- warnings
    warnings = []
    for (scen, srv), rs in sorted(runs.items()):
        for r in rs:
            if r["errors"] or r["non2xx"]:
                warnings.append(f"{SHORT[scen]}, {srv}, round {r['round']}: "
                                f"{r['errors']} socket errors, {r['non2xx']} non-2xx responses")
            if r.get("lat_lost"):
                warnings.append(f"{SHORT[scen]}, {srv}, round {r['round']}: wrk printed a "
                                f"latency percentile of 0 (its histogram overflowed): n/a")
            if not r["requests"]:
                warnings.append(f"{SHORT[scen]}, {srv}, round {r['round']}: no requests counted")
    for label, rows in (("idle", idle), ("idle TLS", idle_tls)):
        for srv, rs in rows.items():
            for r in rs:
                if r["closed"]:
                    warnings.append(f"{label}, {srv}, round {r['round']}: "
                                    f"{r['closed']} connections closed")
    for note in meta.get("notes", "").split("|"):
        if note:
            warnings.append(note)
    if warnings:
        w("## Warnings")
        w("")
        for x in warnings:
            w(f"- {x}")
        w("")

    # ---- raw data
    if runs:
        w("## Every run")
        w("")
        w("| scenario | server | round | requests | requests/s | p50 | p99 | CPU ticks | CPU µs/request |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for scen, _ in SCENARIOS:
            for s in servers:
                for r in sorted(runs.get((scen, s), []), key=lambda r: r["round"]):
                    w(f"| {SHORT[scen]} | {s} | {r['round']} | {r['requests']:,} | {fmt(r['rps'])} | "
                      f"{fmt_lat(r['p50'])} | {fmt_lat(r['p99'])} | {r['ticks']} | {fmt(r['cpu'])} |")
        w("")
        w(f"CPU ticks are 1/{clk:.0f} s. The chart: bench/results.png.")
        w("")

    if proxy and not runs and not idle and not idle_tls and os.path.exists(out_md):
        # The proxy benchmark alone: its section replaces the one in the last full
        # run's file, and the rest stays.
        text = proxy_report.splice(open(out_md).read(), proxy)
    else:
        text = "\n".join(out)
    with open(out_md, "w") as f:
        f.write(text)

    # ---- chart data: one row per scenario, one column per server
    with open(out_dat, "w") as f:
        f.write("scenario " + " ".join(servers) + "\n")
        # The TLS scenarios' tens or hundreds of µs would flatten the others' bars: they
        # are in RESULTS.md's tables only.
        for scen, _ in SCENARIOS:
            vals = [metric(scen, s, "cpu") for s in servers]
            if scen.startswith("tls_") or all(v != v for v in vals):
                continue
            f.write(f'"{SHORT[scen]}" ' + " ".join("NaN" if v != v else f"{v:.3f}" for v in vals)
                    + "\n")
        f.write("\n\n")  # gnuplot index 1: idle memory
        f.write("scenario " + " ".join(servers) + "\n")
        vals = [metric("idle", s, "bytes") for s in servers]
        if any(v == v for v in vals):
            f.write('"idle connection" ' + " ".join("NaN" if v != v else f"{v:.1f}" for v in vals)
                    + "\n")

    # ---- summary on stdout
    print("bench: medians (CPU µs/request, requests/s)")
    for scen, _ in SCENARIOS:
        row = [f"{s} {fmt(metric(scen, s, 'cpu'))} µs {fmt(metric(scen, s, 'rps'))}/s"
               for s in servers if (scen, s) in runs]
        if row:
            print(f"  {SHORT[scen]:20} " + " | ".join(row))
    if idle:
        print(f"  {'idle bytes/conn':20} " + " | ".join(
            f"{s} {fmt(metric('idle', s, 'bytes'), 0)}" for s in servers if s in idle))
    if idle_tls:
        print(f"  {'idle TLS bytes/conn':20} " + " | ".join(
            f"{s} {fmt(metric('tls_idle', s, 'bytes'), 0)}" for s in servers if s in idle_tls))
    for t in target_lines:
        print("  " + t)
    if proxy:
        print("\n".join(proxy_report.summary(proxy)[1:]))
    for x in warnings:
        print("  warning: " + x)


if __name__ == "__main__":
    main()
