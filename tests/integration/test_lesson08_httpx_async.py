"""Chapter 08, a trap in the recommended client: httpx's *async* Unix-socket transport
(httpx.AsyncHTTPTransport(uds=...)) corrupts a request body larger than the socket buffer
when the anyio underneath it is older than 3.7.1, as Debian 12's python3-anyio 3.6.2 is.

The cause is one line of anyio's asyncio backend, `UNIXSocketStream.send`: after a partial
send() it keeps a view of the unsent rest but passes the whole item to send() again, so the
peer receives the start of the item a second time where the rest should be (anyio issue 579,
fixed in 3.7.1: "Fixed sending large buffers via UNIX stream sockets on asyncio"). TCP
streams are not affected: anyio sends them through asyncio's transports.

Whether the anyio here is broken is found out by behaviour, not by its version number: one
large send through anyio's UNIXSocketStream to a plain socket, read back and compared. The
demonstration against http_min's /echo runs only where that round trip is corrupted, and is
skipped with the reason wherever anyio is fixed. Every wait is bounded (asyncio.wait_for,
httpx timeouts)."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Optional

import httpx
import pytest

from course_support.http import MiB, random_bytes, start_http_min, uds_http_client
from course_support.timeouts import IO_TIMEOUT

anyio = pytest.importorskip("anyio", reason="needs anyio (python3-anyio), which httpx uses")
SocketAttribute = pytest.importorskip("anyio.abc").SocketAttribute

# Larger than any AF_UNIX socket's send buffer with the default sysctls (208 KiB, doubled
# to 416 KiB at most by a setsockopt), so that one send() cannot take it whole.
KiB = 1024
BODY_SIZE = MiB
# Every asynchronous exchange below must be over by then, however loaded the machine is.
DEADLINE = 30.0


async def _anyio_unix_round_trip(path: str, payload: bytes, piece: Optional[int] = None,
                                 send_buffer: Optional[int] = None) -> bytes:
    """Sends `payload` on an anyio UNIXSocketStream connected to a plain listening socket at
    `path`, with one `await stream.send()` (or one per `piece` bytes; `send_buffer`: the
    SO_SNDBUF to ask for first), closes it, and returns the first len(payload) bytes the
    plain end receives. The reader runs only once the sender has filled the socket buffer
    and waits (both run on one event loop), so the first send() is always a partial one.
    The reader reads to the end of the stream: a broken send() sends more than it was given,
    and must not be left waiting for room."""
    loop = asyncio.get_running_loop()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(1)
        listener.setblocking(False)
        stream = await anyio.connect_unix(path)
        if send_buffer:
            raw = stream.extra(SocketAttribute.raw_socket)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        accepted, _ = await loop.sock_accept(listener)
        with accepted:
            accepted.setblocking(False)
            sender = asyncio.create_task(
                _send_in_pieces(stream, payload, piece or len(payload)))
            received = bytearray()
            while chunk := await loop.sock_recv(accepted, 65536):
                received += chunk
            await sender
        return bytes(received[:len(payload)])
    finally:
        listener.close()
        if os.path.exists(path):
            os.unlink(path)


async def _send_in_pieces(stream, payload: bytes, piece: int) -> None:
    try:
        for start in range(0, len(payload), piece):
            await stream.send(payload[start:start + piece])
    finally:
        await stream.aclose()


def anyio_unix_send_corrupts(directory: str) -> bool:
    """True when anyio's UNIXSocketStream.send delivers something else than what it was given
    (the anyio < 3.7.1 bug), found by a 1 MiB round trip through a socket in `directory`."""
    payload = random_bytes(BODY_SIZE, seed=579)
    received = asyncio.run(asyncio.wait_for(
        _anyio_unix_round_trip(os.path.join(directory, "anyio.sock"), payload), DEADLINE))
    return received != payload


def restart_offset(sent: bytes, received: bytes) -> Optional[int]:
    """Where `received` stops following `sent` and starts over from sent's first byte: the
    signature of a send() that resent the whole buffer after a partial write. None if
    `received` is not of that shape."""
    if len(received) != len(sent) or received == sent:
        return None
    first_difference = next(i for i, (a, b) in enumerate(zip(sent, received)) if a != b)
    # The restart can be a few bytes before the first difference: the start of the body may
    # happen to equal the bytes it replaced (one chance in 256 per byte).
    for offset in range(first_difference, max(0, first_difference - 16), -1):
        probe = min(4096, len(sent) - offset)
        if offset > 0 and received[offset:offset + probe] == sent[:probe]:
            return offset
    return None


@pytest.fixture
def anyio_is_broken(short_dir) -> None:
    """Skips the test (with the reason) where anyio's Unix-socket send is correct."""
    if not anyio_unix_send_corrupts(short_dir):
        pytest.skip(f"anyio {anyio_version()} sends large buffers over Unix sockets "
                    "correctly (fixed in 3.7.1): nothing to demonstrate")


