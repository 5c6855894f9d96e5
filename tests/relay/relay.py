#!/usr/bin/python3
"""
A TCP relay that adds a round-trip time, for measuring what a network's latency does
to a client on loopback (tests/browser uses it to show what keep-alive saves a
browser).

For every connection accepted on --listen it opens one connection to --upstream, at
once, and copies bytes both ways. Each piece of data is held back before it is passed
on: RTT/2 in either direction (the one-way delay), and on a new connection nothing
goes through before one RTT has passed since the accept, the time a real client would
have spent on the TCP handshake. So a client that connects and sends at once has its
first byte reach the server 1.5 RTT after connect(), as over a real link.

The upstream connection is opened at the accept, not at the first byte: a connection
that a client opens and never uses (a browser's speculative preconnect) reaches the
server as it would over a real network. A FIN from either side is passed on after the
same delay as data (shutdown of the write side, so half-closed connections work); a
reset is passed on as a reset. There is no bandwidth limit and no loss.

    relay.py --listen 127.0.0.1:0 --upstream 127.0.0.1:8080 --rtt-ms 50

prints "relay: listening on HOST:PORT" once it accepts, and runs until SIGTERM or
SIGINT. It listens on loopback addresses only.
"""
import argparse
import asyncio
import ipaddress
import signal
import socket
import struct
import sys

CHUNK = 65536
QUEUE_CHUNKS = 64  # chunks held per direction before the relay stops reading that side
RESET = object()   # queued instead of data when a side reset its connection


def parse_hostport(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected HOST:PORT")
    host = host.strip("[]")
    return host, int(port)


def is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Relay:
    """The relay on an asyncio loop: start(), then the loop runs it; close() stops it.
    accepted counts the client connections taken."""

    def __init__(self, upstream, rtt_ms):
        self.upstream = upstream
        self.rtt = rtt_ms / 1000.0
        self.accepted = 0
        self.server = None
        self.tasks = set()

    async def start(self, host, port):
        self.server = await asyncio.start_server(self._client, host, port)
        return self.server.sockets[0].getsockname()[:2]

    def close(self):
        if self.server:
            self.server.close()
        for t in list(self.tasks):
            t.cancel()

    async def _client(self, down_r, down_w):
        loop = asyncio.get_running_loop()
        gate = loop.time() + self.rtt  # before this, nothing goes through: the handshake
        self.accepted += 1
        task = asyncio.current_task()
        self.tasks.add(task)
        try:
            try:
                up_r, up_w = await asyncio.open_connection(*self.upstream)
            except OSError:
                down_w.transport.abort()
                return
            for w in (down_w, up_w):
                sock = w.get_extra_info("socket")
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                await asyncio.gather(self._direction(down_r, up_w, gate),
                                     self._direction(up_r, down_w, gate))
            finally:
                for w in (down_w, up_w):
                    w.close()
        except (asyncio.CancelledError, OSError):
            pass
        finally:
            self.tasks.discard(task)

    async def _direction(self, reader, writer, gate):
        """Copies reader to writer, each piece due RTT/2 after it was read (and not
        before the gate plus RTT/2). Ends after passing on a FIN or a reset."""
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue(QUEUE_CHUNKS)
        deliverer = asyncio.ensure_future(self._deliver(queue, writer))
        try:
            while True:
                try:
                    data = await reader.read(CHUNK)
                except OSError:  # ECONNRESET mostly: pass it on as a reset
                    data = RESET
                due = max(loop.time(), gate) + self.rtt / 2
                await queue.put((due, data))
                if data is RESET or not data or deliverer.done():
                    break
            await deliverer
        finally:
            deliverer.cancel()

    async def _deliver(self, queue, writer):
        loop = asyncio.get_running_loop()
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                if data is RESET:
                    # A zero linger time makes the close a RST, as the other side sent.
                    sock = writer.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
            except OSError:
                return


def main(argv=None):
    ap = argparse.ArgumentParser(description="TCP relay that adds a round-trip time (loopback only)")
    ap.add_argument("--listen", type=parse_hostport, default=("127.0.0.1", 0),
                    help="HOST:PORT to listen on, a loopback address (default 127.0.0.1:0)")
    ap.add_argument("--upstream", type=parse_hostport, required=True, help="HOST:PORT to relay to")
    ap.add_argument("--rtt-ms", type=float, default=0.0, help="round-trip time to add, in ms")
    args = ap.parse_args(argv)
    if not is_loopback(args.listen[0]):
        ap.error(f"--listen {args.listen[0]}: only loopback addresses are allowed")
    if args.rtt_ms < 0:
        ap.error("--rtt-ms must not be negative")

    async def run():
        relay = Relay(args.upstream, args.rtt_ms)
        host, port = await relay.start(*args.listen)
        shown = f"[{host}]" if ":" in host else host
        print(f"relay: listening on {shown}:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        relay.close()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
