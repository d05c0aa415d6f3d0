"""aiotrio's pytest plugin, exercised through pytester in subprocesses.

Each test writes a small test suite, runs pytest on it in a subprocess (so
each run loads the plugins from their entry points, as a user's run does)
and checks the outcome and the output.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import textwrap
from typing import TYPE_CHECKING

import pytest

from aiotrio.pytest_plugin import asyncio_fixture

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytest_plugins = ["pytester"]

# Warnings are errors in the runs; pytest-asyncio warns unless its loop scope
# is set, and pytest warns about that setting where pytest-asyncio is absent.
INI = "[pytest]\nfilterwarnings = error\n" + (
    "asyncio_default_fixture_loop_scope = function\n"
    if importlib.util.find_spec("pytest_asyncio")
    else ""
)


INNER_TIMEOUT = 45


@pytest.fixture
def run(pytester: pytest.Pytester) -> Callable[..., pytest.RunResult]:
    """``run(tests, *args, ini=INI)``: write the test module, run pytest on it."""

    def run_tests(tests: str, *args: str, ini: str = INI) -> pytest.RunResult:
        pytester.makeini(ini)
        pytester.makepyfile(test_sample=textwrap.dedent(tests))
        # A hard limit below pytest-timeout's 60 s: pytester kills the inner pytest at
        # its own timeout, while an outer timeout would leave it running.
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=INNER_TIMEOUT)

    return run_tests


def needs_pytest_asyncio() -> None:
    pytest.importorskip("pytest_asyncio", minversion="1.4")


def test_registered_through_the_pytest11_entry_point() -> None:
    entry_points = importlib.metadata.entry_points(group="pytest11")
    assert {(ep.name, ep.value) for ep in entry_points} >= {("aiotrio", "aiotrio.pytest_plugin")}


# -- the aiotrio_loop fixture ---------------------------------------------------------


def test_aiotrio_loop_runs_asyncio_code_in_the_trio_test(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(
        """
        import asyncio
        import pytest, trio
        import aiotrio

        loops = []

        @pytest.mark.trio
        async def test_loop(aiotrio_loop):
            loops.append(aiotrio_loop)
            assert aiotrio.current_loop() is aiotrio_loop
            assert await aiotrio.run_asyncio(asyncio.sleep, 0, "done") == "done"
            assert aiotrio_loop.is_running()

            async def asyncio_side():
                return await aiotrio.run_trio(trio.sleep, 0)

            await aiotrio.run_asyncio(asyncio_side)

        @pytest.mark.trio
        async def test_background_tasks_are_cancelled_at_teardown(aiotrio_loop):
            async def forever():
                await asyncio.sleep(3600)

            loops.append(aiotrio_loop.create_task(forever()))

        def test_after():
            loop, task = loops
            assert loop.is_closed()
            assert task.cancelled()
        """
    )
    result.assert_outcomes(passed=3)


def test_aiotrio_loop_needs_a_trio_test(run: Callable[..., pytest.RunResult]) -> None:
    result = run(
        """
        def test_sync(aiotrio_loop):
            pass
        """
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*Trio fixtures can only be used by Trio tests*"])


def test_autojump_clock_moves_asyncio_time(run: Callable[..., pytest.RunResult]) -> None:
    result = run(
        """
        import asyncio, time
        import pytest, trio
        import aiotrio

        @pytest.mark.trio
        async def test_an_hour(autojump_clock, aiotrio_loop):
            started = time.monotonic()
            trio_before, asyncio_before = trio.current_time(), aiotrio_loop.time()
            await aiotrio.run_asyncio(asyncio.sleep, 3600)

            async def times_out():
                async with asyncio.timeout(600):
                    await asyncio.Event().wait()

            with pytest.raises(TimeoutError):
                await aiotrio.run_asyncio(times_out)
            assert trio.current_time() - trio_before == pytest.approx(4200)
            assert aiotrio_loop.time() - asyncio_before == pytest.approx(4200)
            assert time.monotonic() - started < 5
        """,
        "--durations=1",
        "--durations-min=0",
    )
    result.assert_outcomes(passed=1)


# -- asyncio fixtures in Trio tests -----------------------------------------------------

FIXTURES = """
import asyncio, contextvars
import pytest, trio
import aiotrio
from aiotrio.pytest_plugin import asyncio_fixture

log = []
var = contextvars.ContextVar("var", default="unset")

