"""A Cluster service whose Create does nothing: the floor under the API benchmark.

`python -m bench.noop_server ADDRESS` serves Create by returning the request's
object: no validation, no storage. Driven by the same client and concurrency
as the real API server, it shows what gRPC in Python alone costs per call on
this machine, so the API figures can be read against it.
"""

from __future__ import annotations

import asyncio
import sys

import grpc

from podlab.v1 import services_pb2 as api
from podlab.v1 import services_pb2_grpc as rpc


class NoopCluster(rpc.ClusterServicer):
    async def Create(self, request: api.CreateRequest, context: grpc.aio.ServicerContext) -> api.Object:
        return request.object


async def serve(address: str) -> None:
    server = grpc.aio.server()
    rpc.add_ClusterServicer_to_server(NoopCluster(), server)
    if server.add_insecure_port(address) == 0:
        raise SystemExit(f"cannot listen on {address}")
    await server.start()
    print(f"no-op server listening on {address}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
