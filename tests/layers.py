#!/usr/bin/python3
"""The server's layering, checked on the built objects (nm): handlers call down into
the connection and output code, never the other way round. Every object of
build/obj/server is a node, an edge goes from the object that uses a symbol to the one
that defines it, and no group of objects that call each other in a circle may hold a
handler (admin, demo, static_file, handlers, proxy: a handler's own files count as
one node). Exits 1 naming the circle otherwise.

    tests/layers.py [BUILD_DIR]    (default build)
"""
import glob
import os
import subprocess
import sys

HANDLERS = {"admin.o", "demo.o", "static_file.o", "handlers.o", "proxy.o"}
# A handler in several files is one node: its files may call each other (proxy.c,
# proxy_response.c, proxy_fields.c and proxy_pools.c are the proxy).
PARTS = {"proxy_": "proxy.o"}


def node(name):
    """The graph node of an object file: its handler's, for a handler's other files."""
    for prefix, whole in PARTS.items():
        if name.startswith(prefix):
            return whole
    return name


def graph(build):
    defined, used = {}, {}
    for path in sorted(glob.glob(os.path.join(build, "obj", "server", "*.o"))):
        name = node(os.path.basename(path))
        used.setdefault(name, set())
        for line in subprocess.run(["nm", path], capture_output=True, text=True,
                                   check=True).stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDRB":
                defined[parts[2]] = name
            elif len(parts) == 2 and parts[0] == "U":
                used[name].add(parts[1])
    return {n: {defined[s] for s in syms if defined.get(s, n) != n} for n, syms in used.items()}


def circles(g):
    """Strongly connected groups of more than one object (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(group)

    for v in g:
        if v not in index:
            visit(v)
    return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    g = graph(build)
    if not g:
        print(f"layers: no objects under {build}/obj/server: build first", file=sys.stderr)
        return 1
    bad = [c for c in circles(g) if c & HANDLERS]
    for c in bad:
        print("layers: a handler calls in a circle: " + " <-> ".join(sorted(c)))
    if not bad:
        print(f"layers: {len(g)} objects, no handler in a call cycle")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
