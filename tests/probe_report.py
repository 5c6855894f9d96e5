#!/usr/bin/python3
"""
make probe-report: real kaprobe output for docs/kaprobe.md, never typed by hand.

Starts, on free ports, kahttpd, nginx (plain and over TLS, with a certificate made
here) and lighttpd, each with a short idle timeout and, where the server has one, TCP
keepalive 2:1:3, and a chain: nginx as a reverse proxy
keeping idle upstream connections 60 s, the delay relay (60 ms round trip) and kahttpd
with a 1 s idle timeout behind it. Runs build/kaprobe against each, and rewrites the
sections of docs/kaprobe.md between `<!-- probe-report:NAME -->` and
`<!-- /probe-report:NAME -->` with the commands and what they printed. Ports change
from run to run; everything else is what the programs said. Takes about two minutes.
Needs nginx and lighttpd (tests/deps.sh) and root for tcp_keepalive (CAP_NET_RAW).
"""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "e2e"))
import servers  # noqa: E402

REPO = servers.REPO
DOC = REPO / "docs" / "kaprobe.md"
KAPROBE = REPO / "build" / "kaprobe"
KAHTTPD = REPO / "build" / "kahttpd"


def run(*args, timeout=300, cwd=None):
    """`$ build/kaprobe ARGS` and its output, as a console would show them."""
    p = subprocess.run([str(KAPROBE), *map(str, args)], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout, cwd=cwd)
    shown = "$ build/kaprobe " + " ".join(map(str, args)) + "\n"
    out = p.stdout.decode() + p.stderr.decode()
    if p.returncode != 0:
        out += f"$ echo $?\n{p.returncode}\n"
    return shown + out


def block(*texts):
    return "```\n" + "".join(texts).rstrip("\n") + "\n```\n"


def make_cert(tmp):
    """cert.pem and key.pem in tmp: self-signed ECDSA P-256 for localhost and 127.0.0.1,
    as the TLS tests make theirs."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(tmp / "key.pem"),
                    "-out", str(tmp / "cert.pem"), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)


def rewrite(sections):
    text = DOC.read_text()
    for name, body in sections.items():
        pattern = re.compile(rf"(<!-- probe-report:{name} -->\n).*?(<!-- /probe-report:{name} -->)",
                             re.S)
        if not pattern.search(text):
            sys.exit(f"probe-report: docs/kaprobe.md has no section {name}")
        text = pattern.sub(lambda m: m.group(1) + body + m.group(2), text)
    DOC.write_text(text)


def main():
    started = []

    def keep(srv):
        started.append(srv)
        return srv

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = tmp / "www"
        root.mkdir()
        (root / "index.html").write_text("<p>kaprobe</p>\n")
        try:
            ka = keep(servers.Kahttpd(KAHTTPD, tmp, "--root", root, "--keepalive-timeout", 6,
                                      "--tcp-keepalive", "2:1:3"))
            ng = keep(servers.nginx(tmp, http="  keepalive_timeout 6s;\n",
                                    listen=" so_keepalive=2s:1:3",
                                    server=f"    root {root};\n"))
            lt = keep(servers.lighttpd(tmp, root, "server.max-keep-alive-idle = 3\n"))
            backend = keep(servers.Kahttpd(KAHTTPD, tmp, "--root", root, "--keepalive-timeout", 1,
                                           "--demo", name="backend"))
            relay = keep(servers.Relay(tmp, backend.port, 60))
            front = keep(servers.nginx_proxy(tmp, relay.port))
            make_cert(tmp)
            tls = keep(servers.nginx(tmp, name="nginx-tls", listen=" ssl", server=f"    root {root};\n",
                                     http=(f"  keepalive_timeout 2s 2;\n  keepalive_requests 7;\n"
                                           f"  ssl_certificate {tmp}/cert.pem;\n"
                                           f"  ssl_certificate_key {tmp}/key.pem;\n"
                                           f"  ssl_protocols TLSv1.2 TLSv1.3;\n"
                                           f"  ssl_session_tickets on;\n")))

            sections = {}
            url = ka.url("/index.html")
            sections["kahttpd"] = block(run(url))
            sections["kahttpd-json"] = block(run("--json", "--only",
                                                 "tcp_keepalive,close_race,advertised_vs_enforced,lingering",
                                                 url))
            sections["nginx"] = block(run(ng.url("/index.html")))
            sections["lighttpd"] = block(run(lt.url("/index.html")))
            # Shown rendered: the command's line dropped, its headings two levels down
            # so that they sit inside this section of the document.
            md = run("--markdown", "--only",
                     "keep_alive_header,idle_timeout,advertised_vs_enforced,lingering",
                     lt.url("/index.html")).split("\n", 1)[1]
            sections["markdown"] = re.sub(r"^(#+) ", r"\1## ", md, flags=re.M)
            sections["compare"] = block(run("compare", "--max-requests", 100, url,
                                            ng.url("/index.html"), lt.url("/index.html")))
            tls_url = f"https://localhost:{tls.port}/index.html"
            sections["nginx-tls"] = block(run("--cacert", "cert.pem", tls_url, cwd=tmp),
                                          run("--json", "--cacert", "cert.pem", tls_url, cwd=tmp),
                                          run(tls_url, cwd=tmp))
            sections["chain"] = block(run("chain", "--max-wait", 5, "--max-requests", 50,
                                          "--demonstrate", 10, front.url("/_demo/echo"),
                                          backend.url("/_demo/echo")),
                                      run("chain", "--max-wait", 5, "--max-requests", 50,
                                          "--demonstrate", 10, "--method", "GET",
                                          front.url("/_demo/echo"), backend.url("/_demo/echo")))
        finally:
            for srv in reversed(started):
                srv.stop()
    rewrite(sections)
    print(f"probe-report: rewrote {len(sections)} sections of {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    main()
