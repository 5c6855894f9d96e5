#!/usr/bin/python3
"""The reverse-proxy benchmark's figures (bench/proxy.sh's raw data): the medians, the
targets of the proxy and a section of RESULTS.md. bench/report.py imports it; run alone
it prints the summary.

The section stands between two HTML comments (BEGIN, END) so that a run of the proxy
benchmark alone (BENCH_SCENARIOS=proxy BENCH_IDLE="") replaces it, and its rows of the
Targets table, in an existing RESULTS.md and leaves the rest as the last full run wrote
it (splice).

usage: proxy_report.py DIR     DIR as bench/proxy.sh --out wrote it

DIR holds meta.txt (key=value), runs.tsv (proxy round ticks_before ticks_after
backend_accepts_before backend_requests_before backend_accepts_after
backend_requests_after kahttpd_connects_before kahttpd_reuses_before
kahttpd_connects_after kahttpd_reuses_after wrk_file; "-" where not kahttpd),
status.json (kahttpd's /status at the end), perf/proxy.NAME.tsv (perf_split.py) and
profile.txt (profile.sh --proxy).
"""
import json
import os
import re
import sys

from report import fmt, fmt_lat, med, parse_perf, parse_wrk, ratio

BEGIN = "<!-- section 9: written by bench/proxy_report.py from bench/proxy.sh's run -->"
END = "<!-- end of section 9 -->"
ROW = "| reverse proxy"      # its rows of the Targets table start so
MISS = "- **reverse proxy"   # and its lines of "Targets not met, and why"
ORDER = ["kahttpd", "nginx", "haproxy"]
LABEL = {"kahttpd": "kahttpd", "nginx": "nginx", "haproxy": "HAProxy"}
# (metric, other proxy or None, factor, kind, text): kind "le" kahttpd <= factor x other
# (or <= factor), "ge" kahttpd >= factor
TARGETS = [
    ("cpu", "nginx", 0.7, "le", "reverse proxy, keep-alive 13 B: CPU/proxied request <= 0.7 x nginx"),
    ("cpu", "haproxy", 0.9, "le",
     "reverse proxy, keep-alive 13 B: CPU/proxied request <= 0.9 x HAProxy"),
    ("reuse", None, 0.99, "ge", "reverse proxy: kahttpd's backend reuse ratio (/status) >= 99 %"),
]


def load(d):
    """The runs and their medians, or None when DIR holds no proxy run."""
    path = os.path.join(d, "runs.tsv")
    if not os.path.exists(path) or not os.path.getsize(path):
        return None
    meta = {}
    try:
        for line in open(os.path.join(d, "meta.txt")):
            k, _, v = line.rstrip("\n").partition("=")
            meta[k] = v
    except OSError:
        pass
    clk = float(meta.get("clk_tck", "100"))
    runs = {}
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        srv, rnd, t0, t1, a0, q0, a1, q1, c0, u0, c1, u1, wrk_file = f
        r = parse_wrk(wrk_file)
        r["round"] = int(rnd)
        r["ticks"] = int(t1) - int(t0)
        n = r["requests"]
        r["cpu"] = r["ticks"] / clk * 1e6 / n if n else float("nan")
        r["rps"] = n / r["seconds"] if n else float("nan")
        r["busy"] = 100 * r["ticks"] / clk / r["seconds"] if n else float("nan")
        # Each stub_status reading is a connection and a request of its own: the second
        # one is inside the interval.
        r["b_conns"] = int(a1) - int(a0) - 1
        r["b_reqs"] = int(q1) - int(q0) - 1
        r["b_reuse"] = 1 - r["b_conns"] / r["b_reqs"] if r["b_reqs"] > 0 else float("nan")
        if c0 != "-":
            r["connects"] = int(c1) - int(c0)
            r["reuses"] = int(u1) - int(u0)
            used = r["connects"] + r["reuses"]
            r["reuse"] = r["reuses"] / used if used else float("nan")
        runs.setdefault(srv, []).append(r)
    medians = {s: {k: med([r.get(k, float("nan")) for r in rs])
                   for k in ("rps", "p50", "p99", "cpu", "busy", "b_reuse")}
               for s, rs in runs.items()}
    status = None
    try:
        status = json.load(open(os.path.join(d, "status.json")))["upstreams"][0]
    except (OSError, ValueError, KeyError, IndexError):
        pass
    ka = runs.get("kahttpd", [])
    connects = sum(r.get("connects", 0) for r in ka)
    reuses = sum(r.get("reuses", 0) for r in ka)
    reuse = reuses / (connects + reuses) if connects + reuses else float("nan")
    if "kahttpd" in medians:
        medians["kahttpd"]["reuse"] = reuse
    split = {}
    for s in runs:
        shares = parse_perf(d, "proxy", s)
        cpu = medians[s]["cpu"]
        if shares and cpu == cpu:
            split[s] = {k: v / 100 * cpu for k, v in shares.items()}
    profile = None
    try:
        text = open(os.path.join(d, "profile.txt"), errors="replace").read()
        i = text.find("instructions per request")
        if i >= 0:
            profile = "\n".join(l for l in text[i:].splitlines() if not l.startswith("files:"))
    except OSError:
        pass
    return {"meta": meta, "runs": runs, "medians": medians, "status": status,
            "connects": connects, "reuses": reuses, "split": split,
            "profile": profile, "clk": clk}


