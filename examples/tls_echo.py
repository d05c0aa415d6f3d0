"""A Trio program that runs an asyncio TLS echo server and TLS clients, on aiotrio.

Extra dependencies: ``pip install trustme``.

The certificates come from ``trustme`` (a throw-away CA made at start-up). Run it with
``python examples/tls_echo.py``. Every line it prints says which side printed it. What happens:

1. Trio opens an aiotrio loop and starts an asyncio TLS echo server in it.
2. Three asyncio TLS clients talk to it concurrently, started from Trio, while a Trio task keeps
   counting ticks to show that Trio keeps running.
3. A client that does not trust the CA is refused with ``ssl.SSLCertVerificationError``.
4. Trio cancels a slow asyncio client with ``trio.move_on_after``; the asyncio side sees
   ``CancelledError`` and closes its connection.
"""

from __future__ import annotations

import asyncio
import ssl

import trio
import trustme

import aiotrio


def say(side: str, message: str) -> None:
    print(f"[{side:7}] {message}", flush=True)


# -- asyncio code, as it would be written for any asyncio program ------------------------


async def handle_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    tls = writer.get_extra_info("ssl_object")
    name = (await reader.readline()).decode().strip()
    say("asyncio", f"server: {name} connected over {tls.version()}")
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def start_tls_server(context: ssl.SSLContext) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handle_client, "127.0.0.1", 0, ssl=context)
    port: int = server.sockets[0].getsockname()[1]
    return server, port


async def stop_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


async def tls_client(name: str, port: int, context: ssl.SSLContext, lines: list[str]) -> list[str]:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    try:
        writer.write(f"{name}\n".encode())
        replies = []
        for line in lines:
            writer.write(f"{line}\n".encode())
            await writer.drain()
            replies.append((await reader.readline()).decode().strip())
        return replies
    finally:
        writer.close()
        await writer.wait_closed()


async def slow_client(port: int, context: ssl.SSLContext) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    try:
        writer.write(b"slow client\n")
        await reader.readline()  # the server sends nothing unprompted: waits forever
    except asyncio.CancelledError:
        say("asyncio", "slow client: cancelled, closing its connection")
        raise
    finally:
        writer.close()
        await writer.wait_closed()


# -- the Trio program ---------------------------------------------------------------------


async def main() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    say("trio", "made a throw-away CA and a certificate for localhost")

    async with aiotrio.open_loop():
        server, port = await aiotrio.run_asyncio(start_tls_server, server_context)
        say("trio", f"asyncio TLS echo server listening on 127.0.0.1:{port}")

        ticks = 0
        results: dict[str, list[str]] = {}

        async def ticker(cancel_scope: trio.CancelScope) -> None:
            nonlocal ticks
            with cancel_scope:
                while True:
                    await trio.sleep(0.005)
                    ticks += 1

        async def run_client(name: str, lines: list[str]) -> None:
            results[name] = await aiotrio.run_asyncio(tls_client, name, port, client_context, lines)

        async with trio.open_nursery() as nursery:
            ticking = trio.CancelScope()
            nursery.start_soon(ticker, ticking)
            async with trio.open_nursery() as clients:
                for name, lines in [
                    ("alice", ["hello", "tls"]),
                    ("bob", ["from", "asyncio"]),
                    ("carol", ["on", "trio"]),
                ]:
                    clients.start_soon(run_client, name, lines)
            ticking.cancel()
        for name in sorted(results):
            say("trio", f"{name} got back {results[name]}")
        say("trio", f"a Trio task ticked meanwhile: {'yes' if ticks else 'no'}")

        untrusting = ssl.create_default_context()  # does not know our CA
        try:
            await aiotrio.run_asyncio(tls_client, "mallory", port, untrusting, ["hi"])
        except ssl.SSLCertVerificationError as exc:
            say("trio", f"untrusting client refused: {exc.verify_message}")

        with trio.move_on_after(0.5) as scope:
            await aiotrio.run_asyncio(slow_client, port, client_context)
        say("trio", f"slow client cancelled by Trio: {scope.cancelled_caught}")

        await aiotrio.run_asyncio(stop_server, server)
        say("trio", "server closed")
    say("trio", "loop closed, done")


if __name__ == "__main__":
    trio.run(main)
