"""Instructions per operation under callgrind: ``instructions.py [--impls A,B] [--only X,Y]``.

Wall-clock ratios on a shared machine are noisy; instruction counts are not.
For each implementation, one process runs under ``valgrind --tool=callgrind``
and measures every benchmark body of families 1-10 twice, with N and 2N
operations; callgrind dumps its counts at each marker (a ``getppid()``
call) around the timed runs, so ``(cost(2N) - cost(N)) / N`` is the cost of
one operation, free of setup and of per-run constants. Kernel time (system
calls, loopback) is not counted: this measures the Python and C work of the
loops. Prints a table of instructions per operation with ratios against
stock asyncio. ``--callgrind-dir DIR`` keeps the dump files (for
``callgrind_annotate``: each timed run is one dump).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

HERE = Path(__file__).resolve().parent
IMPLS = ("asyncio", "aiotrio_factory", "aiotrio_open_loop")

#: Body name -> (family, N): N operations in the first timed run, 2N in the second.
BODIES: dict[str, tuple[str, int]] = {
    "call_soon_chain": ("1", 2000),
    "call_soon_burst": ("1", 4000),
    "sleep0_10_tasks": ("2", 2000),
    "gather_tasks": ("3", 4000),
    "wait_for": ("4", 1000),
    "timeout_cm": ("4", 1000),
    "call_later_fill": ("5", 4000),
    "call_later_fire_100k_pending": ("5", 1000),
    "tcp_streams_64B": ("6", 400),
    "tcp_streams_64KiB": ("6", 100),
    "tcp_protocol_64B": ("6", 400),
    "tcp_protocol_64KiB": ("6", 100),
    "tcp_100_clients": ("7", 1000),
    "udp_64B": ("8", 400),
    "tls_streams_64B": ("9", 200),
    "tls_streams_64KiB": ("9", 50),
    "run_trio": ("10", 2000),
    "trio_sleep0": ("10", 2000),
}


def _marker() -> None:
    os.getppid()  # callgrind dumps its counts before each call (--dump-before)


async def _bodies(names: list[str]) -> dict[str, Any]:
    """name -> (setup, run, teardown): async context of one body."""
    import bm_call_soon
    import bm_gather
    import bm_sleep0
    import bm_timeouts
    import bm_timers
    from echo_servers import port_of, protocol_pair, start_stream_server, stream_client

    async def nothing() -> None:
        pass

    async def simple(run: Any) -> tuple[Any, Any]:
        return run, nothing

    async def fill_setup() -> tuple[Any, Any]:
        async def run(n: int) -> None:
            await bm_timers.cancel(bm_timers.fill(n))

        return run, nothing

    async def fire_setup() -> tuple[Any, Any]:
        timers = bm_timers.fill(100_000)
        await asyncio.sleep(0)

        async def teardown() -> None:
            await bm_timers.cancel(timers)

        return bm_timers.fire_chain, teardown

    async def stream_setup(size: int, tls: bool) -> tuple[Any, Any]:
        server_context = client_context = None
        if tls:
            import bm_tls_echo

            server_context, client_context = bm_tls_echo.contexts()
        server = await start_stream_server(server_context)
        echo, close = await stream_client(port_of(server), size, client_context)

        async def teardown() -> None:
            await close()
            server.close()
            await server.wait_closed()

        return echo, teardown

    async def protocol_setup(size: int) -> tuple[Any, Any]:
        return await protocol_pair(size)

    async def many_setup() -> tuple[Any, Any]:
        server = await start_stream_server()
        clients = await asyncio.gather(*(stream_client(port_of(server), 64) for _ in range(100)))

        async def run(n: int) -> None:
            await asyncio.gather(*(echo(n // 100) for echo, _ in clients))

        async def teardown() -> None:
            await asyncio.gather(*(close() for _, close in clients))
            server.close()
            await server.wait_closed()

        return run, teardown

    async def udp_setup() -> tuple[Any, Any]:
        import bm_udp_echo
        from echo_servers import HOST

        loop = asyncio.get_running_loop()
        server, _ = await loop.create_datagram_endpoint(
            bm_udp_echo.EchoDatagram, local_addr=(HOST, 0)
        )
        client, protocol = await loop.create_datagram_endpoint(
            bm_udp_echo.ClientDatagram, remote_addr=server.get_extra_info("sockname")
        )
        message = b"x" * 64

        async def run(n: int) -> None:
            for _ in range(n):
                protocol.reply = loop.create_future()
                client.sendto(message)
                await protocol.reply

        async def teardown() -> None:
            client.close()
            server.close()

        return run, teardown

    async def run_trio_empty(n: int) -> None:
        import aiotrio

        for _ in range(n):
            await aiotrio.run_trio(nothing)

    async def trio_sleep0(n: int) -> None:
        import trio

        import aiotrio

        async def sleeps() -> None:
            for _ in range(n):
                await trio.sleep(0)

        await aiotrio.run_trio(sleeps)

    setups: dict[str, Callable[[], Awaitable[tuple[Any, Any]]]] = {
        "call_soon_chain": lambda: simple(bm_call_soon.chain),
        "call_soon_burst": lambda: simple(bm_call_soon.burst),
        "sleep0_10_tasks": lambda: simple(bm_sleep0.sleep0),
        "gather_tasks": lambda: simple(bm_gather.spawn_gather),
        "wait_for": lambda: simple(bm_timeouts.wait_for),
        "timeout_cm": lambda: simple(bm_timeouts.timeout),
        "call_later_fill": fill_setup,
        "call_later_fire_100k_pending": fire_setup,
        "tcp_streams_64B": lambda: stream_setup(64, tls=False),
        "tcp_streams_64KiB": lambda: stream_setup(64 * 1024, tls=False),
        "tcp_protocol_64B": lambda: protocol_setup(64),
        "tcp_protocol_64KiB": lambda: protocol_setup(64 * 1024),
        "tcp_100_clients": many_setup,
        "udp_64B": udp_setup,
        "run_trio": lambda: simple(run_trio_empty),
        "trio_sleep0": lambda: simple(trio_sleep0),
        "tls_streams_64B": lambda: stream_setup(64, tls=True),
        "tls_streams_64KiB": lambda: stream_setup(64 * 1024, tls=True),
    }
    return {name: setups[name] for name in names}


def _stretch_time(slowdown: float) -> None:
    """Make aiotrio's time-based decisions (trio_latency) as they are natively.

    Under callgrind a program runs ~50-100x slower, so a batch of 50 us would
    hold a handful of callbacks where natively it holds dozens: the driver
    would yield to Trio far more often than it does outside valgrind.
    """
    import functools

    import aiotrio
    from aiotrio._driver import TRIO_LATENCY

    latency = min(TRIO_LATENCY * slowdown, 0.1)
    aiotrio.new_event_loop = functools.partial(aiotrio.new_event_loop, trio_latency=latency)
    aiotrio.open_loop = functools.partial(aiotrio.open_loop, trio_latency=latency)


def _driver_counts() -> tuple[int, int]:
    driver = getattr(getattr(asyncio.get_running_loop(), "_trio", None), "driver", None)
    return (driver.batches, driver.yields_for_trio) if driver is not None else (0, 0)


def child(impl: str, names: list[str], slowdown: float) -> None:
    """Run inside callgrind: the bodies, each timed with N and 2N operations."""
    from impls import run_asyncio_main

    if impl != "asyncio":
        _stretch_time(slowdown)

    async def main() -> None:
        setups = await _bodies(names)
        for name in names:
            n = BODIES[name][1]
            run, teardown = await setups[name]()
            await run(max(1, n // 4))  # warm-up
            for count in (n, 2 * n):
                _marker()
                start = perf_counter()
                batches, yields = _driver_counts()
                await run(count)
                elapsed = perf_counter() - start
                after = _driver_counts()
                _marker()
            print(
                f"{name:<30} {impl:<18} {elapsed / count * 1e6:8.2f} us/op, "
                f"{(after[0] - batches) / count:.4f} batches/op, "
                f"{(after[1] - yields) / count:.4f} yields/op",
                flush=True,
            )
            await teardown()

    run_asyncio_main(impl, main)


def _total(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise ValueError(f"no totals in {path}")


def measure(
    python: str, impl: str, names: list[str], keep: Path | None, slowdown: float
) -> dict[str, float]:
    """Instructions per operation of each body for `impl`, run by `python`."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(keep or scratch) / f"cg.{impl}"
        for old in out.parent.glob(f"{out.name}*"):
            old.unlink()
        env = dict(
            os.environ,
            PYTHONHASHSEED="0",
            GLIBC_TUNABLES="glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=4194304",
        )
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--dump-before=getppid",
                "--dump-instr=no",
                f"--callgrind-out-file={out}",
                python,
                str(Path(__file__).resolve()),
                "--child",
                impl,
                ",".join(names),
                f"--slowdown={slowdown}",
            ],
            check=True,
            env=env,
            cwd=HERE,
            stderr=subprocess.DEVNULL,
            timeout=3600,
        )
        dumps = sorted(
            out.parent.glob(f"{out.name}.*"), key=lambda p: int(p.name.rsplit(".", 1)[1])
        )
        # Dumps at markers: [before N, N, before 2N, 2N] per body, in order.
        if len(dumps) < 4 * len(names):
            raise RuntimeError(f"{impl}: {len(dumps)} dumps for {len(names)} bodies")
        per_op = {}
        for index, name in enumerate(names):
            first, second = dumps[4 * index + 1], dumps[4 * index + 3]
            per_op[name] = (_total(second) - _total(first)) / BODIES[name][1]
        return per_op


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--only", help="bodies or family numbers, comma-separated")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--callgrind-dir", type=Path)
    parser.add_argument(
        "--slowdown",
        type=float,
        default=60.0,
        help="how much slower programs run under callgrind (trio_latency is scaled by it)",
    )
    parser.add_argument("--native", action="store_true", help="run the bodies without valgrind")
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(HERE))
        child(args.child[0], args.child[1].split(","), args.slowdown)
        return
    wanted = args.only.split(",") if args.only else None
    names = [
        name
        for name, (family, _) in BODIES.items()
        if wanted is None or name in wanted or family in wanted
    ]
    impls = args.impls.split(",")
    if args.native:
        for impl in impls:
            command = [args.python, __file__, "--child", impl, ",".join(names), "--slowdown=1"]
            subprocess.run(command, check=True, cwd=HERE, timeout=3600)
        return
    results = {
        impl: measure(args.python, impl, names, args.callgrind_dir, args.slowdown) for impl in impls
    }
    header = "".join(f"{impl:>20}" for impl in impls)
    print(f"{'instructions per op':<30}{header}   ratios to asyncio")
    for name in names:
        cells = "".join(f"{results[impl][name]:>20,.0f}" for impl in impls)
        ratios = ""
        if "asyncio" in results:
            base = results["asyncio"][name]
            ratios = " ".join(
                f"{results[impl][name] / base:.3f}" for impl in impls if impl != "asyncio"
            )
        print(f"{name:<30}{cells}   {ratios}")


if __name__ == "__main__":
    main()
