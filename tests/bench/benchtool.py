#!/usr/bin/env python3
"""benchtool.py - the small HTTP clients of tests/bench/run.sh (stdlib only).

  benchtool.py ready  --port P --path /ready --release FIFO [--pid PID] [--timeout S]
      Write one line to FIFO (the harness's start gate: the server is exec'ed
      when that line arrives), then poll GET PATH every 0.5 ms and print the
      CLOCK_REALTIME (seconds, ns precision) of the first 200 answer.
  benchtool.py idle   --port P --path /health -n N [--sources K]
      Open N connections, send one keep-alive GET on each and read its answer
      (in batches, so the listen backlog never overflows), then print
      "opened N ok K open M" (M: still open on the server's side after 0.5 s)
      and hold every connection until SIGTERM.  With --sources K the
      connections come from 127.0.0.1 ... 127.0.0.K in turn (one address
      has some 28,000 ephemeral ports).
  benchtool.py attack --port P [--slowloris N] [--slow-readers N] [--malformed R]
      Until SIGTERM: N slowloris connections that send the start of a head
      and then one byte a second each; N slow readers that pipeline GET /
      as fast as the connection takes them and read one byte a second (small
      receive buffers); R malformed requests a second, each on a new
      connection.  A connection the server closes is opened again, so the
      attack keeps its size.  Then prints "slowloris N readers N malformed N
      reopened N".
  benchtool.py scrape --port P --path /metrics --rate R
      GET PATH R times per second on one keep-alive connection (as a
      Prometheus server does) until SIGTERM, then print "scrapes N errors E".
  benchtool.py reqs   --port P --path /health -n N
      N keep-alive GETs, one after the other on one connection; prints
      "requests N ok K".

All on 127.0.0.1.  Exit status 1 when something did not work.
"""
import argparse
import os
import signal
import socket
import sys
import time

HOST = "127.0.0.1"


def request(path, close=False):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: benchtool\r\n%s\r\n" %
            (path, HOST, "Connection: close\r\n" if close else "")).encode()


def read_response(sock, buf=b""):
    """Read one response (Content-Length framed) from sock.  Returns
    (status, keep_alive, leftover bytes); status 0 if the peer closed first."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return 0, False, b""
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return 0, False, b""
    length, keep = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return 0, False, b""
        rest += chunk
    return status, keep, rest[length:]


def get_status(port, path, timeout=1.0):
    """One GET on a new connection: its status, or 0 if it failed."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(request(path, close=True))
            return read_response(s)[0]
    except OSError:
        return 0


def cmd_ready(a):
    with open(a.release, "w") as gate:	# blocks until the start gate reads
        gate.write("go\n")
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        if get_status(a.port, a.path) == 200:
            print("%.6f" % (time.time_ns() / 1e9))
            return 0
        if a.pid:
            try:
                os.kill(a.pid, 0)
            except OSError:
                print("ready: process %d exited" % a.pid, file=sys.stderr)
                return 1
        time.sleep(0.0005)
    print("ready: no 200 on %s within %g s" % (a.path, a.timeout), file=sys.stderr)
    return 1


stop = False


def on_term(signum, frame):
    global stop
    stop = True


IP_BIND_ADDRESS_NO_PORT = 24	# <linux/in.h>; not in every Python's socket module


def connect_from(src, port):
    """A connection to HOST:port from address src.  The port is chosen at
    connect(), not at bind(): bind() alone must pick a port no socket on
    src holds, TIME_WAIT ones included, and runs out after one round of
    50,000 idle connections; connect() needs only the four-tuple to be
    free, and may reuse a loopback TIME_WAIT one."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((src, 0))
        s.settimeout(10)
        s.connect((HOST, port))
    except OSError:
        s.close()
        raise
    return s


def cmd_idle(a):
    req = request(a.path)
    conns, ok = [], 0
    batch = 100
    for first in range(0, a.n, batch):
        group = []
        for i in range(min(batch, a.n - first)):
            src = "127.0.0.%d" % (1 + (first + i) % a.sources)
            s = connect_from(src, a.port)
            s.sendall(req)
            group.append(s)
        for s in group:
            try:
                status, _, _ = read_response(s)
            except OSError:
                status = 0
            ok += status == 200
        conns += group
    time.sleep(0.5)
    still = 0
    for s in conns:		# closed by the server: EOF is readable
        s.setblocking(False)
        try:
            still += s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            still += 1		# nothing to read: still open
        except OSError:
            pass
    print("opened %d ok %d open %d" % (len(conns), ok, still), flush=True)
    signal.signal(signal.SIGTERM, on_term)
    while not stop:
        time.sleep(0.05)
    for s in conns:
        s.close()
    return 0 if ok == a.n else 1


def cmd_scrape(a):
    signal.signal(signal.SIGTERM, on_term)
    req = request(a.path)
    n = errors = 0
    sock, buf = None, b""
    period = 1.0 / a.rate
    t = time.monotonic()
    while not stop:
        try:
            if sock is None:
                sock = socket.create_connection((HOST, a.port), timeout=5)
                buf = b""
            sock.sendall(req)
            status, keep, buf = read_response(sock, buf)
            if status == 200:
                n += 1
            else:
                errors += 1
            if not keep or status == 0:
                sock.close()
                sock = None
        except OSError:
            if stop:
                break
            errors += 1
            if sock:
                sock.close()
            sock = None
        t += period
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print("scrapes %d errors %d" % (n, errors), flush=True)
    return 0 if errors == 0 and n > 0 else 1


def cmd_reqs(a):
    req = request(a.path)
    ok = 0
    buf = b""
    with socket.create_connection((HOST, a.port), timeout=60) as s:
        for _ in range(a.n):
            s.sendall(req)
            status, keep, buf = read_response(s, buf)
            ok += status == 200
            if not keep:
                break
    print("requests %d ok %d" % (a.n, ok), flush=True)
    return 0 if ok == a.n else 1


SLOWLORIS_HEAD = b"GET /health HTTP/1.1\r\nHost: x\r\nUser-Agent: slowloris\r\nX-a: "
FLOOD = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2048
MALFORMED = [
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"G@T / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\nHost: x\n\n",
]
TCP_ESTABLISHED, TCP_SYN_SENT = 1, 2


def open_nb(port, rcvbuf=0):
    """A non-blocking socket connecting to port (the connect goes on)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, rcvbuf)
    s.setblocking(False)
    try:
        s.connect((HOST, port))
    except BlockingIOError:
        pass
    return s