def metric(p, srv, m):
    return p["medians"].get(srv, {}).get(m, float("nan"))


def targets(p):
    """One dict per target: text, mine, ref_text, ratio_text, met (True, False, None when
    not measured), why (for a miss)."""
    rows = []
    for m, other, factor, kind, text in TARGETS:
        if p is None:  # not in this run (BENCH_SCENARIOS)
            rows.append({"text": text, "mine": "n/a", "ref": "n/a", "ratio": "n/a",
                         "met": None, "why": ""})
            continue
        mine = metric(p, "kahttpd", m)
        if m == "reuse":
            r = mine
            mine_text = f"{fmt(100 * mine, 2)} %" if mine == mine else "n/a"
            ref_text, r_text = "99 %", "—"
        else:
            ref = metric(p, other, m)
            r = ratio(mine, ref)
            mine_text = f"{fmt(mine)} µs/req"
            ref_text = f"{LABEL[other]} {fmt(ref)} µs/req"
            r_text = f"{fmt(r, 3)} ×"
        met = None if r != r else (r <= factor if kind == "le" else r >= factor)
        why = ""
        if met is False and m == "cpu":
            need = factor * metric(p, other, m)
            why = (f"{fmt(r, 3)} ×, {fmt(mine - need)} µs per proxied request over the "
                   f"target; {compare(p, other)}")
            mine_sys, other_sys = syscall_time(p, "kahttpd"), syscall_time(p, other)
            if mine_sys is not None and other_sys is not None:
                why += (f". The system calls alone (perf: the sends with the loopback "
                        f"delivery they carry, the receives, epoll_wait) take "
                        f"{mine_sys:.2f} µs of kahttpd's {fmt(mine)} and {other_sys:.2f} of "
                        f"{LABEL[other]}'s {fmt(metric(p, other, m))}; the target leaves "
                        f"kahttpd {fmt(need)} µs in all")
        elif met is False:
            why = (f"{p['connects']:,} backend connections opened for {p['reuses']:,} "
                   f"reuses in the measured runs")
        rows.append({"text": text, "mine": mine_text, "ref": ref_text, "ratio": r_text,
                     "met": met, "why": why})
    return rows


# Proxies do the same work through different calls: grouped by what they do.
ROLES = {"sendmsg": "sending", "writev": "sending", "write": "sending", "sendto": "sending",
         "recvfrom": "receiving", "read": "receiving", "readv": "receiving",
         "recvmsg": "receiving", "epoll_wait": "epoll_wait (sleeping and being woken)",
         "epoll_ctl": "epoll_ctl"}


def syscall_time(p, srv):
    """µs per proxied request inside system calls (perf), or None without a profile."""
    d = p["split"].get(srv)
    if not d:
        return None
    return sum(v for k, v in d.items() if k not in ("user", "OpenSSL", "other kernel"))


