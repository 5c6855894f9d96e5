"""
Installing: make install / make uninstall into a scratch DESTDIR, the man pages (their
option lists against --help, rendered by man -l without a groff warning), the example
config and the systemd units, and make deb installed with dpkg into a scratch root,
whose installed kahttpd must start and serve.

The installed files are built from build/ (make install builds it); the option lists
are compared with $KAHTTPD's --help, which comes from the same option table.
"""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import GET, READY_RE, REPO, START_TIMEOUT, STOP_TIMEOUT, STANDARD_FILES, Conn
from optdoc import help_sections, run_help
from waiting import stop_process

MAKE_TIMEOUT = 300  # make builds what is missing first


def make(*args):
    # A make of its own, not a sub-make of `make test` (whose job server it would share).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    p = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *args], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=MAKE_TIMEOUT)
    assert p.returncode == 0, f"make {' '.join(args)} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


EXPECTED = ["usr/local/bin/kaprobe", "usr/local/etc/kahttpd/kahttpd.conf",
            "usr/local/lib/systemd/system/kahttpd.service",
            "usr/local/lib/systemd/system/kahttpd.socket", "usr/local/sbin/kahttpd",
            "usr/local/share/doc/kahttpd/examples/kahttpd.conf",
            "usr/local/share/man/man1/kaprobe.1", "usr/local/share/man/man8/kahttpd.8"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    make("install", f"DESTDIR={dest}")
    return dest


def start_installed(binary, *args):
    """Starts an installed kahttpd on port 0; (process, (host, port))."""
    proc = subprocess.Popen([str(binary), "--listen", "127.0.0.1:0", "--workers", "1", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + START_TIMEOUT
    for line in iter(proc.stdout.readline, b""):
        m = READY_RE.match(line)
        if m:
            return proc, (m.group(2).decode(), int(m.group(3)))
        assert time.monotonic() < deadline, "no ready line in time"
    stop_process(proc, STOP_TIMEOUT)
    pytest.fail(f"{binary} exited before its ready line: {proc.stderr.read()[-2000:]!r}")


def serve_and_stop(binary, www):
    proc, addr = start_installed(binary, "--root", str(www.path))
    try:
        c = Conn(addr)
        c.send(GET("/a.txt"))
        r = c.read_response()
        c.close()
        assert (r.status, r.body) == (200, STANDARD_FILES["a.txt"])
    finally:
        assert stop_process(proc, STOP_TIMEOUT) == 0


# ---- make install / uninstall -----------------------------------------------------------

def test_install_puts_binaries_man_pages_config_and_units_under_prefix(installed):
    assert tree(installed) == EXPECTED
    assert os.access(installed / "usr/local/sbin/kahttpd", os.X_OK)
    assert os.access(installed / "usr/local/bin/kaprobe", os.X_OK)


def test_install_prefix_and_units_name_the_installed_paths(tmp_path):
    make("install", f"DESTDIR={tmp_path}", "PREFIX=/opt/ka")
    files = tree(tmp_path)
    assert "opt/ka/sbin/kahttpd" in files and "opt/ka/share/man/man8/kahttpd.8" in files, files
    unit = (tmp_path / "opt/ka/lib/systemd/system/kahttpd.service").read_text()
    assert "ExecStart=/opt/ka/sbin/kahttpd --config /opt/ka/etc/kahttpd/kahttpd.conf" in unit


def test_installed_kahttpd_serves(installed, www):
    serve_and_stop(installed / "usr/local/sbin/kahttpd", www)


def test_uninstall_removes_what_install_put_there(tmp_path):
    make("install", f"DESTDIR={tmp_path}")
    make("uninstall", f"DESTDIR={tmp_path}")
    assert tree(tmp_path) == []


def test_install_keeps_an_edited_config_and_uninstall_too(tmp_path):
    conf = tmp_path / "usr/local/etc/kahttpd/kahttpd.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("keepalive-timeout = 5\n")
    make("install", f"DESTDIR={tmp_path}")
    assert conf.read_text() == "keepalive-timeout = 5\n"
    make("uninstall", f"DESTDIR={tmp_path}")
    assert tree(tmp_path) == ["usr/local/etc/kahttpd/kahttpd.conf"]


# ---- man pages --------------------------------------------------------------------------

def roff_options(page):
    """{"--name": (ARG, default)} from a page written by packaging/manpage.py: a .TP,
    the tag line, the text, and a "Default: X." line."""
    def plain(s):
        s = re.sub(r"\\f[BIRP]", "", s)
        return s.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\")
    lines = page.splitlines()
    lines = lines[lines.index(".SH OPTIONS"):]
    lines = lines[:next(i for i, line in enumerate(lines) if i and line.startswith(".SH "))]
    out = {}
    for i, line in enumerate(lines):
        if line != ".TP":
            continue
        name, _, arg = plain(lines[i + 1]).partition(" ")
        default = ""
        for text in lines[i + 2:]:
            if text.startswith("."):
                break
            if text.startswith("Default: "):
                default = plain(text)[len("Default: "):-1]
        out[name] = (arg, default)
    return out


@pytest.mark.parametrize("page,program", [("share/man/man8/kahttpd.8", "kahttpd"),
                                          ("share/man/man1/kaprobe.1", "kaprobe")])
def test_man_page_lists_every_help_option_with_its_default(installed, page, program):
    binary = os.environ["KAHTTPD"] if program == "kahttpd" and "KAHTTPD" in os.environ else None
    binary = binary or str(installed / ("usr/local/sbin/kahttpd" if program == "kahttpd"
                                        else "usr/local/bin/kaprobe"))
    want = {}
    for opts in help_sections(run_help(binary)).values():
        want.update(opts)
    have = roff_options((installed / "usr/local" / page).read_text())
    assert have == want


@pytest.mark.parametrize("page,option", [("share/man/man8/kahttpd.8", "--keepalive-timeout"),
                                         ("share/man/man1/kaprobe.1", "--max-wait")])
def test_man_page_renders_without_groff_warnings(installed, page, option):
    if not shutil.which("man") or not shutil.which("groff"):
        pytest.fail("man and groff are needed (tests/deps.sh installs man-db and groff)")
    path = installed / "usr/local" / page
    env = dict(os.environ, MANROFFOPT="-ww", MANWIDTH="80", LC_ALL="C.UTF-8")
    p = subprocess.run(["man", "-l", str(path)], env=env, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert "OPTIONS" in p.stdout and option in p.stdout.replace("‐", "-")
    g = subprocess.run(["groff", "-ww", "-man", "-Tutf8", "-z", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert g.returncode == 0 and g.stderr == "", g.stderr


# ---- the example config and the systemd units -------------------------------------------

def test_example_config_loads_and_serves(server):
    srv = server("--config", REPO / "packaging" / "kahttpd.conf", "--admin", "127.0.0.1:0")
    r = srv.exchange(GET("/a.txt"))
    assert (r.status, r.body) == (200, STANDARD_FILES["a.txt"])


def test_example_config_every_commented_option_is_valid(server, tmp_path):
    # The commented-out lines are examples too: uncommented, each must still load
    # (but those that need files or a system: TLS files, the log and pid file's
    # directories, a user to become).
    lines = []
    for line in (REPO / "packaging" / "kahttpd.conf").read_text().splitlines():
        m = re.fullmatch(r"#([a-z-]+ = .*)", line)
        if m and not m.group(1).startswith(("tls-", "access-log", "listen", "pid-file", "user")):
            lines.append(m.group(1))
    assert lines, "no commented example option found"
    conf = tmp_path / "all.conf"
    conf.write_text((REPO / "packaging" / "kahttpd.conf").read_text() + "\n".join(lines) + "\n")
    srv = server("--config", conf, "--admin", "127.0.0.1:0")
    assert srv.exchange(GET("/a.txt")).status == 200


def test_systemd_units_verify_clean(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze is needed (tests/deps.sh installs systemd)")
    # As installed, but naming this build's binary, which exists here.
    binary = os.path.abspath(os.environ.get("KAHTTPD") or REPO / "build" / "kahttpd")
    for name in ("kahttpd.service", "kahttpd.socket"):
        text = (REPO / "packaging" / name).read_text().replace("/usr/sbin/kahttpd", binary)
        (tmp_path / name).write_text(text)
    p = subprocess.run(["systemd-analyze", "verify", "--man=no",
                        str(tmp_path / "kahttpd.service"), str(tmp_path / "kahttpd.socket")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr


def syscall_group(group, cache={}):
    """The system calls in a systemd-analyze syscall-filter group, nested ones included."""
    if group not in cache:
        out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True,
                             text=True, check=True, timeout=60).stdout
        calls = set()
        for line in out.splitlines():
            if line.startswith("    ") and line.strip() and not line.strip().startswith("#"):
                word = line.split()[0]
                calls |= syscall_group(word) if word.startswith("@") else {word}
        cache[group] = frozenset(calls)
    return cache[group]


def test_service_sandbox_allows_every_call_kahttpd_makes(tmp_path, www):
    """kahttpd.service's SystemCallFilter and RestrictAddressFamilies, against the calls
    the packaged binary (build/kahttpd) makes under strace: start, requests on the
    public and admin listeners (/connections reads sock_diag over netlink), a reload,
    an upgrade (execve) and a drain."""
    for tool in ("strace", "systemd-analyze"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is needed (tests/deps.sh installs it)")
    unit = (REPO / "packaging" / "kahttpd.service").read_text()
    filters = re.findall(r"^SystemCallFilter=(.*)$", unit, re.M)
    allowed = set()
    for f in filters:
        groups = f.lstrip("~").split()
        calls = set().union(*(syscall_group(g) if g.startswith("@") else {g} for g in groups))
        allowed = allowed - calls if f.startswith("~") else allowed | calls
    families = set(re.search(r"^RestrictAddressFamilies=(.*)$", unit, re.M).group(1).split())

    conf = tmp_path / "k.conf"
    conf.write_text("keepalive-timeout = 5\n")
    pidfile, trace = tmp_path / "k.pid", tmp_path / "trace"
    proc = subprocess.Popen(["strace", "-f", "-qq", "-o", str(trace), str(REPO / "build" / "kahttpd"),
                             "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "2",
                             "--root", str(www.path), "--config", str(conf), "--pid-file",
                             str(pidfile), "--access-log", str(tmp_path / "access.log")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ports = []
        while len(ports) < 2:
            line = proc.stdout.readline().decode()
            assert line, proc.stderr.read()[-2000:]
            m = re.search(r"(?:listening on|admin on) http://127\.0\.0\.1:(\d+)", line)
            if m:
                ports.append(int(m.group(1)))

        def get(port, path):
            c = Conn(("127.0.0.1", port))
            c.send(GET(path))
            r = c.read_response()
            c.close()
            return r.status

        assert get(ports[0], "/a.txt") == 200
        for path in ("/connections", "/status", "/metrics", "/healthz"):
            assert get(ports[1], path) == 200, path
        old = int(pidfile.read_text())
        os.kill(old, signal.SIGHUP)
        assert get(ports[0], "/a.txt") == 200
        os.kill(old, signal.SIGUSR2)
        deadline = time.monotonic() + START_TIMEOUT
        while pidfile.read_text().strip() in ("", str(old)) if pidfile.exists() else True:
            assert time.monotonic() < deadline, "no new process after SIGUSR2"
            time.sleep(0.05)
        new = int(pidfile.read_text())
        assert get(ports[0], "/a.txt") == 200 and get(ports[1], "/connections") == 200
        os.kill(new, signal.SIGTERM)
        proc.wait(STOP_TIMEOUT * 3)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = trace.read_text()
    used = set(re.findall(r"^\d+ +([a-z_0-9]+)\(", text, re.M))
    assert "execve" in used and "socket" in used, sorted(used)
    assert not used - allowed, f"calls outside the unit's SystemCallFilter: {sorted(used - allowed)}"
    used_families = set(re.findall(r"socket\((AF_[A-Z0-9]+)", text))
    assert used_families and not used_families - families, (used_families, families)


def test_service_limit_nofile_matches_max_connections():
    unit = (REPO / "packaging" / "kahttpd.service").read_text()
    conf = (REPO / "packaging" / "kahttpd.conf").read_text()
    limit = int(re.search(r"^LimitNOFILE=(\d+)$", unit, re.M).group(1))
    maxconn = int(re.search(r"^max-connections = (\d+)$", conf, re.M).group(1))
    assert limit == maxconn + 256
    for line in ("Type=notify", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "DynamicUser=yes", "RuntimeDirectory=kahttpd",
                 "ExecStart=/usr/sbin/kahttpd --config /etc/kahttpd/kahttpd.conf "
                 "--pid-file /run/kahttpd/kahttpd.pid"):
        assert line in unit.splitlines(), line


# ---- make deb ---------------------------------------------------------------------------

def test_deb_installs_in_a_scratch_root_and_serves(tmp_path, www):
    for tool in ("dpkg-deb", "lintian"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is needed (tests/deps.sh installs it)")
    out = make("deb").stdout  # lintian --fail-on error runs inside
    deb = re.search(r"make deb: (\S+\.deb)", out).group(1)
    root = tmp_path / "root"
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates"):
        (root / d).mkdir(parents=True)
    (root / "var/lib/dpkg/status").touch()
    # libc6 and libssl3 are the host's: the scratch root holds only this package.
    p = subprocess.run(["dpkg", f"--root={root}", "--force-depends", "-i", str(REPO / deb)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    listed = subprocess.run(["dpkg", f"--root={root}", "-L", "kahttpd"], capture_output=True,
                            text=True, check=True).stdout.split()
    for f in ("/usr/sbin/kahttpd", "/usr/bin/kaprobe", "/usr/share/man/man8/kahttpd.8.gz",
              "/lib/systemd/system/kahttpd.service", "/etc/kahttpd/kahttpd.conf"):
        assert f in listed, listed
    depends = subprocess.run(["dpkg-deb", "-f", str(REPO / deb), "Depends"],
                             capture_output=True, text=True, check=True).stdout
    assert "libssl3" in depends and "libc6" in depends, depends
    conffiles = subprocess.run(["dpkg-deb", "-I", str(REPO / deb), "conffiles"],
                               capture_output=True, text=True, check=True).stdout
    assert conffiles.split() == ["/etc/kahttpd/kahttpd.conf"], conffiles

    # apt resolves its dependencies on this Debian (simulated: nothing is installed).
    p = subprocess.run(["apt-get", "install", "-s", str(REPO / deb)], capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, LC_ALL="C"))
    assert p.returncode == 0 and "Inst kahttpd" in p.stdout, p.stdout[-2000:] + p.stderr

    serve_and_stop(root / "usr/sbin/kahttpd", www)
    # The installed config loads with the installed binary.
    proc, addr = start_installed(root / "usr/sbin/kahttpd", "--config",
                                 str(root / "etc/kahttpd/kahttpd.conf"), "--root",
                                 str(www.path), "--admin", "127.0.0.1:0")
    assert stop_process(proc, STOP_TIMEOUT) == 0

    p = subprocess.run(["dpkg", f"--root={root}", "--purge", "kahttpd"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert tree(root / "usr") == [] and not (root / "etc/kahttpd").exists()
