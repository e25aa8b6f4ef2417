#!/opt/pytools/bin/python3
"""podlab's agnhost: the subcommands of Kubernetes' e2e test image
(test/images/agnhost) that node conformance tests run, with the same flags,
endpoints and output, in Python for the offline kit.

    agnhost pause | netexec | liveness | serve-hostname | mounttest |
            test-webserver | entrypoint-tester | grpc-health-checking | etc-hosts |
            fake-gitserver
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import socketserver
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def log(msg: str) -> None:
    """Go's log.Printf: a timestamp, the message, on stderr."""
    sys.stderr.write(time.strftime("%Y/%m/%d %H:%M:%S ") + msg + "\n")
    sys.stderr.flush()


def hostname() -> str:
    return socket.gethostname()


def go_duration(text: str) -> float:
    """A Go duration ("1.5s", "300ms", "2m") in seconds; "" is 0."""
    if not text:
        return 0.0
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, num = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = next((u for u in sorted(units, key=len, reverse=True) if text.startswith(u, i)), None)
        if unit is None or not num:
            raise ValueError(f"time: invalid duration {text!r}")
        total += float(num) * units[unit]
        num, i = "", i + len(unit)
    if num:
        if float(num) != 0:
            raise ValueError(f"time: missing unit in duration {text!r}")
    return total


