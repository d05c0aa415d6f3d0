"""A stock-asyncio server that accepts connections and never writes to them.

The memory benchmark's peer, in a process of its own so that only the
measured side's memory is counted. Prints its port, then serves until killed.
"""

from __future__ import annotations

import asyncio
import resource
import sys


async def serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sys.exit(asyncio.run(serve()))