@pytest.fixture
def sync_value():
    return "sync"

@pytest.fixture
async def trio_value():
    await trio.sleep(0)
    return "trio"

@asyncio_fixture
async def outer(sync_value):
    task = asyncio.current_task()
    log.append(("outer setup", sync_value))
    yield "outer"
    assert asyncio.current_task() is task  # one task from setup to teardown
    log.append(("outer teardown",))

@asyncio_fixture
async def inner(outer, trio_value):
    var.set("inner")  # set in its own task: the context var stays there
    async with asyncio.timeout(60):  # holds its task across the yield
        log.append(("inner setup", outer, trio_value))
        yield outer + "+inner"
        log.append(("inner teardown", var.get()))

@asyncio_fixture
async def plain():
    await asyncio.sleep(0)
    return asyncio.get_running_loop()

@asyncio_fixture(params=[1, 2], ids=["one", "two"])
async def number(request):
    return request.param

@asyncio_fixture(name="renamed")
async def _renamed():
    return "renamed"
"""


def test_asyncio_fixtures_set_up_and_tear_down_in_order(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(
        FIXTURES
        + """
@pytest.mark.trio
async def test_fixtures(inner, plain, aiotrio_loop, renamed):
    log.append(("test", inner, renamed, var.get()))
    assert plain is aiotrio_loop

@pytest.mark.trio
async def test_params(number):
    log.append(("number", number))

def test_log():
    assert log == [
        ("outer setup", "sync"),
        ("inner setup", "outer", "trio"),
        ("test", "outer+inner", "renamed", "unset"),
        ("inner teardown", "inner"),
        ("outer teardown",),
        ("number", 1),
        ("number", 2),
    ]
""",
        "-v",
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_params?one? PASSED*", "*test_params?two? PASSED*"])


def test_asyncio_fixtures_in_trio_mode(run: Callable[..., pytest.RunResult]) -> None:
    result = run(
        FIXTURES
        + """
async def test_fixtures(inner):
    assert inner == "outer+inner"
""",
        ini=INI + "trio_mode = true\n",
    )
    result.assert_outcomes(passed=1)


def test_aiohttp_session_and_server_fixtures(run: Callable[..., pytest.RunResult]) -> None:
    pytest.importorskip("aiohttp")
    result = run(
        """
        import aiohttp
        from aiohttp import web
        import pytest, trio
        import aiotrio
        from aiotrio.pytest_plugin import asyncio_fixture

        @asyncio_fixture
        async def server_url():
            async def hello(request):
                return web.Response(text="hello from aiohttp")

            app = web.Application()
            app.router.add_get("/", hello)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            yield f"http://{host}:{port}/"
            await runner.cleanup()

        @asyncio_fixture
        async def http():
            async with aiohttp.ClientSession() as session:
                yield session

        @pytest.mark.trio
        async def test_get(http, server_url, autojump_clock):
            async with aiotrio.aio_as_trio(http.get(server_url)) as response:
                assert response.status == 200
                assert await aiotrio.aio_as_trio(response.text)() == "hello from aiohttp"
            await trio.sleep(3600)  # Trio time jumps; the session survives
        """
    )
    result.assert_outcomes(passed=1)


def test_teardown_runs_when_the_test_fails_or_is_cancelled(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(
        """
        import asyncio
        import pytest, trio
        from aiotrio.pytest_plugin import asyncio_fixture

        torn_down = []

        @asyncio_fixture
        async def resource(request):
            yield
            await asyncio.sleep(0)
            torn_down.append(request.node.name)

        @pytest.fixture
        async def crashes_in_background(nursery):
            async def crash():
                await trio.sleep(0.01)
                raise LookupError("background crash")

            nursery.start_soon(crash)
            yield

        @pytest.mark.trio
        async def test_fails(resource):
            raise AssertionError("test failed")

        @pytest.mark.trio
        async def test_cancelled(resource, crashes_in_background):
            await trio.sleep_forever()

        def test_torn_down():
            assert torn_down == ["test_fails", "test_cancelled"]
        """
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*LookupError: background crash*"])


def test_fixture_errors_name_the_fixture(run: Callable[..., pytest.RunResult]) -> None:
    result = run(
        """
        import asyncio
        import pytest
        from aiotrio.pytest_plugin import asyncio_fixture

        async def connect():
            await asyncio.sleep(0)
            raise ConnectionRefusedError("no database")

        @asyncio_fixture
        async def broken_setup():
            await connect()
            yield

        @asyncio_fixture
        async def broken_teardown():
            yield
            await asyncio.sleep(0)
            raise RuntimeError("close failed")

        @asyncio_fixture
        async def broken_value():
            await connect()

        @asyncio_fixture
        async def no_yield():
            if False:
                yield

        @asyncio_fixture
        async def two_yields():
            yield
            yield

        @pytest.mark.trio
        async def test_setup(broken_setup):
            pass

        @pytest.mark.trio
        async def test_teardown(broken_teardown):
            pass

        @pytest.mark.trio
        async def test_value(broken_value):
            pass

        @pytest.mark.trio
        async def test_no_yield(no_yield):
            pass

        @pytest.mark.trio
        async def test_two_yields(two_yields):
            pass
        """
    )
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(
        [
            "*ConnectionRefusedError: no database",
            "*in setup of asyncio fixture 'broken_setup'",
            "*RuntimeError: close failed",
            "*in teardown of asyncio fixture 'broken_teardown'",
            "*ConnectionRefusedError: no database",
            "*in asyncio fixture 'broken_value'",
            "*ValueError: asyncio fixture 'no_yield' did not yield",
            "*ValueError: asyncio fixture 'two_yields' yielded more than once",
        ]
    )
    # The asyncio code's frames are shown, the bridge's are not.
    result.stdout.fnmatch_lines(["*in broken_setup", "*in connect"])
    assert "aiotrio/_" not in result.stdout.str()
    assert "aiotrio/pytest_plugin.py" not in result.stdout.str()


def test_asyncio_fixture_rejects_non_async_functions() -> None:
    def not_async() -> None:
        pass

    with pytest.raises(TypeError, match="async generator or coroutine function"):
        asyncio_fixture(not_async)


# -- readable failures ------------------------------------------------------------------

FAILING_TRIO_TEST = """
import asyncio
import pytest
import aiotrio

