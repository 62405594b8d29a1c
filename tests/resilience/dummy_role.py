"""A role for the supervisor's tests, shaped like Kamailio: the leader binds a UDP port, then
forks ``CHILDREN`` workers that inherit the socket and answer every datagram with their PID.
Killing the leader alone leaves the workers holding the port.

``python dummy_role.py PORT CHILDREN [--stubborn]``: ``--stubborn`` workers ignore SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time


def main() -> int:
    port, children = int(sys.argv[1]), int(sys.argv[2])
    stubborn = "--stubborn" in sys.argv
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as e:
        print(f"ERROR: cannot bind UDP {port}: {e.strerror}", flush=True)
        return 1
    print(f"INFO: listening on UDP {port}", flush=True)
    for _ in range(children):
        if os.fork() == 0:
            if stubborn:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                _data, addr = sock.recvfrom(100)
                sock.sendto(str(os.getpid()).encode(), addr)
    print("WARNING: dummy role started", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