class Handler(BaseHTTPRequestHandler):
    """Routes GET/POST by path to self.server.routes[path](handler, query)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _route(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode(errors="replace") if length else ""
            for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items():
                query.setdefault(k, v[0])
        routes = self.server.routes  # type: ignore[attr-defined]
        handler = routes.get(url.path) or routes.get("/")
        handler(self, query)

    do_GET = _route
    do_POST = _route
    do_HEAD = _route

    def reply(self, code: int, body: str | bytes, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def serve_http(port: int, routes: dict, tls: tuple[str, str] | None = None) -> Server:
    try:
        server = Server(("::", port), Handler)
    except OSError:  # no IPv6 in this network namespace
        Server.address_family = socket.AF_INET
        server = Server(("0.0.0.0", port), Handler)
    server.routes = routes  # type: ignore[attr-defined]
    if tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    return server


def exit_on_term() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os._exit(0))


# ----------------------------------------------------------------- pause

def cmd_pause(_args: argparse.Namespace) -> None:
    print("Paused", flush=True)
    exit_on_term()
    while True:
        signal.pause()


# ----------------------------------------------------------------- netexec

def cmd_netexec(args: argparse.Namespace) -> None:
    exit_on_term()
    ready = threading.Event()

    def root(h: Handler, q: dict) -> None:
        log("GET /")
        h.reply(200, f"NOW: {time.strftime('%Y-%m-%d %H:%M:%S')}")

    def echo(h: Handler, q: dict) -> None:
        msg, code = q.get("msg", ""), q.get("code", "")
        log(f"GET /echo?msg={msg}&code={code}")
        if code and not code.isdigit():
            h.reply(200, f"argument 'code' must be an integer or empty, got {code!r}\n")
            return
        h.reply(int(code) if code else 200, msg)

    def clientip(h: Handler, q: dict) -> None:
        log("GET /clientip")
        host, port = h.client_address[:2]
        host = host.removeprefix("::ffff:")
        h.reply(200, f"[{host}]:{port}" if ":" in host else f"{host}:{port}")

    def hostname_(h: Handler, q: dict) -> None:
        log("GET /hostname")
        h.reply(200, hostname())

    def healthz(h: Handler, q: dict) -> None:
        log("GET /healthz")
        h.reply(200 if ready.is_set() or args.udp_port == -1 else 412, "")

    def shell(h: Handler, q: dict) -> None:
        cmd = q.get("shellCommand") or q.get("cmd", "")
        log(f"GET /shell?cmd={cmd}")
        proc = subprocess.run(["/bin/sh", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out: dict[str, str] = {}
        if proc.stdout:
            out["output"] = proc.stdout.decode(errors="replace")
        if proc.returncode:
            out["error"] = f"exit status {proc.returncode}"
        log(f"Output: {out}")
        h.reply(200, json.dumps(out))

    def redirect(h: Handler, q: dict) -> None:
        location, code = q.get("location", ""), q.get("code", "")
        log(f"GET /redirect?code={code}&location={location}")
        h.reply(int(code) if code.isdigit() else 302, "", {"Location": location})

    def exit_(h: Handler, q: dict) -> None:
        code, timeout, wait = q.get("code", ""), q.get("timeout", ""), q.get("wait", "")
        log(f"GET /exit?code={code}&timeout={timeout}&wait={wait}")
        try:
            pause, grace = go_duration(wait), go_duration(timeout)
        except ValueError:
            h.reply(200, "argument must be a valid golang duration or empty\n")
            return
        status = int(code) if code.isdigit() else 0
        log(f"Will begin shutdown in {wait or '0s'}, allowing {timeout or '0s'} for connections "
            f"to close, then will exit with {status}")
        time.sleep(pause)
        if grace:
            h.reply(200, "")
            threading.Timer(min(grace, 1.0), lambda: os._exit(status)).start()
        else:
            os._exit(status)

    def shutdown(h: Handler, q: dict) -> None:
        log("GET /shutdown")
        os._exit(0)

    def dial(h: Handler, q: dict) -> None:
        host, port, request = q.get("host", ""), q.get("port", ""), q.get("request", "")
        protocol, tries = q.get("protocol", "") or "http", q.get("tries", "1")
        log(f"GET /dial?host={host}&protocol={protocol}&port={port}&request={request}&tries={tries}")
        if not request:
            h.reply(400, "request parameter not specified. <nil>\n")
            return
        responses, errors = [], []
        for _ in range(int(tries or 1)):
            try:
                if protocol == "udp":
                    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                       socket.SOCK_DGRAM) as s:
                        s.settimeout(5)
                        s.sendto(request.encode(), (host, int(port)))
                        responses.append(s.recv(2048).decode(errors="replace"))
                else:
                    target = f"[{host}]" if ":" in host else host
                    with urllib.request.urlopen(f"http://{target}:{port}/{request}", timeout=5) as r:
                        responses.append(r.read().decode(errors="replace"))
            except Exception as err:  # noqa: BLE001 - reported in the reply, as upstream does
                errors.append(str(err))
        out: dict[str, list[str]] = {}
        if responses:
            out["responses"] = responses
        if errors:
            out["errors"] = errors
        h.reply(200, json.dumps(out))

    routes = {"/": root, "/echo": echo, "/clientip": clientip, "/hostname": hostname_,
              "/hostName": hostname_, "/healthz": healthz, "/shell": shell, "/redirect": redirect,
              "/exit": exit_, "/shutdown": shutdown, "/dial": dial}
    if args.udp_port != -1:
        threading.Thread(target=udp_server, args=(args.udp_port, ready), daemon=True).start()
    tls = (args.tls_cert_file, args.tls_private_key_file) if args.tls_cert_file else None
    server = serve_http(args.http_port, routes, tls)
    log(f"Started HTTP server on port {args.http_port}")
    server.serve_forever()


def udp_server(port: int, ready: threading.Event | None = None) -> None:
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", port))
    except OSError:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("0.0.0.0", port))
    log(f"Started UDP server on port {port}")
    if ready is not None:
        ready.set()
    while True:
        data, addr = sock.recvfrom(2048)
        text = data.decode(errors="replace").strip()
        if text == "hostname" or text == "hostName":
            reply = hostname()
        elif text.startswith("echo "):
            reply = text[5:]
        elif text == "clientip":
            reply = addr[0].removeprefix("::ffff:")
        else:
            reply = ""
        sock.sendto(reply.encode(), addr)


# ----------------------------------------------------------------- liveness

def cmd_liveness(_args: argparse.Namespace) -> None:
    exit_on_term()
    started = time.time()

    def healthz(h: Handler, q: dict) -> None:
        duration = time.time() - started
        if duration > 10:
            h.reply(500, f"error: {duration}")
        else:
            h.reply(200, "ok")

    def started_(h: Handler, q: dict) -> None:
        h.reply(200, f"started: {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(started))}")

    def redirect(h: Handler, q: dict) -> None:
        h.reply(302, "", {"Location": urllib.parse.unquote(q.get("loc", ""))})

    serve_http(8080, {"/": healthz, "/healthz": healthz, "/started": started_,
                      "/redirect": redirect}).serve_forever()


# ----------------------------------------------------------------- serve-hostname

def cmd_serve_hostname(args: argparse.Namespace) -> None:
    exit_on_term()
    name = hostname()
    if args.tcp:
        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.sendall(name.encode())
        threading.Thread(target=socketserver.ThreadingTCPServer(("0.0.0.0", args.port), Tcp).serve_forever,
                         daemon=True).start()
        log(f"Serving on port {args.port}/tcp")
    if args.udp:
        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request[1].sendto(name.encode(), self.client_address)
        threading.Thread(target=socketserver.ThreadingUDPServer(("0.0.0.0", args.port), Udp).serve_forever,
                         daemon=True).start()
        log(f"Serving on port {args.port}/udp")
    if args.http:
        def reply(h: Handler, q: dict) -> None:
            h.reply(200, name)
            if args.close:
                h.close_connection = True
        server = serve_http(args.port, {"/": reply})
        log(f"Serving on port {args.port}/http")
        server.serve_forever()
    while True:
        signal.pause()


# ----------------------------------------------------------------- mounttest

INITIAL_CONTENT = "mount-tester new file\n"
TMPFS_MAGIC = 0x01021994


def go_file_mode(mode: int, perm_only: bool = False) -> str:
    """Go's os.FileMode.String() for an st_mode (Perm(): permission bits only)."""
    letters = ""
    if not perm_only:
        if stat.S_ISDIR(mode):
            letters += "d"
        if stat.S_ISLNK(mode):
            letters += "L"
        if stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
            letters += "D"
        if stat.S_ISFIFO(mode):
            letters += "p"
        if stat.S_ISSOCK(mode):
            letters += "S"
        if mode & stat.S_ISUID:
            letters += "u"
        if mode & stat.S_ISGID:
            letters += "g"
        if stat.S_ISCHR(mode):
            letters += "c"
        if mode & stat.S_ISVTX:
            letters += "t"
    rwx = "".join(c if mode & (1 << (8 - i)) else "-" for i, c in enumerate("rwxrwxrwx"))
    return (letters or "-") + rwx