async def query():
    await asyncio.sleep(0)
    raise KeyError("missing row")

async def handler():
    return await query()

@pytest.mark.trio
async def test_fails_in_asyncio_code(aiotrio_loop):
    await aiotrio.run_asyncio(handler)

@pytest.mark.trio
async def test_fails_through_the_adapter(aiotrio_loop):
    await aiotrio.aio_as_trio(handler)()
"""


def test_failure_in_asyncio_code_shows_the_asyncio_traceback(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(FAILING_TRIO_TEST)
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    for test in ("test_fails_in_asyncio_code", "test_fails_through_the_adapter"):
        section = output.split(f"_ {test} _", 1)[1].split("\n_", 1)[0]
        member = section.split("| Traceback (most recent call last):", 1)[1]
        frames = [line.split(", in ")[1] for line in member.splitlines() if ", in " in line]
        # pytest-trio's nursery wraps the error; inside, only the test and
        # the asyncio code remain.
        assert frames == [test, "handler", "query"], section
    assert "aiotrio/_" not in output


def test_errors_raised_by_aiotrio_keep_their_frames(
    run: Callable[..., pytest.RunResult],
) -> None:
    result = run(
        """
        import asyncio
        import pytest
        import aiotrio

        @pytest.mark.trio
        async def test_misuse(aiotrio_loop):
            await aiotrio.run_asyncio(asyncio.sleep(0))
        """
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*in test_misuse", "*aiotrio/_bridge.py*in run_asyncio", "*TypeError: run_asyncio()*"]
    )


def test_fulltrace_keeps_the_bridge_frames(run: Callable[..., pytest.RunResult]) -> None:
    result = run(FAILING_TRIO_TEST, "--fulltrace")
    result.assert_outcomes(failed=2)
    assert "aiotrio/_bridge.py" in result.stdout.str()


# -- pytest-asyncio tests on aiotrio -------------------------------------------------------

# A sample of what asyncio test suites do; every test also records which
# loop it ran on.
ASYNCIO_SAMPLE = """
import asyncio, contextvars, json, os, socket, sys
import pytest, pytest_asyncio

LOG = os.environ["LOOP_LOG"]
var = contextvars.ContextVar("var", default="unset")
events = []

@pytest_asyncio.fixture(autouse=True)
async def record_loop(request):
    loop = asyncio.get_running_loop()
    with open(LOG, "a") as log:
        log.write(json.dumps([request.node.name, type(loop).__module__.split(".")[0]]) + "\\n")
    yield

