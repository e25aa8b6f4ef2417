#!/usr/bin/env python3
"""Container health check for podlab's gRPC servers (the lab's compose file).

    podlab-healthcheck HOST:PORT [--service NAME] [--timeout SECONDS]

Exits 0 when the server at HOST:PORT answers the standard gRPC health service
(grpc.health.v1.Health/Check) with SERVING for NAME (default "": the whole
server). A server that does not register the health service but answers gRPC
(UNIMPLEMENTED) also counts as up: the process is listening and serving.
Exits 1 otherwise, with the reason on stderr.
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(target: str, service: str, timeout: float) -> str | None:
    """Return None when healthy, else a one-line reason."""
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as err:
            code = err.code()  # type: ignore[attr-defined]
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return None
            return f"{target}: {code.name}: {err.details()}"  # type: ignore[attr-defined]
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{target}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="HOST:PORT of the gRPC server")
    parser.add_argument("--service", default="", help='health service name (default "")')
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    reason = check(args.target, args.service, args.timeout)
    if reason is not None:
        print(f"unhealthy: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