def anyio_version() -> str:
    from importlib import metadata
    try:
        return metadata.version("anyio")
    except metadata.PackageNotFoundError:
        return "(version unknown)"


async def _async_echo(path: str, body: bytes) -> httpx.Response:
    transport = httpx.AsyncHTTPTransport(uds=path)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost",
                                 timeout=IO_TIMEOUT, trust_env=False) as client:
        return await client.post("/echo", content=body)


async def _async_echo_over_tcp(address: str, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=IO_TIMEOUT,
                                 trust_env=False) as client:
        return await client.post("/echo", content=body)


def test_httpx_async_unix_transport_corrupts_a_body_larger_than_the_socket_buffer(
        start_server, anyio_is_broken):
    server = start_http_min(start_server, "unix")
    path = server.address[len("unix:"):]
    body = random_bytes(BODY_SIZE, seed=8)

    response = asyncio.run(asyncio.wait_for(_async_echo(path, body), DEADLINE))

    # http_min took Content-Length bytes and echoed them: the length is right, the bytes
    # are not. They follow the body up to where anyio's first send() stopped, and then
    # start over from the body's first byte.
    assert response.status_code == 200, response.text
    assert len(response.content) == len(body)
    assert response.content != body
    offset = restart_offset(body, response.content)
    assert offset is not None, "the echo is corrupted, but not by a restart from byte 0"
    print(f"anyio {anyio_version()}: the echoed body restarts at byte {offset:,}")


def test_anyio_unix_stream_corrupts_16_kib_pieces_too_with_a_small_send_buffer(
        short_dir, anyio_is_broken):
    # Sending the body in pieces (an async generator of chunks) is no sure cure: a piece is
    # cut as soon as one send() takes only part of it, and with an 8 KiB SO_SNDBUF asked
    # for, even a 16 KiB piece is (see the next test).
    payload = random_bytes(BODY_SIZE // 4, seed=16)
    received = asyncio.run(asyncio.wait_for(_anyio_unix_round_trip(
        os.path.join(short_dir, "pieces.sock"), payload, piece=16 * KiB,
        send_buffer=8 * KiB), DEADLINE))
    assert len(received) == len(payload)
    assert received != payload


def sizes_a_full_socket_took(piece: int, send_buffer: Optional[int]) -> set[int]:
    """The counts that non-blocking send()s of `piece` bytes returned on an AF_UNIX stream
    socketpair, never read, until the first EAGAIN."""
    sender, receiver = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with sender, receiver:
        if send_buffer:
            sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        sender.setblocking(False)
        counts = set()
        while True:
            try:
                counts.add(sender.send(bytes(piece)))
            except BlockingIOError:
                return counts


def test_a_16_kib_unix_send_is_whole_with_the_default_buffer_but_cut_with_a_small_one():
    # Why small pieces usually come through: with the default SO_SNDBUF (208 KiB), Linux
    # queues a 16 KiB send() on a Unix stream socket whole or refuses it (EAGAIN), so the
    # bug never sees a partial send. With 8 KiB asked for, the kernel cuts it, and a broken
    # anyio resends the piece from its start.
    assert sizes_a_full_socket_took(16 * KiB, None) == {16 * KiB}
    assert min(sizes_a_full_socket_took(16 * KiB, 8 * KiB)) < 16 * KiB


def test_httpx_async_over_tcp_sends_a_large_body_intact(start_server):
    # The same client and body over TCP, whatever the anyio: anyio writes TCP streams
    # through asyncio's transports, not through the broken UNIXSocketStream.send.
    server = start_http_min(start_server, "tcp")
    body = random_bytes(BODY_SIZE, seed=8)
    response = asyncio.run(asyncio.wait_for(_async_echo_over_tcp(server.address, body), DEADLINE))
    assert response.status_code == 200, response.text
    assert response.content == body


def test_httpx_sync_unix_transport_sends_a_large_body_intact(start_server):
    # The workaround that needs no new package: the synchronous client writes with a plain
    # blocking sendall(), which anyio is not part of.
    server = start_http_min(start_server, "unix")
    body = random_bytes(BODY_SIZE, seed=8)
    with uds_http_client(server.address[len("unix:"):]) as client:
        response = client.post("/echo", content=body)
    assert response.status_code == 200, response.text
    assert response.content == body