@pytest_asyncio.fixture
async def resource():
    var.set("from fixture")
    events.append("setup")
    await asyncio.sleep(0)
    yield "resource"
    await asyncio.sleep(0)
    events.append("teardown")

async def test_fixture_and_context(resource):
    assert resource == "resource"
    assert var.get() == "from fixture"
    assert events[-1] == "setup"

async def test_gather_and_timers():
    loop = asyncio.get_running_loop()
    order = []
    now = loop.time()
    loop.call_at(now + 0.02, order.append, "late")
    loop.call_at(now + 0.01, order.append, "early")
    loop.call_soon(order.append, "soon")
    results = await asyncio.gather(asyncio.sleep(0.03, "a"), asyncio.sleep(0, "b"))
    assert results == ["a", "b"]
    assert order == ["soon", "early", "late"]

async def test_task_group_and_cancellation():
    async def fail():
        await asyncio.sleep(0)
        raise ValueError("in group")

    sleeper_cancelled = asyncio.Event()

    async def sleeper():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            sleeper_cancelled.set()
            raise

    with pytest.raises(ExceptionGroup) as excinfo:
        async with asyncio.TaskGroup() as group:
            group.create_task(sleeper())
            group.create_task(fail())
    assert excinfo.group_contains(ValueError)
    assert sleeper_cancelled.is_set()

async def test_timeouts():
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await asyncio.Event().wait()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.Event().wait(), 0.01)

async def test_queue_lock_semaphore():
    queue = asyncio.Queue(maxsize=2)
    lock, semaphore = asyncio.Lock(), asyncio.Semaphore(2)

    async def producer():
        for i in range(10):
            await queue.put(i)
        await queue.put(None)

    async def consumer():
        items = []
        while (item := await queue.get()) is not None:
            async with lock, semaphore:
                items.append(item)
        return items

    _, items = await asyncio.gather(producer(), consumer())
    assert items == list(range(10))

async def test_tcp_streams(unused_tcp_port):
    async def echo(reader, writer):
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(echo, "127.0.0.1", unused_tcp_port)
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", unused_tcp_port)
        writer.write(b"ping\\n")
        assert await reader.readline() == b"ping\\n"
        writer.close()
        await writer.wait_closed()

async def test_datagrams():
    loop = asyncio.get_running_loop()
    received = loop.create_future()

    class Protocol(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            received.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(
        Protocol, local_addr=("127.0.0.1", 0)
    )
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"datagram", transport.get_extra_info("sockname"))
        assert await asyncio.wait_for(received, 5) == b"datagram"
    finally:
        transport.close()

async def test_sock_methods():
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        b.setblocking(False)
        await loop.sock_sendall(a, b"raw")
        assert await loop.sock_recv(b, 10) == b"raw"

async def test_subprocess():
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "print(6 * 7)", stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    assert stdout == b"42\\n"
    assert process.returncode == 0

async def test_threads_and_executor():
    loop = asyncio.get_running_loop()
    assert await asyncio.to_thread(sum, [1, 2, 3]) == 6
    assert await loop.run_in_executor(None, max, 4, 5) == 5

async def test_async_generators():
    async def numbers():
        for i in range(3):
            await asyncio.sleep(0)
            yield i

    assert [i async for i in numbers()] == [0, 1, 2]

@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop_first():
    global module_loop
    module_loop = asyncio.get_running_loop()

@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop_second():
    assert asyncio.get_running_loop() is module_loop

class TestClassScope:
    @pytest.mark.asyncio(loop_scope="class")
    async def test_one(self):
        type(self).loop = asyncio.get_running_loop()

    @pytest.mark.asyncio(loop_scope="class")
    async def test_two(self):
        assert asyncio.get_running_loop() is type(self).loop
