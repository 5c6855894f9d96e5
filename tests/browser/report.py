#!/usr/bin/python3
"""
make browser-report: chromium loads www/page/ through the delay relay, from kahttpd
with keep-alive on and off, at 0 and 50 ms round-trip time, five loads of each, and the
same over HTTPS at 0 and 50 ms; writes docs/browser.md (the table, medians, the speedup, the
published figure beside it, what keep-alive saves when every connection also pays a
TLS handshake) and docs/browser.png (a screenshot of the loaded page).

The HTTPS loads use one ECDSA P-256 certificate for localhost and 127.0.0.1, self-signed
with the openssl command into the report's temp dir; chromium is started with
--ignore-certificate-errors (load.cjs). The relay copies bytes, so it carries TLS as it
carries plain HTTP.

Every load has a kahttpd of its own (a fresh process: its counters are the load's), a
relay of its own and a chromium with a new profile. The configurations take turns
(round 1 of each, then round 2 of each, ...), so a machine that gets busier or quieter
during the report affects them alike. Any load that breaks a rule of the test (a
resource not loaded, too many connections, ...) stops the report with an error.

    tests/browser/report.py [--binary build/kahttpd] [--loads 5] [--rtts 0,50]
                            [--tls-loads 5] [--tls-rtts 0,50]
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pageload

PUBLISHED = ("Padmanabhan and Mogul (1994) measured persistent connections cutting "
             "page latency by about 15-50 % at an 80 ms round-trip time")


def run(binary, loads, rtts, tls_loads, tls_rtts, workroot, screenshot):
    """Every load; returns {(scheme, rtt, keep-alive): [record, ...]}."""
    configs = ([("http", rtt, ka) for rtt in rtts for ka in (True, False)]
               + [("https", rtt, ka) for rtt in tls_rtts for ka in (True, False)])
    records = {c: [] for c in configs}
    cert = pageload.make_cert(workroot) if tls_rtts else None
    shot_taken = False
    for i in range(max(loads, tls_loads if tls_rtts else 0)):
        for scheme, rtt, ka in configs:
            if i >= (loads if scheme == "http" else tls_loads):
                continue
            workdir = workroot / f"{scheme}-{'ka' if ka else 'noka'}-{rtt}-{i}"
            workdir.mkdir()
            https = scheme == "https"
            server = pageload.Kahttpd(binary, workdir, ka, tls=cert if https else None)
            try:
                # The screenshot: plain HTTP, keep-alive at the highest RTT, first round.
                shot = (screenshot if (not https and ka and rtt == max(rtts) and not shot_taken)
                        else None)
                rec = pageload.load_page(server.tls_addr if https else server.addr, server.admin,
                                         server.log_path, rtt, workdir, shot, scheme)
                shot_taken = shot_taken or shot is not None
            finally:
                rc = server.stop()
            problems = pageload.check_load(rec, ka)
            if rc != 0:
                problems.append(f"kahttpd exited {rc}: {server.stderr()[-1000:]}")
            if problems:
                sys.exit(f"browser-report: load {i + 1}, {scheme.upper()}, RTT {rtt} ms, keep-alive "
                         f"{'on' if ka else 'off'}: " + "; ".join(problems))
            tls = (f"  TLS handshakes {rec['tls_full']} full + {rec['tls_resumed']} resumed"
                   if https else "")
            print(f"load {i + 1}/{loads if not https else tls_loads}  {scheme:<5}  RTT {rtt:>3} ms  "
                  f"keep-alive {'on ' if ka else 'off'}  {rec['load_ms']:7.1f} ms  "
                  f"{rec['accepted']:2d} connections  {rec['requests']} requests{tls}", flush=True)
            records[(scheme, rtt, ka)].append(rec)
    return records


def per_conn_text(recs):
    """Requests per connection: the distribution of the median load (by connections)."""
    rec = sorted(recs, key=lambda r: r["accepted"])[len(recs) // 2]
    counts = rec["requests_per_connection"]
    if len(set(counts)) == 1:
        return f"{counts[0]} each"
    return " + ".join(str(n) for n in counts)


def environment(binary):
    def cmd(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return "?"
    chromium = cmd(pageload.CHROMIUM, "--version").splitlines()
    openssl = cmd("openssl", "version").split(" (")[0]
    lock = json.loads((pageload.HERE / "package-lock.json").read_text())
    return {
        "chromium": chromium[-1] if chromium else "?",
        "playwright": lock["packages"]["node_modules/playwright-core"]["version"],
        "node": cmd(pageload.NODE, "--version"),
        "kahttpd": cmd(str(binary), "--version"),
        "cpus": os.cpu_count(),
        "openssl": openssl or "?",
    }


def resumption_text(rec):
    """The handshakes of one load in the order kahttpd accepted the connections:
    F full, R resumed."""
    return "".join("R" if resumed else "F" for resumed in rec["tls_resumed_in_order"])


def median_rec(recs, key):
    return sorted(recs, key=key)[len(recs) // 2]


def write_https(w, records, tls_rtts, tls_loads):
    """The HTTPS section: the same page over TLS beside the plain-HTTP runs at the same
    RTT (when the report ran that RTT in plain HTTP too)."""
    def recs(scheme, rtt, ka):
        return records.get((scheme, rtt, ka), [])

    def med(scheme, rtt, ka, field="load_ms"):
        return statistics.median(r[field] for r in recs(scheme, rtt, ka))

    w(f"## HTTPS: the same page over TLS, median of {tls_loads} loads each\n")
    versions = sorted({v for rtt in tls_rtts for ka in (True, False)
                       for r in recs("https", rtt, ka) for v in r["tls_versions"]})
    protocols = sorted({r["browser"]["navigation"]["nextHopProtocol"] for rtt in tls_rtts
                        for ka in (True, False) for r in recs("https", rtt, ka)})
    w("kahttpd also listens with `--tls-listen`, with an ECDSA P-256 certificate for "
      "`localhost` and `127.0.0.1` that the report makes with the `openssl` command; chromium "
      "is started with `--ignore-certificate-errors` to accept it. The relay copies bytes and "
      "parses nothing, so it carries TLS unchanged and adds the same delays: every TLS "
      "handshake pays its round trip on top of the TCP one. TLS version on every connection: "
      f"{', '.join(versions)} (kahttpd's access log); protocol chromium reports: "
      f"{', '.join(protocols)} (`nextHopProtocol`). The TLS handshakes are kahttpd's "
      "`tls.handshakes` in `/status`: `full`, or `resumed` from a session ticket that chromium "
      "got on an earlier connection of the same load (its profile is new, so the first "
      "connection of a load is always full).\n")
    w("| scheme | RTT | keep-alive | resources loaded (200) | TCP connections accepted "
      "| TLS handshakes, full + resumed | requests | load time, median | (min - max) |")
    w("|---|---:|---|---:|---:|---:|---:|---:|---|")
    for rtt in tls_rtts:
        for scheme in ("http", "https"):
            for ka in (True, False):
                rs = recs(scheme, rtt, ka)
                if not rs:
                    continue
                loaded = statistics.median(sum(1 for q in r["browser"]["requests"] if q["status"] == 200)
                                           for r in rs)
                times = [r["load_ms"] for r in rs]
                tls = (f"{med(scheme, rtt, ka, 'tls_full'):.0f} + {med(scheme, rtt, ka, 'tls_resumed'):.0f}"
                       if scheme == "https" else "-")
                w(f"| {scheme.upper()} | {rtt} ms | {'on' if ka else 'off'} | {loaded:.0f} of 41 "
                  f"| {med(scheme, rtt, ka, 'accepted'):.0f} | {tls} | {med(scheme, rtt, ka, 'requests'):.0f} "
                  f"| **{statistics.median(times):.0f} ms** | {min(times):.0f} - {max(times):.0f} ms |")
    w("")
    w("What keep-alive saves, plain HTTP beside HTTPS:\n")
    w("| scheme | RTT | load time, keep-alive off | keep-alive on | keep-alive saves | off / on |")
    w("|---|---:|---:|---:|---:|---:|")
    for rtt in tls_rtts:
        for scheme in ("http", "https"):
            if not (recs(scheme, rtt, True) and recs(scheme, rtt, False)):
                continue
            on, off = med(scheme, rtt, True), med(scheme, rtt, False)
            w(f"| {scheme.upper()} | {rtt} ms | {off:.0f} ms | {on:.0f} ms | {off - on:.0f} ms "
              f"({(off - on) / off * 100:.0f} %) | {off / on:.2f} |")
    w("")
    for rtt in tls_rtts:
        s_on, s_off = med("https", rtt, True), med("https", rtt, False)
        n_on, n_off = med("https", rtt, True, "accepted"), med("https", rtt, False, "accepted")
        saves_s = s_off - s_on

        def rtts_of(ms):
            return f" ({ms / rtt:+.1f} RTT)" if rtt else ""
        text = (f"At {rtt} ms, over HTTPS, keep-alive cut the median load time from {s_off:.0f} ms "
                f"to {s_on:.0f} ms: {saves_s:.0f} ms ({saves_s / s_off * 100:.0f} %).")
        if recs("http", rtt, True) and recs("http", rtt, False):
            h_on, h_off = med("http", rtt, True), med("http", rtt, False)
            saves_h = h_off - h_on
            cost_on, cost_off = s_on - h_on, s_off - h_off
            spread = max(max(r["load_ms"] for r in rs) - min(r["load_ms"] for r in rs)
                         for rs in (recs(sc, rtt, ka) for sc in ("http", "https") for ka in (True, False)))
            text += (f" Over plain HTTP, in the same rounds, it saved {saves_h:.0f} ms "
                     f"({saves_h / h_off * 100:.0f} %); HTTPS minus HTTP: {saves_s - saves_h:+.0f} ms"
                     f"{rtts_of(saves_s - saves_h)}")
            if abs(saves_s - saves_h) < spread:
                text += (f", less than the spread between the loads of one configuration (up to "
                         f"{spread:.0f} ms here), so these runs do not tell the two savings apart.")
            else:
                text += f": keep-alive saved {'more' if saves_s > saves_h else 'less'} with TLS than without."
            text += (f" What TLS added to the median load: {cost_on:+.0f} ms{rtts_of(cost_on)} with "
                     f"keep-alive ({n_on:.0f} connections, as many handshakes) and {cost_off:+.0f} ms"
                     f"{rtts_of(cost_off)} without ({n_off:.0f} connections and handshakes).")
            extra = cost_off - cost_on
            if rtt and 0 < extra / rtt < n_off - n_on:
                text += (f" The {n_off - n_on:.0f} handshakes more of the keep-alive-off loads cost "
                         f"{extra:.0f} ms more, {extra / rtt:.1f} RTT, not one RTT each: chromium "
                         "opens up to 6 connections at once, so their handshakes overlap.")
            if rtt and 0 in tls_rtts and recs("http", 0, True) and recs("http", 0, False):
                c0_on = med("https", 0, True) - med("http", 0, True)
                c0_off = med("https", 0, False) - med("http", 0, False)
                spread0 = max(max(r["load_ms"] for r in rs) - min(r["load_ms"] for r in rs)
                              for rs in (recs(sc, 0, ka) for sc in ("http", "https")
                                         for ka in (True, False)))
                text += (f" At 0 ms, where a round trip costs nothing, TLS added {c0_on:+.0f} ms with "
                         f"keep-alive and {c0_off:+.0f} ms without: the computation of the "
                         "handshakes and of the encryption in chromium and kahttpd, on a shared "
                         f"machine where the 0 ms loads of one configuration vary by up to "
                         f"{spread0:.0f} ms, so a rough figure.")
        w(text + "\n")
    for rtt in tls_rtts:
        on_recs, off_recs = recs("https", rtt, True), recs("https", rtt, False)
        res_on = [r["tls_resumed"] for r in on_recs]
        res_off = [r["tls_resumed"] for r in off_recs]
        acc_off = [r["accepted"] for r in off_recs]
        resumed_any = sum(res_on) + sum(res_off) > 0
        w(f"Session resumption at {rtt} ms: with keep-alive, {sum(res_on)} of "
          f"{sum(r['accepted'] for r in on_recs)} connections in all {len(on_recs)} loads resumed "
          f"({', '.join(str(n) for n in res_on)} per load); without keep-alive, {sum(res_off)} of "
          f"{sum(acc_off)} ({', '.join(str(n) for n in res_off)} per load). "
          + ("So chromium did resume sessions on its later connections, but not on all of them. "
             if resumed_any else "Chromium resumed no session. ")
          + "The handshakes in the order kahttpd accepted the connections (F full, R resumed), "
          "one load each, the median by resumed handshakes:\n")
        for ka, rs in ((True, on_recs), (False, off_recs)):
            rec = median_rec(rs, lambda r: r["tls_resumed"])
            w(f"- keep-alive {'on ' if ka else 'off'}: `{resumption_text(rec)}`")
        w("")
    if any(r["tls_resumed"] for rtt in tls_rtts for ka in (True, False) for r in recs("https", rtt, ka)):
        w("kahttpd sends one session ticket per handshake (`SSL_CTX_set_num_tickets(ctx, 1)` "
          "in `src/server/tls.c`), and a ticket can only be used once the handshake that "
          "carried it is done, so the connections chromium opens together at the start cannot "
          "resume from one another. Why full handshakes keep coming between resumed ones "
          "later in a load, when many tickets have been sent, these counts do not show: it is "
          "chromium's choice (how many sessions its cache keeps per server, and that it uses a "
          "TLS 1.3 ticket once, as RFC 8446 appendix C.4 advises, are the likely parts). "
          "A resumed TLS 1.3 handshake saves the certificate and its signature, not the "
          "round trip, so resumption would not shorten the load by round trips anyway.\n")
    w("Every HTTPS load:\n")
    w("| RTT | keep-alive | load times (ms), in order | connections accepted | TLS handshakes resumed |")
    w("|---:|---|---|---|---|")
    for rtt in tls_rtts:
        for ka in (True, False):
            rs = recs("https", rtt, ka)
            w(f"| {rtt} ms | {'on' if ka else 'off'} | {', '.join('%.0f' % r['load_ms'] for r in rs)} "
              f"| {', '.join(str(r['accepted']) for r in rs)} "
              f"| {', '.join(str(r['tls_resumed']) for r in rs)} |")
    w("")


def write_markdown(path, all_records, rtts, loads, tls_rtts, tls_loads, env, load_before,
                   load_after, shot_name):
    records = {(rtt, ka): recs for (scheme, rtt, ka), recs in all_records.items()
               if scheme == "http"}

    def med(rtt, ka):
        return statistics.median(r["load_ms"] for r in records[(rtt, ka)])

    out = []
    w = out.append
    page_dir = pageload.WWW / pageload.PAGE_PATH.strip("/")
    page_bytes = sum((page_dir / (p or "index.html")).stat().st_size for p in pageload.PAGE_RESOURCES)
    w("# A real browser against kahttpd: what keep-alive does for a page load\n")
    w("Generated by `make browser-report` (`tests/browser/report.py`); do not edit by hand. "
      f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.\n")
    w("The page is [`www/page/`](../www/page/index.html): one HTML document, 30 images, 7 scripts and "
      f"3 stylesheets ({len(pageload.PAGE_RESOURCES)} requests, {page_bytes:,} bytes), the shape of a typical page in the articles "
      "that make the case for keep-alive. Headless Debian chromium, driven by playwright-core, "
      "loads it through [`tests/relay/relay.py`](../tests/relay/relay.py), which adds the "
      "round-trip time: RTT/2 each way, and one RTT before a new connection's first byte "
      "(the TCP handshake). Every load is a new kahttpd, a new relay and a new chromium with "
      "an empty profile and the HTTP cache off. Connections and requests are kahttpd's own "
      "counts (`/status` on `--admin`, and `conn=ID req=N` in the access log); load time is "
      "the page's Navigation Timing, navigation start to the end of the load event."
      + (f" The same loads over HTTPS, at {' and '.join(str(r) for r in tls_rtts)} ms, follow "
         "the plain-HTTP ones: what keep-alive saves when every new connection also pays a TLS "
         "handshake." if tls_rtts else "") + "\n")
    w(f"## The four runs, median of {loads} loads each\n")
    w("| RTT | keep-alive | resources loaded (200) | TCP connections accepted | requests "
      "| requests per connection | load time, median | (min - max) |")
    w("|---:|---|---:|---:|---:|---|---:|---|")
    for rtt in rtts:
        for ka in (True, False):
            recs = records[(rtt, ka)]
            loaded = statistics.median(sum(1 for q in r["browser"]["requests"] if q["status"] == 200)
                                       for r in recs)
            conns = statistics.median(r["accepted"] for r in recs)
            reqs = statistics.median(r["requests"] for r in recs)
            times = [r["load_ms"] for r in recs]
            w(f"| {rtt} ms | {'on' if ka else 'off (`--keepalive-timeout 0`)'} | {loaded:.0f} of 41 "
              f"| {conns:.0f} | {reqs:.0f} | {per_conn_text(recs)} | **{statistics.median(times):.0f} ms** "
              f"| {min(times):.0f} - {max(times):.0f} ms |")
    w("")
    w("## Speedup\n")
    w("| RTT | load time, keep-alive off | keep-alive on | keep-alive saves | off / on |")
    w("|---:|---:|---:|---:|---:|")
    for rtt in rtts:
        on, off = med(rtt, True), med(rtt, False)
        w(f"| {rtt} ms | {off:.0f} ms | {on:.0f} ms | {off - on:.0f} ms ({(off - on) / off * 100:.0f} %) "
          f"| {off / on:.2f} |")
    w("")
    lo = min(rtts)
    if len(rtts) > 1:
        w(f"The network's share: what the round-trip time added to the median load time, over "
          f"the {lo} ms runs (the browser's own work and loopback), in round trips:\n")
        w("| RTT | added, keep-alive on | added, keep-alive off |")
        w("|---:|---:|---:|")
        for rtt in rtts:
            if rtt == lo:
                continue
            add_on, add_off = med(rtt, True) - med(lo, True), med(rtt, False) - med(lo, False)
            w(f"| {rtt} ms | {add_on:.0f} ms ({add_on / rtt:.1f} RTT) | {add_off:.0f} ms "
              f"({add_off / rtt:.1f} RTT) |")
        w("")
    hi = max(rtts)
    on, off = med(hi, True), med(hi, False)
    on0, off0 = med(min(rtts), True), med(min(rtts), False)
    w(f"Beside the published figure: {PUBLISHED}. Here, at {hi} ms, keep-alive cuts this "
      f"page's load time by {(off - on) / off * 100:.0f} %. The set-ups differ: theirs had the "
      "clients, networks and pages of 1994; here chromium opens up to 6 connections per host in "
      "parallel, with keep-alive and without, which hides part of each handshake, and the load "
      "time includes the browser's own work (parsing, layout, scripts). At 0 ms the load time "
      "is that work plus what each connection costs on loopback, on a machine shared with "
      f"other jobs; there keep-alive {'on' if on0 < off0 else 'off'} was faster by "
      f"{abs(off0 - on0):.0f} ms.\n")
    unused = sum(r["unused_connections"] for recs in records.values() for r in recs)
    w("What the counts show: with keep-alive the browser opened its usual handful of "
      "connections and sent every request over them; with `--keepalive-timeout 0` kahttpd "
      "answered each request with `Connection: close` and the browser had to open a new "
      "connection, and pay a handshake, for every one of the 41 requests. A connection "
      "the browser opens and never uses (a speculative preconnect) would count as "
      "accepted without a request; the relay connects to kahttpd as soon as the browser "
      "connects, as a real network would, so it would show. "
      + (f"In these runs: {unused} such connection(s) in all." if unused else
         "None did in these runs.") + "\n")
    if tls_rtts:
        write_https(w, all_records, tls_rtts, tls_loads)
    w("## Every load\n")
    w("| RTT | keep-alive | load times (ms), in order | connections accepted |")
    w("|---:|---|---|---|")
    for (rtt, ka), recs in records.items():
        times = ", ".join("%.0f" % r["load_ms"] for r in recs)
        conns = ", ".join(str(r["accepted"]) for r in recs)
        w(f"| {rtt} ms | {'on' if ka else 'off'} | {times} | {conns} |")
    w("")
    w("## The page\n")
    w(f"![www/page/ as chromium rendered it, keep-alive on, RTT {hi} ms]({shot_name})\n")
    w("The table and the load-time line are filled in by the page's own scripts from the "
      "browser's Resource and Navigation Timing.\n")
    w("## Set-up\n")
    w(f"- {env['chromium']} (Debian package), headless, `--no-sandbox --disable-gpu "
      "--disable-background-networking --disable-component-update --no-first-run`, a new "
      "`--user-data-dir` per load, HTTP cache disabled through the DevTools protocol")
    w(f"- playwright-core {env['playwright']} (npm, no browser download), node {env['node']}")
    w(f"- {env['kahttpd']}, default options (`--workers` = {env['cpus']} CPUs), serving `www/`")
    if tls_rtts:
        w(f"- HTTPS: {env['openssl']} (`openssl req -x509 -newkey ec -pkeyopt "
          "ec_paramgen_curve:P-256`, subject alternative names `DNS:localhost,IP:127.0.0.1`), "
          "kahttpd's default TLS options (TLS 1.2 and 1.3, session tickets), chromium with "
          "`--ignore-certificate-errors`")
    w(f"- loopback only; load average {load_before:.1f} before and {load_after:.1f} after the runs "
      f"on {env['cpus']} CPUs")
    w("- reproduce: `make browser-report`; the same loads, one per configuration, run in "
      "`make test` (`tests/e2e/test_browser.py`)")
    Path(path).write_text("\n".join(out) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=str(pageload.REPO / "build" / "kahttpd"))
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--rtts", default="0,50", help="comma-separated RTTs in ms")
    ap.add_argument("--tls-loads", type=int, default=5, help="loads per HTTPS configuration")
    ap.add_argument("--tls-rtts", default="0,50", help="comma-separated RTTs in ms for HTTPS; empty: none")
    ap.add_argument("--out", default=str(pageload.REPO / "docs" / "browser.md"))
    args = ap.parse_args(argv)
    rtts = [int(x) for x in args.rtts.split(",")]
    tls_rtts = [int(x) for x in args.tls_rtts.split(",") if x.strip()]
    missing = pageload.missing_tools()
    if missing:
        sys.exit("browser-report: missing " + ", ".join(missing) + " (run make deps)")
    out = Path(args.out)
    shot = out.with_suffix(".png")
    env = environment(args.binary)
    load_before = os.getloadavg()[0]
    workroot = Path(tempfile.mkdtemp(prefix="kahttpd-browser-"))
    try:
        records = run(args.binary, args.loads, rtts, args.tls_loads, tls_rtts, workroot, shot)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    write_markdown(out, records, rtts, args.loads, tls_rtts, args.tls_loads, env, load_before,
                   os.getloadavg()[0], shot.name)
    print(f"wrote {out} and {shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
