"""8. UDP echo over loopback, 64-byte datagrams; figure: per round trip."""

from __future__ import annotations

import asyncio

from echo_servers import HOST
from impls import run_asyncio_main
from timing import per_op

SIZE = 64


class EchoDatagram(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


class ClientDatagram(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.reply: asyncio.Future[None] | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.reply is not None and not self.reply.done():
            self.reply.set_result(None)


async def main() -> dict[str, float]:
    loop = asyncio.get_running_loop()
    server, _ = await loop.create_datagram_endpoint(EchoDatagram, local_addr=(HOST, 0))
    client, protocol = await loop.create_datagram_endpoint(
        ClientDatagram, remote_addr=server.get_extra_info("sockname")
    )
    message = b"x" * SIZE

    async def echo(n: int) -> None:
        for _ in range(n):
            protocol.reply = loop.create_future()
            client.sendto(message)
            await protocol.reply

    figure = await per_op(echo)
    client.close()
    server.close()
    return {"udp_64B": figure}


def measure(impl: str) -> dict[str, float]:
    return run_asyncio_main(impl, main)