def compare(p, other):
    """The groups of work where kahttpd spends most beyond OTHER (perf)."""
    a, b = p["split"].get("kahttpd"), p["split"].get(other)
    if not a or not b:
        return "no perf profile to compare"

    def grouped(d):
        g = {}
        for k, v in d.items():
            g[ROLES.get(k, k)] = g.get(ROLES.get(k, k), 0) + v
        return g
    a, b = grouped(a), grouped(b)
    diff = sorted(((a.get(k, 0) - b.get(k, 0), k) for k in set(a) | set(b)), reverse=True)
    parts = [f"{k} {a.get(k, 0):.2f} vs {b.get(k, 0):.2f} µs" for d, k in diff[:3] if d > 0.05]
    return ("kahttpd spends more than " + LABEL[other] + " in: " + "; ".join(parts)
            if parts else f"no category stands out against {LABEL[other]}")


def target_rows(p):
    """The Targets table's rows for the proxy, and the lines of "Targets not met"."""
    rows, misses = [], []
    for t in targets(p):
        met = {True: "**yes**", False: "no", None: "not measured"}[t["met"]]
        rows.append(f"| {t['text']} | {t['mine']} | {t['ref']} | {t['ratio']} | {met} |")
        if t["met"] is False:
            misses.append(f"- **{t['text']}**: {t['why']} (section 9).")
    return rows, misses