def fs_type(path: str) -> int:
    """statfs(2)'s f_type, which Python's os.statvfs does not give."""
    import ctypes
    import ctypes.util

    class Statfs(ctypes.Structure):
        _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 512)]

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    buf = Statfs()
    if libc.statfs(path.encode(), ctypes.byref(buf)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(buf.f_type) & 0xFFFFFFFF


def cmd_mounttest(args: argparse.Namespace) -> None:
    os.umask(0)
    failed = False

    def q(path: str) -> str:
        return json.dumps(path)

    def read(path: str) -> bool:
        try:
            with open(path) as f:
                content = f.read()
        except OSError as err:
            print(f"error reading file content for {q(path)}: {go_error(err, path)}")
            return False
        print(f"content of file {q(path)}: {content}")
        return True

    if args.fs_type:
        try:
            t = fs_type(args.fs_type)
            print(f"mount type of {q(args.fs_type)}: {'tmpfs' if t == TMPFS_MAGIC else t}")
        except OSError as err:
            print(f"error from statfs({q(args.fs_type)}): {err}")
            failed = True
    for path, perm in ((args.new_file_0644, 0o644), (args.new_file_0666, 0o666),
                       (args.new_file_0660, 0o660), (args.new_file_0777, 0o777)):
        if not path:
            continue
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, perm)
            os.write(fd, INITIAL_CONTENT.encode())
            os.close(fd)
        except OSError as err:
            print(f"error writing new file {q(path)}: {go_error(err, path)}")
            failed = True
            continue
        failed |= not read(path)
    for path, perm_only, what in ((args.file_mode, False, "mode"), (args.file_perm, True, "perms")):
        if not path:
            continue
        try:
            st = os.stat(path)
        except OSError as err:
            print(f"error from Stat({q(path)}): {go_error(err, path)}")
            failed = True
            continue
        print(f"{what} of file {q(path)}: {go_file_mode(st.st_mode, perm_only)}")
    if args.file_owner:
        try:
            st = os.stat(args.file_owner)
            print(f"owner UID of {q(args.file_owner)}: {st.st_uid}")
            print(f"owner GID of {q(args.file_owner)}: {st.st_gid}")
        except OSError as err:
            print(f"error from stat({q(args.file_owner)}): {err}")
            failed = True
    if args.file_content:
        failed |= not read(args.file_content)
    if args.file_content_in_loop:
        deadline = time.monotonic() + args.retry_time
        ok = False
        while time.monotonic() < deadline:
            try:
                with open(args.file_content_in_loop) as f:
                    content = f.read()
            except OSError as err:
                print(f"Error reading file {args.file_content_in_loop}: {go_error(err, args.file_content_in_loop)}, "
                      "retrying", flush=True)
                time.sleep(2)
                continue
            ok = True
            print(f"content of file {q(args.file_content_in_loop)}: {content}", flush=True)
            if args.break_on_expected_content != "false":
                if content != INITIAL_CONTENT:
                    print(f"Unexpected content. Expected: {INITIAL_CONTENT}. Retrying", end="", flush=True)
                    time.sleep(2)
                    continue
                break
            time.sleep(2)
        failed |= not ok
    sys.stdout.flush()
    sys.exit(1 if failed else 0)


