"""
Network links for the proxy race: one delay relay (tests/relay/relay.py) per backend
address given, all in one asyncio loop, each on a port of its own (port 0), printed in
the order given as "backend listening on 127.0.0.1:PORT". A relay holds every piece of
data, FIN and reset back RTT/2 in each direction, as a link between two hosts does; on
loopback the moment a backend's FIN leaves and the moment it arrives are one, which
would hide the race a real network has.

    links.py --rtt-ms 2 127.0.0.1:P 127.0.0.1:Q ...
"""
import argparse
import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "relay"))
from relay import Relay, parse_hostport  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rtt-ms", type=float, required=True)
    ap.add_argument("upstreams", nargs="+", type=parse_hostport)
    args = ap.parse_args()

    async def run():
        relays = []
        for up in args.upstreams:
            r = Relay(up, args.rtt_ms)
            host, port = await r.start("127.0.0.1", 0)
            relays.append(r)
            print(f"backend listening on 127.0.0.1:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        for r in relays:
            r.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
