"""aiotrio in one screen: a Trio program and asyncio code working together.

Run it with ``make demo``. Every line it prints says which side printed it.

Extra dependencies: none (aiotrio's own: trio, outcome, sniffio).
"""

from __future__ import annotations

import asyncio

import trio

import aiotrio


def say(side: str, message: str) -> None:
    print(f"  [{side:7}] {message}")


# -- asyncio code, written as for any asyncio program ------------------------------


async def handle_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.readline()
    say("asyncio", f"server got {data.decode().strip()!r}")
    writer.write(data.upper())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def echo_round_trip(message: str) -> str:
    server = await asyncio.start_server(handle_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    say("asyncio", f"echo server listening on 127.0.0.1:{port}")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(message.encode() + b"\n")
    await writer.drain()
    reply = (await reader.readline()).decode().strip()
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return reply


async def asyncio_asks_trio() -> str:
    say("asyncio", "calling a Trio function with aiotrio.run_trio ...")
    answer = await aiotrio.run_trio(trio_helper, 21)
    return f"Trio said {answer}"


async def slow_asyncio_job() -> None:
    try:
        say("asyncio", "slow job started, will sleep 10 s")
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        say("asyncio", "slow job got CancelledError, cleaning up")
        await asyncio.sleep(0.05)
        say("asyncio", "slow job cleaned up")
        raise


# -- Trio code -------------------------------------------------------------------


async def trio_helper(x: int) -> int:
    await trio.sleep(0.01)
    say("trio", f"helper computing {x} * 2")
    return x * 2


async def ticker(stop: trio.Event) -> None:
    ticks = 0
    while not stop.is_set():
        await trio.sleep(0.05)
        ticks += 1
    say("trio", f"ticker ticked {ticks} times while asyncio worked")


async def trio_main() -> None:
    print("1. A Trio program opens an asyncio loop and calls asyncio code:")
    async with aiotrio.open_loop() as loop:
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker, stop)
            reply = await aiotrio.run_asyncio(echo_round_trip, "hello from trio")
            say("trio", f"echo reply: {reply!r}")

            print("2. asyncio code calls back into Trio:")
            say("trio", await aiotrio.run_asyncio(asyncio_asks_trio))

            print("3. A Trio timeout cancels asyncio work, which cleans up first:")
            with trio.move_on_after(0.2):
                await aiotrio.run_asyncio(slow_asyncio_job)
            say("trio", "timeout handled; the asyncio job had finished its cleanup")
            stop.set()
        say("trio", f"loop {type(loop).__name__} closes when the block ends")


async def plain_asyncio_main() -> str:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0.01)
    return f"ran on {type(loop).__module__}.{type(loop).__name__}"


def main() -> None:
    trio.run(trio_main)
    print("4. An unmodified asyncio program, run on Trio with loop_factory:")
    with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
        say("asyncio", runner.run(plain_asyncio_main()))


if __name__ == "__main__":
    main()
