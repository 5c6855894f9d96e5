#!/usr/bin/python3
"""Splits a server's perf samples (perf record -g) into where its CPU time went: its own
code ("user"), OpenSSL's ("OpenSSL": user-space samples whose innermost frame is in
libcrypto or libssl: the TLS handshake's signature and key exchange, the record
encryption), each system call by name (the whole kernel path under it, the loopback
softirq work it triggered included), and "other kernel" (interrupts, page faults,
scheduling outside system calls).

usage: perf_split.py PERF_DATA    prints "category<TAB>samples" lines, largest first

A system call is named after the frame just inside the kernel's do_syscall_64 (the
__x64_sys_*, ksys_*, do_* function the kernel built for it, which differs by call and
kernel build), or after the libc wrapper when the sample caught the entry itself.
"""
import re
import subprocess
import sys

DSO = re.compile(r"^(.*?)\s*\(([^()]*)\)$")
OPENSSL = re.compile(r"/lib(?:crypto|ssl)\.so")
KERNEL_ENTRY = re.compile(r"^(?:__x64_sys_|__se_sys_|__do_sys_|__sys_|ksys_|do_)")
PREFIXES = re.compile(r"^(?:__x64_sys_|__se_sys_|__do_sys_|__sys_|ksys_|do_|__GI___|__libc_|libc_|_+)")
# libc wrapper names that differ from the kernel's name for the same call
ALIAS = {"pread": "pread64", "pwrite": "pwrite64", "recv": "recvfrom", "send": "sendto",
         "open": "openat", "open64": "openat", "fstatat64": "newfstatat", "fstat": "newfstat",
         "fstat64": "newfstat", "sendfile": "sendfile64", "accept": "accept4"}


def syscall_name(symbol):
    name = symbol.split("+")[0]
    while PREFIXES.match(name) and PREFIXES.sub("", name, count=1):
        name = PREFIXES.sub("", name, count=1)
    return ALIAS.get(name, name)


def main():
    script = subprocess.run(["perf", "script", "-i", sys.argv[1], "-F", "ip,sym,dso"],
                            capture_output=True, text=True, errors="replace", check=True)
    counts = {}
    frames = []  # (is_kernel, symbol), leaf first
    leaf_dso = []  # the innermost frame's object file

    def flush():
        if not frames:
            return
        if not any(k for k, _ in frames):
            cat = "OpenSSL" if leaf_dso and OPENSSL.search(leaf_dso[0]) else "user"
        else:
            cat = "other kernel"
            for i, (_, sym) in enumerate(frames):
                if sym == "do_syscall_64":
                    j = i - 1  # inward, past a dispatcher (x64_sys_call, newer kernels)
                    while j >= 0 and frames[j][1] == "x64_sys_call":
                        j -= 1
                    inner = frames[j] if j >= 0 else None
                    # the first user frame below the entry: the libc wrapper
                    outer = next((f for f in frames[i + 1:] if not f[0]), None)
                    if inner and KERNEL_ENTRY.match(inner[1]):
                        cat = syscall_name(inner[1])
                    elif outer and outer[1] != "[unknown]":
                        cat = syscall_name(outer[1])  # caught on entry or exit
                    else:
                        cat = "unknown syscall"
                    break
        counts[cat] = counts.get(cat, 0) + 1
        frames.clear()
        leaf_dso.clear()

    for line in script.stdout.splitlines():
        t = line.split(None, 1)
        if not t:
            flush()
            continue
        addr, sym = t[0], (t[1].strip() if len(t) > 1 else "[unknown]")
        m = DSO.match(sym)
        if m:
            sym = m.group(1) or "[unknown]"
            if not frames:
                leaf_dso.append(m.group(2))
        frames.append((addr.startswith("ffffffff"), sym))
    flush()
    for cat, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{cat}\t{n}")


if __name__ == "__main__":
    main()