def go_error(err: OSError, path: str) -> str:
    """Go's *PathError text: "open PATH: no such file or directory"."""
    return f"open {path}: {(err.strerror or str(err)).lower()}"


# ----------------------------------------------------------------- the rest

def cmd_test_webserver(args: argparse.Namespace) -> None:
    exit_on_term()

    def hello(h: Handler, q: dict) -> None:
        h.reply(200, "Hello World!")
    serve_http(args.port, {"/": hello}).serve_forever()


def cmd_entrypoint_tester(args: argparse.Namespace) -> None:
    """Prints its command line as Go's fmt.Println(os.Args) does."""
    print("[" + " ".join(sys.argv) + "]")


def cmd_grpc_health_checking(args: argparse.Namespace) -> None:
    """A gRPC health server on --port, switched by HTTP /make-serving and /make-not-serving."""
    from concurrent import futures

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    exit_on_term()
    servicer = health.HealthServicer()
    service = args.service
    servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    if args.delay_unhealthy_sec >= 0:
        threading.Timer(args.delay_unhealthy_sec, lambda: servicer.set(
            service, health_pb2.HealthCheckResponse.NOT_SERVING)).start()
    server = grpc.server(futures.ThreadPoolExecutor(4))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"[::]:{args.port}")
    server.start()
    log(f"gRPC server starting to listen on :{args.port}")

    def serving(h: Handler, q: dict) -> None:
        servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        h.reply(200, "")

    def not_serving(h: Handler, q: dict) -> None:
        servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        h.reply(200, "")
    serve_http(args.http_port, {"/": serving, "/make-serving": serving,
                                "/make-not-serving": not_serving}).serve_forever()


def cmd_etc_hosts(_args: argparse.Namespace) -> None:
    """Prints /etc/hosts."""
    with open("/etc/hosts") as f:
        sys.stdout.write(f.read())


def cmd_fake_gitserver(args: argparse.Namespace) -> None:
    exit_on_term()

    def root(h: Handler, q: dict) -> None:
        h.reply(200, "I am a fake git server")
    serve_http(args.port, {"/": root}).serve_forever()


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="agnhost", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("pause")
    n = sub.add_parser("netexec")
    n.add_argument("--http-port", type=int, default=8080)
    n.add_argument("--udp-port", type=int, default=8081)
    n.add_argument("--sctp-port", type=int, default=-1)
    n.add_argument("--tls-cert-file", default="")
    n.add_argument("--tls-private-key-file", default="")
    n.add_argument("--http-override", default="")
    n.add_argument("--udp-listen-addresses", default="")
    sub.add_parser("liveness")
    s = sub.add_parser("serve-hostname")
    s.add_argument("--port", type=int, default=9376)
    for flag, default in (("--tcp", "false"), ("--udp", "false"), ("--http", "true"), ("--close", "false")):
        s.add_argument(flag, nargs="?", const="true", default=default)
    m = sub.add_parser("mounttest")
    for flag in ("fs_type", "file_mode", "file_perm", "file_owner", "new_file_0644", "new_file_0666",
                 "new_file_0660", "new_file_0777", "file_content", "file_content_in_loop"):
        m.add_argument(f"--{flag}", default="")
    m.add_argument("--retry_time", type=int, default=180)
    m.add_argument("--break_on_expected_content", default="true")
    w = sub.add_parser("test-webserver")
    w.add_argument("--port", type=int, default=80)
    sub.add_parser("entrypoint-tester", add_help=False).add_argument("rest", nargs=argparse.REMAINDER)
    g = sub.add_parser("grpc-health-checking")
    g.add_argument("--port", type=int, default=5000)
    g.add_argument("--http-port", type=int, default=8080)
    g.add_argument("--service", default="")
    g.add_argument("--delay-unhealthy-sec", type=int, default=-1)
    sub.add_parser("etc-hosts")
    f = sub.add_parser("fake-gitserver")
    f.add_argument("--port", type=int, default=8000)
    # Go's flag syntax: --flag=value and -flag=value both work
    argv = ["-" + a if a.startswith("-") and not a.startswith("--") and len(a) > 2 else a for a in argv]
    args = p.parse_args(argv)
    if args.command == "serve-hostname":
        for flag in ("tcp", "udp", "http", "close"):
            setattr(args, flag, getattr(args, flag) == "true")
    globals()["cmd_" + args.command.replace("-", "_")](args)


if __name__ == "__main__":
    main(sys.argv[1:])