def section(p, number):
    """RESULTS.md's section on the reverse proxy, as a list of lines."""
    out = [BEGIN]
    w = out.append
    meta, runs = p["meta"], p["runs"]
    present = [s for s in ORDER if s in runs]
    pool = meta.get("pool", "?")
    pool_note = ""
    if pool != "?" and int(pool) >= int(meta.get("connections", "50")):
        pool_note = ("Not 32 (kahttpd's default, and usual in nginx configurations): at "
                     "moments more than 32 of wrk's connections are between two requests, "
                     "and a smaller pool closes the extra idle backend connections only to "
                     "open new ones a moment later, in every proxy (bench/README.md; "
                     "`bench/proxy.sh --pool 32` shows it). ")
    w(f"## {number}. Reverse proxy: client keep-alive through kahttpd, nginx and HAProxy "
      f"to one backend")
    w("")
    w(f"Run {meta.get('date', '?')}, kahttpd commit {meta.get('commit', '?')}.")
    w("")
    rows, misses = target_rows(p)
    w("| target | kahttpd | reference | ratio | met |")
    w("|---|---|---|---|---|")
    out.extend(rows)
    w("")
    if misses:
        # Here they are in section 9 already; and they must not start as in the
        # Targets table's list (MISS), which splice() replaces.
        out.extend("- Missed: " + m[2:].replace(" (section 9).", ".") for m in misses)
        w("")
    w(f"bench/proxy.sh: one backend, nginx ({meta.get('v_nginx', '?')}) serving the "
      f"13-byte file with keep-alive (`keepalive_timeout 60s; keepalive_requests 1000000;`), "
      f"its one worker on CPU 1 beside wrk; three proxies, one worker each on CPU 0, each "
      f"keeping at most {pool} idle backend connections: {meta.get('v_kahttpd', 'kahttpd')} "
      f"`--workers 1 --proxy /=http://BACKEND --upstream-keepalive {pool}`; "
      f"nginx `upstream {{ keepalive {pool}; keepalive_requests 1000000; }} proxy_http_version "
      f"1.1; proxy_set_header Connection \"\";`; {meta.get('v_haproxy', 'HAProxy')} "
      f"`mode http`, `http-reuse safe`, `nbthread 1`, `pool-max-conn {pool}`. "
      f"{pool_note}nginx and "
      f"HAProxy also add the fields kahttpd adds to every request (`Via`, "
      f"`X-Forwarded-For`, `-Proto`, `-Host`, `Host` passed through), so the backend gets "
      f"the same requests. `wrk -t1 -c{meta.get('connections', '50')} "
      f"-d{meta.get('duration', '?')}s` keep-alive through each proxy in turn, "
      f"{meta.get('rounds', '?')} round(s), the first proxy rotating; medians. CPU/proxied "
      f"request is the proxy's utime + stime / wrk's responses (the backend's CPU is not "
      f"counted). *Backend connections* and *backend reuse* come from the backend's "
      f"`stub_status` (accepted connections and requests during each run): the same "
      f"measure for every proxy. kahttpd's reuse ratio, the target, is its own "
      f"`/status` count: reuses / (connects + reuses) of its backend pool over the "
      f"measured runs. CPU time stolen by the hypervisor during these runs: "
      f"{meta.get('steal', '?')} % of wall time on the two CPUs.")
    w("")
    w("| proxy | requests/s | p50 | p99 | proxy CPU busy | CPU µs/proxied request | CPU range "
      "| vs nginx | vs HAProxy | backend connections opened | backend reuse |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in present:
        cpus = [r["cpu"] for r in runs[s]]
        conns = sum(r["b_conns"] for r in runs[s])
        w(f"| {LABEL[s]} | {fmt(metric(p, s, 'rps'))} | {fmt_lat(metric(p, s, 'p50'))} | "
          f"{fmt_lat(metric(p, s, 'p99'))} | {fmt(metric(p, s, 'busy'), 0)} % | "
          f"{fmt(metric(p, s, 'cpu'))} | {fmt(min(cpus))}–{fmt(max(cpus))} | "
          f"{fmt(ratio(metric(p, s, 'cpu'), metric(p, 'nginx', 'cpu')))} | "
          f"{fmt(ratio(metric(p, s, 'cpu'), metric(p, 'haproxy', 'cpu')))} | "
          f"{conns:,} | {fmt(100 * metric(p, s, 'b_reuse'), 3)} % |")
    w("")
    if "kahttpd" in runs:
        st = p["status"]
        line = (f"kahttpd's `/status` over the measured runs: {p['connects']:,} connects, "
                f"{p['reuses']:,} reuses, reuse ratio {fmt(100 * metric(p, 'kahttpd', 'reuse'), 3)} %")
        if st:
            line += (f"; at the end, since start (correctness check and warm-up included): "
                     f"`\"connects\": {st['connects']}, \"reuses\": {st['reuses']}, "
                     f"\"reuse_ratio\": {st['reuse_ratio']}`, {st.get('stale_failures', 0)} "
                     f"stale-connection failures, {st.get('retries', 0)} retries")
        w(line + ".")
        w("")
    if p["split"]:
        cats = {}
        for s in p["split"]:
            for k, v in p["split"][s].items():
                if k not in ("user", "other kernel"):
                    cats[k] = max(cats.get(k, 0), v)
        top = max(metric(p, s, "cpu") for s in p["split"])
        shown = [k for k, v in sorted(cats.items(), key=lambda kv: -kv[1]) if v >= 0.03 * top][:7]
        w("Where each proxy's CPU goes (perf `-e cpu-clock -g`, 2 s of an extra 3 s run, each "
          "share times the median CPU µs/proxied request; a system call's figure includes the "
          "loopback work it triggers), µs per proxied request:")
        w("")
        w("| proxy | CPU µs/req | user | " + " | ".join(shown) + " | other syscalls | other kernel |")
        w("|---|---:|---:|" + "---:|" * (len(shown) + 2))
        for s in present:
            d = p["split"].get(s)
            if not d:
                continue
            rest = sum(v for k, v in d.items() if k not in shown and k not in ("user", "other kernel"))
            w(f"| {LABEL[s]} | {fmt(metric(p, s, 'cpu'))} | {d.get('user', 0):.2f} | " +
              " | ".join(f"{d.get(k, 0):.2f}" for k in shown) +
              f" | {rest:.2f} | {d.get('other kernel', 0):.2f} |")
        w("")
    if p["profile"]:
        w("kahttpd's proxy path instruction by instruction (bench/profile.sh --proxy: an exact "
          "number of keep-alive requests through kahttpd to the same backend under "
          "`valgrind --tool=callgrind` and `strace -c -f`, minus a baseline run, per proxied "
          "request; each request is a client recv and send plus a backend send and recv):")
        w("")
        w("```")
        w(p["profile"].strip())
        w("```")
        w("")
    w("Every run:")
    w("")
    w("| proxy | round | requests | requests/s | p50 | p99 | CPU ticks | CPU µs/request | "
      "backend connections | backend requests |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in present:
        for r in sorted(runs[s], key=lambda r: r["round"]):
            w(f"| {LABEL[s]} | {r['round']} | {r['requests']:,} | {fmt(r['rps'])} | "
              f"{fmt_lat(r['p50'])} | {fmt_lat(r['p99'])} | {r['ticks']} | {fmt(r['cpu'])} | "
              f"{r['b_conns']:,} | {r['b_reqs']:,} |")
    w("")
    warn = warnings(p)
    if warn:
        w("Warnings:")
        w("")
        out.extend(f"- {x}" for x in warn)
        w("")
    w(END)
    w("")
    return out


def splice(text, p):
    """TEXT (an existing RESULTS.md) with section 9 and the proxy's target rows and
    misses replaced by this run's, everything else kept."""
    lines = text.split("\n")
    rows, misses = target_rows(p)
    if BEGIN in lines and END in lines:
        i, j = lines.index(BEGIN), lines.index(END)
        del lines[i:j + 2 if j + 1 < len(lines) and not lines[j + 1] else j + 1]
        at = i
    else:
        # Before the sections that close the file, or at its end.
        at = next((k for k, l in enumerate(lines)
                   if re.match(r"## (Where the CPU goes|kahttpd, instruction|Warnings|Every run)", l)),
                  len(lines))
    section_lines = section(p, 9)
    lines[at:at] = section_lines

    def after_table(ls, k):  # the first line after the table that follows line k
        while k < len(ls) and not ls[k].startswith("|"):
            k += 1
        while k < len(ls) and ls[k].startswith("|"):
            k += 1
        return k
    # The Targets table and its misses come before the section.
    head = lines[:at]
    tail = lines[at:]
    old_rows = [k for k, l in enumerate(head) if l.startswith(ROW)]
    if old_rows:
        head[old_rows[0]:old_rows[-1] + 1] = rows
    elif "## Targets" in head:
        k = after_table(head, head.index("## Targets") + 1)
        head[k:k] = rows
    head = [l for l in head if not l.startswith(MISS)]
    if misses:
        if "### Targets not met, and why" in head:
            k = head.index("### Targets not met, and why") + 2
            while k < len(head) and head[k].startswith("- "):
                k += 1
            head[k:k] = misses
        elif "## Targets" in head:
            k = after_table(head, head.index("## Targets") + 1)
            head[k:k] = ["", "### Targets not met, and why", ""] + misses
    return "\n".join(head + tail)


def warnings(p):
    out = []
    for s, rs in sorted(p["runs"].items()):
        for r in rs:
            if r["errors"] or r["non2xx"]:
                out.append(f"proxy, {s}, round {r['round']}: {r['errors']} socket errors, "
                           f"{r['non2xx']} non-2xx responses")
            if not r["requests"]:
                out.append(f"proxy, {s}, round {r['round']}: no requests counted")
            # wrk's count and the backend's differ by the requests in flight at the end
            # (at most one per connection) and by any that failed.
            if r["requests"] and abs(r["b_reqs"] - r["requests"]) > 2 * 50:
                out.append(f"proxy, {s}, round {r['round']}: wrk counted {r['requests']:,} "
                           f"responses, the backend {r['b_reqs']:,} requests")
    return out


def summary(p):
    lines = ["proxy: medians (CPU µs/proxied request, requests/s)"]
    lines.append("  reverse proxy        " + " | ".join(f"{LABEL[s]} {fmt(metric(p, s, 'cpu'))} µs "
                                   f"{fmt(metric(p, s, 'rps'))}/s"
                                   for s in ORDER if s in p["runs"]))
    for t in targets(p):
        if t["met"] is None:
            continue
        lines.append(f"  {'MET ' if t['met'] else 'MISS'} {t['text']}: kahttpd {t['mine']}, "
                     f"ratio {t['ratio']}")
    lines += ["  warning: " + x for x in warnings(p)]
    return lines


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: proxy_report.py DIR")
    p = load(sys.argv[1])
    if p is None:
        sys.exit(f"proxy_report: no runs in {sys.argv[1]}")
    print("\n".join(summary(p)))


if __name__ == "__main__":
    main()
