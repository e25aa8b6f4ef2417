"""SPDY/3.1 framing, the server half kubectl's port-forward speaks inside its WebSocket tunnel.

kubectl ≥ 1.31 port-forwards over a WebSocket whose subprotocol is
`SPDY/3.1+portforward.k8s.io`: the binary messages carry a SPDY/3.1 byte
stream (client-go's TunnelingConnection), which kube-apiserver tunnels to
the kubelet's SPDY server untouched. podlab ends the SPDY here, so this
module is that server's framing: frames parsed from bytes (`FrameReader`),
frames built (`FrameWriter`); no I/O. Only what a port-forward client sends
is understood (SYN_STREAM, DATA, RST_STREAM, PING, GOAWAY); SETTINGS,
WINDOW_UPDATE and HEADERS are read and ignored, as spdystream's flow
control is. Header blocks are zlib with the SPDY/3 dictionary, one
compression context per direction for the connection's life.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_REFUSED_STREAM, RST_CANCEL = 1, 2, 3, 5
MAX_FRAME = 1 << 24  # the 24-bit length field

# The SPDY/3 header-compression dictionary (draft 3.1, section 2.6.10.1):
# length-prefixed header names and values, then a run of common text.
_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base content-encoding "
    "content-language content-length content-location content-md5 content-range content-type date etag "
    "expect expires from host if-match if-modified-since if-none-match if-range if-unmodified-since "
    "last-modified location max-forwards pragma proxy-authenticate proxy-authorization range referer "
    "retry-after server te trailer transfer-encoding upgrade user-agent vary via warning www-authenticate "
    "method get status |200 OK| version HTTP/1.1 url public set-cookie keep-alive origin")
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")


def _dictionary() -> bytes:
    words = [w for part in _WORDS.split("|") for w in ([part] if part == "200 OK" else part.split())]
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + _TAIL.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer sent bytes that are not SPDY/3.1; the connection cannot go on."""


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: dict[str, str]
    fin: bool


@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes
    fin: bool


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_stream_id: int


@dataclass(frozen=True)
class Ignored:
    """A control frame a port-forward server has no use for (SETTINGS, WINDOW_UPDATE, HEADERS, ...)."""

    frame_type: int


Frame = SynStream | Data | RstStream | Ping | GoAway | Ignored

_HEAD = struct.Struct(">II")  # the first 8 bytes of every frame


def _parse_headers(block: bytes) -> dict[str, str]:
    try:
        (count,) = struct.unpack_from(">I", block)
        at, headers = 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, at)
            name = block[at + 4:at + 4 + n].decode()
            at += 4 + n
            (n,) = struct.unpack_from(">I", block, at)
            value = block[at + 4:at + 4 + n]
            at += 4 + n
            # Several values of one name are NUL-separated; a port-forward needs the first.
            headers[name.lower()] = value.split(b"\0")[0].decode()
    except (struct.error, UnicodeDecodeError) as err:
        raise ProtocolError(f"malformed header block: {err}") from None
    return headers


@dataclass
class FrameReader:
    """Whole frames from a byte stream fed in arbitrary pieces."""

    _buffer: bytearray = field(default_factory=bytearray)
    _inflate: zlib._Decompress = field(default_factory=lambda: zlib.decompressobj(zdict=DICTIONARY))

    def feed(self, data: bytes) -> list[Frame]:
        """The frames `data` completes, in order; raises ProtocolError."""
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= _HEAD.size:
            first, second = _HEAD.unpack_from(self._buffer)
            flags, length = second >> 24, second & 0xFFFFFF
            end = _HEAD.size + length
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[_HEAD.size:end])
            del self._buffer[:end]
            frames.append(self._frame(first, flags, body))
        return frames

    def _frame(self, first: int, flags: int, body: bytes) -> Frame:
        if not first & 0x80000000:
            return Data(first & 0x7FFFFFFF, body, bool(flags & FLAG_FIN))
        version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        try:
            if kind == SYN_STREAM:
                (stream_id,) = struct.unpack_from(">I", body)
                return SynStream(stream_id & 0x7FFFFFFF, _parse_headers(self._inflated(body[10:])),
                                 bool(flags & FLAG_FIN))
            if kind == RST_STREAM:
                stream_id, status = struct.unpack_from(">II", body)
                return RstStream(stream_id & 0x7FFFFFFF, status)
            if kind == PING:
                return Ping(struct.unpack_from(">I", body)[0])
            if kind == GOAWAY:
                return GoAway(struct.unpack_from(">I", body)[0] & 0x7FFFFFFF)
            if kind in (HEADERS, SYN_REPLY):
                self._inflated(body[4:])  # keeps the shared compression context in step
        except struct.error as err:
            raise ProtocolError(f"short control frame {kind}: {err}") from None
        return Ignored(kind)

    def _inflated(self, block: bytes) -> bytes:
        try:
            return self._inflate.decompress(block)
        except zlib.error as err:
            raise ProtocolError(f"header block does not inflate: {err}") from None


@dataclass
class FrameWriter:
    """Frames as bytes; header blocks share one deflate context, so frames must go out in the order built."""

    _deflate: zlib._Compress = field(
        default_factory=lambda: zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8,
                                                 zlib.Z_DEFAULT_STRATEGY, DICTIONARY))

    @staticmethod
    def _control(kind: int, flags: int, body: bytes) -> bytes:
        return _HEAD.pack(0x80000000 | VERSION << 16 | kind, flags << 24 | len(body)) + body

    def syn_reply(self, stream_id: int, headers: dict[str, str] | None = None, fin: bool = False) -> bytes:
        pairs = sorted((headers or {}).items())
        block = struct.pack(">I", len(pairs)) + b"".join(
            struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode() for k, v in pairs)
        packed = self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        return self._control(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", stream_id) + packed)

    @staticmethod
    def data(stream_id: int, data: bytes, fin: bool = False) -> bytes:
        """One DATA frame per MAX_FRAME - 1 bytes; FIN on the last."""
        chunks = [data[i:i + MAX_FRAME - 1] for i in range(0, len(data), MAX_FRAME - 1)] or [b""]
        return b"".join(_HEAD.pack(stream_id & 0x7FFFFFFF, (FLAG_FIN if fin and i == len(chunks) - 1 else 0) << 24
                                   | len(chunk)) + chunk for i, chunk in enumerate(chunks))

    @classmethod
    def rst_stream(cls, stream_id: int, status: int) -> bytes:
        return cls._control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    @classmethod
    def ping(cls, ping_id: int) -> bytes:
        return cls._control(PING, 0, struct.pack(">I", ping_id))

    @classmethod
    def goaway(cls, last_stream_id: int) -> bytes:
        return cls._control(GOAWAY, 0, struct.pack(">II", last_stream_id, 0))