"""
SAMPLE_TESTS = 15
AUTO_INI = INI + "asyncio_mode = auto\n"


def loops_used(log: Path) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for line in log.read_text().splitlines():
        name, module = json.loads(line)
        used.setdefault(name, set()).add(module)
    return used


@pytest.mark.parametrize("how", ["option", "ini"])
def test_asyncio_tests_run_under_both_loops(
    run: Callable[..., pytest.RunResult],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    how: str,
) -> None:
    needs_pytest_asyncio()
    log = tmp_path / "loops.jsonl"
    monkeypatch.setenv("LOOP_LOG", str(log))
    if how == "option":
        result = run(ASYNCIO_SAMPLE, "--aiotrio-asyncio=both", "-v", ini=AUTO_INI)
    else:
        result = run(ASYNCIO_SAMPLE, "-v", ini=AUTO_INI + "aiotrio_asyncio = both\n")
    result.assert_outcomes(passed=2 * SAMPLE_TESTS)
    used = loops_used(log)
    assert len(used) == 2 * SAMPLE_TESTS
    for name, modules in used.items():
        expected = "aiotrio" if name.endswith("[aiotrio]") else "asyncio"
        assert modules == {expected}, name
    result.stdout.fnmatch_lines(["*test_subprocess?asyncio? PASSED*"])
    result.stdout.fnmatch_lines(["*test_subprocess?aiotrio? PASSED*"])


def test_only_aiotrio_keeps_test_names(
    run: Callable[..., pytest.RunResult],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    needs_pytest_asyncio()
    log = tmp_path / "loops.jsonl"
    monkeypatch.setenv("LOOP_LOG", str(log))
    result = run(ASYNCIO_SAMPLE, "--aiotrio-asyncio=aiotrio", ini=AUTO_INI)
    result.assert_outcomes(passed=SAMPLE_TESTS)
    used = loops_used(log)
    assert "test_subprocess" in used
    assert set().union(*used.values()) == {"aiotrio"}


def test_off_by_default_and_inert(
    run: Callable[..., pytest.RunResult],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    needs_pytest_asyncio()
    log = tmp_path / "loops.jsonl"
    monkeypatch.setenv("LOOP_LOG", str(log))
    result = run(
        ASYNCIO_SAMPLE
        + """
def test_plugin_registered_nothing(pytestconfig):
    import asyncio
    assert pytestconfig.pluginmanager.has_plugin("aiotrio")
    assert not pytestconfig.pluginmanager.has_plugin("aiotrio-asyncio-loop-factories")
    assert asyncio.new_event_loop.__module__ == "asyncio.events"
""",
        ini=AUTO_INI,
    )
    result.assert_outcomes(passed=SAMPLE_TESTS + 1)
    assert set().union(*loops_used(log).values()) == {"asyncio"}


def test_both_keeps_other_loop_factories(
    run: Callable[..., pytest.RunResult], pytester: pytest.Pytester
) -> None:
    needs_pytest_asyncio()
    pytester.makeconftest(
        """
        import asyncio

        class CustomLoop(asyncio.SelectorEventLoop):
            pass

        def pytest_asyncio_loop_factories(config, item):
            return {"custom": CustomLoop}
        """
    )
    result = run(
        """
        import asyncio

        async def test_loop():
            print("ran on", type(asyncio.get_running_loop()).__name__)
        """,
        "--aiotrio-asyncio=both",
        "-v",
        "-s",
        ini=AUTO_INI,
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*test_loop?custom? ran on CustomLoop*", "*test_loop?aiotrio? ran on EventLoop*"]
    )


def test_failures_read_the_same_on_both_loops(run: Callable[..., pytest.RunResult]) -> None:
    needs_pytest_asyncio()
    result = run(
        """
        import asyncio

        async def lookup(key):
            await asyncio.sleep(0)
            return {"a": 1}[key]

        async def test_fails():
            assert await lookup("a") == 1
            await lookup("b")
        """,
        "--aiotrio-asyncio=both",
        ini=AUTO_INI,
    )
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    stock = output.split("_ test_fails[asyncio] _", 1)[1].split("_ test_fails[aiotrio] _")[0]
    ours = output.split("_ test_fails[aiotrio] _", 1)[1].split("short test summary")[0]
    assert stock.strip("_\n =") == ours.strip("_\n =")
    assert "in lookup" in ours or "lookup(key)" in ours
    assert "aiotrio" not in ours


def test_bad_mode_and_missing_pytest_asyncio(run: Callable[..., pytest.RunResult]) -> None:
    result = run("def test_nothing(): pass\n", ini=INI + "aiotrio_asyncio = sometimes\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*aiotrio_asyncio must be one of off, aiotrio, both*"])
    result = run(
        "def test_nothing(): pass\n",
        "-p",
        "no:asyncio",
        "--aiotrio-asyncio=both",
        ini="[pytest]\n",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--aiotrio-asyncio=both needs pytest-asyncio >= 1.4*"])
