"""The pure halves of the streaming work: SPDY/3.1 framing (kubectl's port-forward tunnel) and CPU rates."""

from __future__ import annotations

import struct
import zlib

import pytest

from controlplane.rest import spdy
from nodeagent.server import CpuRates

pytestmark = pytest.mark.unit


def _syn_stream(deflate: zlib._Compress, stream_id: int, headers: dict[str, str]) -> bytes:
    """A SYN_STREAM as spdystream writes one (client side), to feed the server's reader."""
    block = struct.pack(">I", len(headers)) + b"".join(
        struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode() for k, v in headers.items())
    packed = deflate.compress(block) + deflate.flush(zlib.Z_SYNC_FLUSH)
    body = struct.pack(">IIBB", stream_id, 0, 0, 0) + packed
    return struct.pack(">II", 0x80000000 | 3 << 16 | spdy.SYN_STREAM, len(body)) + body


def test_reader_parses_kubectls_stream_pair_data_ping_and_rst_in_any_split() -> None:
    deflate = zlib.compressobj(zdict=spdy.DICTIONARY)
    wire = (_syn_stream(deflate, 1, {"streamType": "error", "port": "80", "requestID": "0"})
            + _syn_stream(deflate, 3, {"streamType": "data", "port": "80", "requestID": "0"})
            + spdy.FrameWriter.data(3, b"GET / HTTP/1.1\r\n\r\n", fin=True)
            + spdy.FrameWriter.ping(7) + spdy.FrameWriter.rst_stream(3, spdy.RST_CANCEL))
    for size in (1, 5, len(wire)):  # frames cut anywhere still come out whole, in order
        reader = spdy.FrameReader()
        frames = [f for i in range(0, len(wire), size) for f in reader.feed(wire[i:i + size])]
        assert frames == [spdy.SynStream(1, {"streamtype": "error", "port": "80", "requestid": "0"}, False),
                          spdy.SynStream(3, {"streamtype": "data", "port": "80", "requestid": "0"}, False),
                          spdy.Data(3, b"GET / HTTP/1.1\r\n\r\n", True), spdy.Ping(7),
                          spdy.RstStream(3, spdy.RST_CANCEL)]


def test_syn_replies_share_one_deflate_context_a_client_can_inflate() -> None:
    writer = spdy.FrameWriter()
    inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)
    for stream_id in (1, 3):
        frame = writer.syn_reply(stream_id)
        first, second = struct.unpack_from(">II", frame)
        assert (first >> 16 & 0x7FFF, first & 0xFFFF, second & 0xFFFFFF) == (3, spdy.SYN_REPLY, len(frame) - 8)
        assert struct.unpack_from(">I", frame, 8)[0] == stream_id
        assert inflate.decompress(frame[12:]) == b"\0\0\0\0"  # no headers, as the kubelet replies


def test_a_wrong_version_is_a_protocol_error() -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameReader().feed(struct.pack(">II", 0x80000000 | 2 << 16 | spdy.PING, 4) + b"\0\0\0\1")


def test_cpu_rates_average_since_start_then_between_samples() -> None:
    rates = CpuRates()
    assert rates.rates(110.0, {"c": (5.0, 100.0)}) == {"c": (0.5, 10.0)}  # since it started
    assert rates.rates(120.0, {"c": (7.0, 100.0)}) == {"c": (0.2, 10.0)}  # since the last sample
    assert rates.rates(130.0, {"d": (1.0, 125.0)}) == {"d": (0.2, 5.0)}  # "c" is gone, "d" is new
