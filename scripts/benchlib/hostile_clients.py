"""The clients of the hostile suite, on raw sockets: many connections at once (kept open
idle, or churned), clients that pipeline requests and never read, and a keep-alive loop
that times each request.

Each is bounded: in connections, in requests and in seconds. Each closes every socket it
opened before it returns, except the idle connections it hands back on purpose (the
caller closes those with close_all).
"""
import errno
import selectors
import socket
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Address:
    """Where a server listens: a Unix socket path, or a TCP port on 127.0.0.1."""
    unix_path: str = None
    port: int = None

    def socket(self):
        family = socket.AF_UNIX if self.unix_path else socket.AF_INET
        return socket.socket(family, socket.SOCK_STREAM)

    @property
    def where(self):
        return self.unix_path if self.unix_path else ("127.0.0.1", self.port)

    def __str__(self):
        return f"unix:{self.unix_path}" if self.unix_path else f"127.0.0.1:{self.port}"


def get_request(path):
    """A keep-alive GET, as a client sends it (HTTP/1.1 keeps the connection by default)."""
    return f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()


# --- reading responses -----------------------------------------------------------------

def response_length(data):
    """The length in bytes of the response that starts data (head and body), once its head
    has arrived; None before. Every answer the suite asks for carries Content-Length (a
    static file, or nginx's and http_min's error pages); one without it is a ValueError."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    for line in bytes(data[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return end + 4 + int(value.strip())
    raise ValueError("a response without Content-Length: "
                     + bytes(data[:end]).decode("latin-1").split("\r\n")[0])


def status_of(data):
    """The status code of the response that starts data ("HTTP/1.1 200 OK" gives 200)."""
    parts = bytes(data[:data.find(b"\r\n")]).split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not a status line: {bytes(data[:80])!r}")
    return int(parts[1])


def exchange(sock, request):
    """Sends request on a blocking socket and reads its whole response; returns its status.
    Bytes past the response would be an answer nobody asked for: an error."""
    sock.sendall(request)
    data = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection before its answer ended")
        data += chunk
        length = response_length(data)
        if length is not None and len(data) >= length:
            if len(data) > length:
                raise ValueError(f"{len(data) - length} bytes past the response")
            return status_of(data)


def get_status(address, request, timeout):
    """One request on a new connection: its status code."""
    with address.socket() as sock:
        sock.settimeout(timeout)
        sock.connect(address.where)
        return exchange(sock, request)


# --- many connections ------------------------------------------------------------------

@dataclass
class Outcome:
    """What exchange_many did."""
    kept: list = field(default_factory=list)  # the open sockets it hands back
    answered: int = 0       # connections whose request got a whole 200 response
    failed: int = 0         # refused, reset, closed early, or not a 200
    unfinished: int = 0     # still in progress (or never started) at the deadline
    errors: dict = field(default_factory=dict)  # what failed, counted by kind


def exchange_many(address, request, total, in_flight, keep, seconds):
    """total connections, each sending request once and reading the whole answer, with up
    to in_flight of them in progress at a time (one selector, non-blocking sockets). keep:
    an answered connection stays open and is handed back in Outcome.kept (idle keep-alive
    connections); otherwise it is closed at once (churn). Stops at the deadline."""
    selector = selectors.DefaultSelector()
    outcome, started = Outcome(), 0
    deadline = time.monotonic() + seconds

    def fail(sock, kind):
        selector.unregister(sock)
        sock.close()
        outcome.failed += 1
        outcome.errors[kind] = outcome.errors.get(kind, 0) + 1

    try:
        while outcome.answered + outcome.failed < total and time.monotonic() < deadline:
            while started < total and len(selector.get_map()) < in_flight:
                started += 1
                sock = address.socket()
                sock.setblocking(False)
                error = sock.connect_ex(address.where)
                selector.register(sock, selectors.EVENT_WRITE, bytearray())
                if error not in (0, errno.EINPROGRESS):
                    fail(sock, errno.errorcode.get(error, str(error)))
            for key, _ in selector.select(timeout=0.2):
                sock, data = key.fileobj, key.data
                if key.events == selectors.EVENT_WRITE:  # connected, or failed to
                    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if error:
                        fail(sock, errno.errorcode.get(error, str(error)))
                        continue
                    try:
                        sent = sock.send(request)  # a few dozen bytes: all of it or an error
                    except OSError as oops:
                        fail(sock, type(oops).__name__)
                        continue
                    if sent != len(request):
                        fail(sock, "short send")
                        continue
                    selector.modify(sock, selectors.EVENT_READ, data)
                    continue
                try:
                    chunk = sock.recv(65536)
                except OSError as oops:
                    fail(sock, type(oops).__name__)
                    continue
                if not chunk:
                    fail(sock, "closed before the answer")
                    continue
                data += chunk
                length = response_length(data)
                if length is None or len(data) < length:
                    continue
                if status_of(data) != 200:
                    fail(sock, f"status {status_of(data)}")
                    continue
                selector.unregister(sock)
                outcome.answered += 1
                if keep:
                    outcome.kept.append(sock)
                else:
                    sock.close()
        outcome.unfinished = total - outcome.answered - outcome.failed
    except BaseException:
        close_all(outcome.kept)
        raise
    finally:
        close_all([key.fileobj for key in list(selector.get_map().values())])
        selector.close()
    return outcome


def close_all(sockets):
    for sock in sockets:
        sock.close()
    sockets.clear()


def still_open(sockets):
    """How many of these idle connections the server has not closed: a closed one is
    readable (end of file, or a reset), an open idle one is not."""
    if not sockets:
        return 0
    selector = selectors.DefaultSelector()
    try:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        return len(sockets) - len(selector.select(timeout=0))
    finally:
        selector.close()


# --- clients that send and never read ----------------------------------------------------

@dataclass
class Pipelined:
    """What pipeline_without_reading did."""
    peak_kib: int           # the highest server RSS sampled
    samples: int
    requests_sent: int      # whole requests, all clients
    reset: int              # clients whose connection the server closed or reset


def pipeline_without_reading(address, request, clients, seconds, receive_buffer, sample,
                             every=0.05):
    """clients connections, each with a receive buffer of receive_buffer bytes (set before
    connect(), since TCP agrees its window scale in the handshake), sending request over
    and over (pipelined) for `seconds` and never reading. sample() (the server's RSS, in
    KiB) is called every `every` seconds meanwhile; the highest value is the peak."""
    batch = request * 64
    socks, position = [], {}
    selector = selectors.DefaultSelector()
    sent_bytes, reset = 0, 0
    try:
        for _ in range(clients):
            sock = address.socket()
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.settimeout(5)
            sock.connect(address.where)
            sock.setblocking(False)
            position[sock] = 0
            selector.register(sock, selectors.EVENT_WRITE)
        peak, samples = sample(), 1
        now = time.monotonic()
        deadline, next_sample = now + seconds, now + every
        while now < deadline:
            for key, _ in selector.select(timeout=max(0.0, min(next_sample, deadline) - now)):
                sock = key.fileobj
                try:
                    sent = sock.send(memoryview(batch)[position[sock]:])
                except BlockingIOError:
                    continue
                except OSError:   # reset or closed by the server: it gave up on this client
                    selector.unregister(sock)
                    reset += 1
                    continue
                sent_bytes += sent
                position[sock] = (position[sock] + sent) % len(batch)
            now = time.monotonic()
            if now >= next_sample:
                peak, samples = max(peak, sample()), samples + 1
                next_sample = now + every
        peak, samples = max(peak, sample()), samples + 1
        return Pipelined(peak, samples, sent_bytes // len(request), reset)
    finally:
        selector.close()
        close_all(socks)


# --- latency ---------------------------------------------------------------------------

def keepalive_latencies(address, request, warmup, count, seconds, timeout=5):
    """One client on one keep-alive connection: warmup requests, then up to count more, each
    timed from its send to the last byte of its answer (nanoseconds, perf_counter_ns),
    within `seconds` (a slow server gets fewer). Each answer must be a 200."""
    with address.socket() as sock:
        sock.settimeout(timeout)
        sock.connect(address.where)
        for _ in range(warmup):
            check_ok(exchange(sock, request))
        times, deadline = [], time.monotonic() + seconds
        while len(times) < count and time.monotonic() < deadline:
            started = time.perf_counter_ns()
            status = exchange(sock, request)
            times.append(time.perf_counter_ns() - started)
            check_ok(status)
        return times


def check_ok(status):
    if status != 200:
        raise ValueError(f"status {status}, not 200")