def tcp_alive(s):
    """Connected or connecting (not closed or reset by the server)."""
    try:
        return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] in (TCP_ESTABLISHED, TCP_SYN_SENT)
    except OSError:
        return False


def cmd_attack(a):
    """One loop, every 20 ms, no threads: the attack costs little CPU."""
    signal.signal(signal.SIGTERM, on_term)
    now = time.monotonic()
    # slowloris: [socket, bytes of the head sent, next drip]
    loris = [[open_nb(a.port), 0, now + 0.2 + i / max(a.slowloris, 1)] for i in range(a.slowloris)]
    # slow readers: [socket, bytes of FLOOD sent, next read]
    readers = [[open_nb(a.port, 4096), 0, now + 1 + i / max(a.slow_readers, 1)] for i in range(a.slow_readers)]
    bad = []        # [socket, request, deadline]
    nbad = reopened = 0
    next_bad = now
    while not stop:
        now = time.monotonic()
        for c in loris:
            if now < c[2]:
                continue
            c[2] = now + 1
            s = c[0]
            try:
                s.recv(4096)            # a 408, perhaps: the close follows
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pass
            try:
                chunk = SLOWLORIS_HEAD[c[1]:c[1] + 1] if c[1] < len(SLOWLORIS_HEAD) else b"a"
                if c[1] == 0:
                    chunk = SLOWLORIS_HEAD[:16]
                n = s.send(chunk)
                c[1] += n
                if tcp_alive(s):
                    continue
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                pass
            s.close()
            c[0], c[1] = open_nb(a.port), 0
            reopened += 1
        for c in readers:
            s = c[0]
            try:
                while True:
                    n = s.send(FLOOD[c[1] % len(FLOOD):])
                    c[1] += n
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                c[2] = 0                # gone: reopen below
            if now < c[2]:
                continue
            c[2] = now + 1
            try:
                s.recv(1)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pass
            if tcp_alive(s):
                continue
            s.close()
            c[0], c[1] = open_nb(a.port, 4096), 0
            reopened += 1
        # malformed requests: R a second, each on a new connection
        while a.malformed and next_bad <= now:
            bad.append([open_nb(a.port), MALFORMED[nbad % len(MALFORMED)], now + 2])
            nbad += 1
            next_bad += 1.0 / a.malformed
        keep = []
        for c in bad:
            s = c[0]
            try:
                if c[1]:
                    s.send(c[1])
                    c[1] = b""
                if s.recv(4096) == b"":
                    s.close()
                    continue
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                s.close()
                continue
            if now > c[2]:
                s.close()
                continue
            keep.append(c)
        bad = keep
        time.sleep(0.02)
    for c in loris + readers + bad:
        c[0].close()
    print("slowloris %d readers %d malformed %d reopened %d" % (len(loris), len(readers), nbad, reopened),
          flush=True)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("ready", "idle", "scrape", "reqs", "attack"):
        q = sub.add_parser(name)
        q.add_argument("--port", type=int, required=True)
        q.add_argument("--path", default="/health")
        if name == "ready":
            q.add_argument("--release", required=True)
            q.add_argument("--pid", type=int, default=0)
            q.add_argument("--timeout", type=float, default=30)
        if name in ("idle", "reqs"):
            q.add_argument("-n", type=int, required=True)
        if name == "scrape":
            q.add_argument("--rate", type=float, default=10)
        if name == "idle":
            q.add_argument("--sources", type=int, default=1)
        if name == "attack":
            q.add_argument("--slowloris", type=int, default=1000)
            q.add_argument("--slow-readers", type=int, default=200)
            q.add_argument("--malformed", type=float, default=200)
    a = p.parse_args()
    return {"ready": cmd_ready, "idle": cmd_idle, "scrape": cmd_scrape,
            "reqs": cmd_reqs, "attack": cmd_attack}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
