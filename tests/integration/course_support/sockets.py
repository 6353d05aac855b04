"""Addresses in the course syntax (`unix:/path`, `unix:@name`, `127.0.0.1:PORT`,
`[::1]:PORT`) and client connections to them."""

from __future__ import annotations

import socket
import threading
from typing import Optional

from .timeouts import IO_TIMEOUT


def socket_address(address: str) -> tuple[int, object]:
    """(family, Python sockaddr) for an address in the course syntax.

    `unix:@name` becomes b"\\0name": the leading NUL is what puts a name in Linux's
    abstract namespace instead of the filesystem."""
    if address.startswith("unix:@"):
        return socket.AF_UNIX, b"\0" + address[len("unix:@"):].encode()
    if address.startswith("unix:"):
        return socket.AF_UNIX, address[len("unix:"):]
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit():
        raise ValueError(f"not an address in the course syntax: {address!r}")
    if host.startswith("[") and host.endswith("]"):
        return socket.AF_INET6, (host[1:-1], int(port))
    return socket.AF_INET, ("127.0.0.1" if host == "localhost" else host, int(port))


def socket_file(address: str) -> Optional[str]:
    """The socket file's path for a `unix:/path` address; None for an abstract name or TCP."""
    family, sockaddr = socket_address(address)
    return sockaddr if family == socket.AF_UNIX and isinstance(sockaddr, str) else None


class ClientSocket(socket.socket):
    """A connected socket.socket with the read loops that stream tests keep needing."""

    def recv_until_eof(self) -> bytes:
        """Everything the peer sends until it closes or shuts down its sending side."""
        chunks = []
        while chunk := self.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)

    def recv_exact(self, size: int) -> bytes:
        """Exactly `size` bytes; AssertionError if the stream ends first."""
        data = bytearray()
        while len(data) < size:
            chunk = self.recv(size - len(data))
            if not chunk:
                raise AssertionError(f"the peer closed after {len(data)} of {size} bytes")
            data += chunk
        return bytes(data)

    def send_then_read_until_eof(self, data: bytes) -> bytes:
        """Sends `data`, shuts down the sending side, and returns everything read until EOF.

        The sending runs in a thread: an echo-like server writes back while we are still
        writing, and with both socket buffers full a single thread would wait forever."""
        failure: list[BaseException] = []

        def send() -> None:
            try:
                self.sendall(data)
                self.shutdown(socket.SHUT_WR)
            except BaseException as error:  # reported by the test's thread below
                failure.append(error)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            received = self.recv_until_eof()
        finally:
            sender.join(IO_TIMEOUT)
        if failure:
            raise failure[0]
        return received


def connect_to(address: str, timeout: float = IO_TIMEOUT) -> ClientSocket:
    """A ClientSocket connected to `address` (course syntax). Every later operation on it
    times out after `timeout` seconds, so a silent server fails the test instead of
    hanging it."""
    family, sockaddr = socket_address(address)
    client = ClientSocket(family, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        client.connect(sockaddr)
    except BaseException:
        client.close()
        raise
    return client


def ipv6_loopback_problem() -> Optional[str]:
    """None if this machine can listen on [::1], else why not."""
    if not socket.has_ipv6:
        return "Python was built without IPv6"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        return f"cannot bind [::1]:0 ({error})"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now, for a program that cannot be told
    to take port 0 and say which port it got. Another process may take it before the program
    binds it: callers retry with another."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
