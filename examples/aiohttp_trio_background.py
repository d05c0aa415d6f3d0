"""An aiohttp server in a Trio program, with a Trio background task.

The Trio task samples a "temperature" every 100 ms into shared state; the
aiohttp handlers (asyncio code) read it, and ``/wait`` awaits Trio code with
`aiotrio.run_trio` until the next sample. SIGINT or SIGTERM stops the program
the Trio way: a cancel scope, then aiohttp's cleanup.

Extra dependencies: ``pip install aiohttp``.

    python examples/aiohttp_trio_background.py [--port 8080]
    curl http://127.0.0.1:8080/latest; curl http://127.0.0.1:8080/wait
"""

from __future__ import annotations

import argparse
import math
import signal
from dataclasses import dataclass, field

import trio
from aiohttp import web

import aiotrio


@dataclass
class Sensor:
    """Written by the Trio task, read by the handlers: one thread, no locks."""

    samples: int = 0
    value: float = 0.0
    changed: trio.Event = field(default_factory=trio.Event)

    async def next_sample(self) -> tuple[int, float]:
        await self.changed.wait()  # Trio code, called from a handler via run_trio
        return self.samples, self.value


SENSOR = web.AppKey("sensor", Sensor)


async def sample_forever(sensor: Sensor) -> None:
    while True:
        await trio.sleep(0.1)
        sensor.samples += 1
        sensor.value = round(20 + 5 * math.sin(sensor.samples / 10), 2)
        sensor.changed.set()
        sensor.changed = trio.Event()


async def latest(request: web.Request) -> web.Response:
    sensor = request.app[SENSOR]
    return web.json_response({"sample": sensor.samples, "value": sensor.value})


async def wait_for_next(request: web.Request) -> web.Response:
    sample, value = await aiotrio.run_trio(request.app[SENSOR].next_sample)
    return web.json_response({"sample": sample, "value": value})


async def start_server(sensor: Sensor, port: int) -> web.AppRunner:
    app = web.Application()
    app[SENSOR] = sensor
    app.add_routes([web.get("/latest", latest), web.get("/wait", wait_for_next)])
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def main(port: int) -> None:
    sensor = Sensor()
    async with aiotrio.open_loop(), trio.open_nursery() as nursery:
        nursery.start_soon(sample_forever, sensor)
        runner = await aiotrio.run_asyncio(start_server, sensor, port)
        try:
            print(f"listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    print(f"got {signal.Signals(signum).name}, stopping", flush=True)
                    break
        finally:
            with trio.CancelScope(shield=True):
                await aiotrio.run_asyncio(runner.cleanup)
            nursery.cancel_scope.cancel()
    print(f"stopped cleanly after {sensor.samples} samples", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    trio.run(main, parser.parse_args().port)
