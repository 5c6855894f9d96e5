"""
Real clients: curl must reuse one connection for several URLs.
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import STANDARD_FILES


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_reuses_one_connection_for_two_urls(server):
    srv = server()
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    p = subprocess.run(["curl", "-sS", "-v", "--noproxy", "*", "--max-time", "10",
                        srv.url("/a.txt"), srv.url("/b.txt")],
                       capture_output=True, timeout=20, env=env)
    log = p.stderr.decode(errors="replace")
    assert p.returncode == 0, log
    assert p.stdout == STANDARD_FILES["a.txt"] + STANDARD_FILES["b.txt"]
    connects = re.findall(r"^\* Connected to ", log, re.M)
    assert len(connects) == 1, f"curl opened {len(connects)} connections:\n{log}"
    assert re.search(r"Re-using existing connection", log), log
    assert "Connection #0" in log and "left intact" in log, log
