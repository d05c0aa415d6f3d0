"""Run CPython's test_asyncio against aiotrio on this interpreter; print the table.

    python conformance/run.py [--modes a,b] [--jobs 2] [--module test_tasks ...]
    python conformance/run.py --baseline      # stock asyncio, writes baseline/<py>.json

Each (module, mode) runs in its own worker process (worker.py), at most
--jobs at a time. A hung test ends its worker (per-test faulthandler
timeout); the module is restarted after it. A module that overruns its
budget is killed, and its unfinished tests count as failed.

Exit status: 0 when every in-scope test is passed, skipped, expected to fail
(expected_failures.txt), fails on stock asyncio too (baseline), or cannot run
in mode (b) for a stated reason; 1 otherwise (the problems are listed).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import datetime
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance import report, scope
from conformance.expectations import ExpectationSet, parse
from conformance.report import ModuleRun, RunSummary

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"
EXPECTED = HERE / "expected_failures.txt"
BASELINE_DIR = HERE / "baseline"
RESULTS_DIR = HERE / "results"
PYTHON = "{}.{}".format(*sys.version_info[:2])

#: Tests on the list as ``kind=hang`` get this timeout instead of --timeout.
HANG_TIMEOUT = 10.0
#: Modules that take longest go first, so two workers finish together.
_SLOW_FIRST = (
    "test_tasks",
    "test_events",
    "test_subprocess",
    "test_futures",
    "test_taskgroups",
    "test_streams",
    "test_sendfile",
    "test_ssl",
    "test_base_events",
    "test_unix_events",
    "test_sslproto",
    "test_sock_lowlevel",
    "test_queues",
    "test_locks",
)


def discover_modules() -> list[str]:
    package = importlib.import_module("test.test_asyncio")
    directory = Path(package.__file__).parent
    return sorted(p.stem for p in directory.glob("test_*.py"))


def _read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a crash
            break
    return events


def run_module(
    module: str,
    mode: str,
    loop: str,
    workdir: Path,
    *,
    timeout: float,
    timeouts_file: Path,
    budget: float,
    plan_only: bool = False,
    not_applicable: dict[str, str] | None = None,
) -> ModuleRun:
    """Run one module in worker processes until every planned test has a record."""
    run = ModuleRun(module, mode)
    tag = f"{module}.{mode}"
    log = workdir / f"{tag}.log"
    cwd = workdir / f"cwd-{tag}"
    cwd.mkdir(exist_ok=True)
    started = time.monotonic()
    done = 0  # planned tests with a record (or hung)
    attempt = 0
    while True:
        attempt += 1
        out = workdir / f"{tag}.{attempt}.jsonl"
        hang = workdir / f"{tag}.{attempt}.hang"
        command = [
            sys.executable,
            "-X",
            "faulthandler",
            str(WORKER),
            "--module",
            module,
            "--mode",
            mode,
            "--loop",
            loop,
            "--out",
            str(out),
            "--hang-file",
            str(hang),
            "--skip",
            str(done),
            "--timeout",
            str(timeout),
            "--timeouts",
            str(timeouts_file),
        ]
        if plan_only:
            command.append("--plan-only")
        if not_applicable:
            na_file = workdir / f"{tag}.not-applicable.json"
            na_file.write_text(json.dumps(not_applicable))
            command += ["--not-applicable", str(na_file)]
        remaining = budget - (time.monotonic() - started)
        with log.open("a") as log_stream:
            process = subprocess.Popen(
                command,
                stdout=log_stream,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                start_new_session=True,
            )
            try:
                returncode: int | None = process.wait(timeout=max(remaining, 1))
            except subprocess.TimeoutExpired:
                returncode = None
            # The worker's process group: also whatever it forked and left
            # behind (a ProcessPoolExecutor's workers, a hung child).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        events = _read_events(out)
        current: str | None = None
        finished = False
        for event in events:
            kind = event["ev"]
            if kind == "plan":
                run.plan = event["ids"]
                run.out_of_scope = event["out_of_scope"]
            elif kind == "start":
                current = event["id"]
            elif kind == "result":
                run.records[event["id"]] = event
                current = None
                done += 1
            elif kind == "fixture":
                if event["outcome"] == "skip":
                    run.fixture_skip = event["detail"]
                else:
                    last = event["detail"].strip().splitlines()[-1]
                    run.errors.append(f"{event['what']}: {last}")
            elif kind == "module-skip":
                run.module_skip = event["detail"]
            elif kind == "import-error":
                run.errors.append("import failed: " + event["detail"].strip().splitlines()[-1])
            elif kind == "done":
                finished = True
        if finished or (returncode is not None and current is None):
            if not finished and returncode not in (0, None):
                run.errors.append(f"worker exited with {returncode} between tests (see {log})")
            break
        if returncode is None:  # the module's budget ran out
            run.errors.append(f"module budget of {budget:.0f}s ran out; the rest did not run")
            if current is not None:
                run.records[current] = _lost(current, "timeout", "killed: module budget ran out")
            break
        if current is None:
            break
        # A test hung (faulthandler ended the worker) or crashed it: record
        # it with the stack dump, then resume after it.
        dump = hang.read_text() if hang.exists() else ""
        outcome = "timeout" if "Timeout (" in dump else "crash"
        run.records[current] = _lost(current, outcome, dump or f"worker exited with {returncode}")
        done += 1
        if done >= len(run.plan):
            break
    # Tests a setUpModule/setUpClass skip kept from running are skips, not failures.
    skip_reason = run.fixture_skip
    if skip_reason is not None:
        for test_id in run.plan:
            run.records.setdefault(
                test_id, {"id": test_id, "outcome": "skip", "detail": skip_reason, "loop": "none"}
            )
    run.seconds = time.monotonic() - started
    return run


def _lost(test_id: str, outcome: str, detail: str) -> dict[str, Any]:
    return {"id": test_id, "outcome": outcome, "loop": "none", "detail": detail[-3000:]}


DIRECT = "drives an event loop object itself (run_until_complete/run_forever)"
NO_LOOP = "runs no asyncio code on a loop"


def not_applicable_in_b(a_run: ModuleRun) -> dict[str, str]:
    """Mode (b) runs only tests that mode (a) saw run loops through asyncio.Runner."""
    reasons = {}
    for test_id in a_run.plan:
        reason = scope.mode_b_reason(test_id)
        record = a_run.records.get(test_id, {})
        if reason is None and record.get("outcome") != "skip":
            shape = record.get("shape")
            if shape in ("direct", "mixed"):
                reason = DIRECT
            elif shape == "none":
                reason = NO_LOOP
        if reason is not None:
            reasons[test_id] = reason
    return reasons


def load_baseline() -> dict[str, Any]:
    path = BASELINE_DIR / f"{PYTHON}.json"
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def write_baseline(runs: list[ModuleRun]) -> Path:
    """The stock loop's results: only what did not pass, plus totals."""
    failing: dict[str, str] = {}
    skipped: dict[str, str] = {}
    passed = 0
    for run in runs:
        for test_id in run.plan:
            record = run.records.get(test_id, {"outcome": "not-run", "detail": ""})
            if record["outcome"] in ("pass", "native-xfail"):
                passed += 1
            elif record["outcome"] == "skip":
                skipped[test_id] = record.get("detail", "")
            else:
                lines = (record.get("detail") or "").strip().splitlines()
                failing[test_id] = f"{record['outcome']}: {lines[-1] if lines else ''}"[:200]
    data = {
        "python": sys.version.split()[0],
        "recorded": datetime.date.today().isoformat(),
        "passed": passed,
        "failing": dict(sorted(failing.items())),
        "skipped": dict(sorted(skipped.items())),
    }
    BASELINE_DIR.mkdir(exist_ok=True)
    path = BASELINE_DIR / f"{PYTHON}.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def render(summaries: list[RunSummary], baseline: dict[str, Any], seconds: float) -> str:
    aiotrio = importlib.import_module("aiotrio")
    lines = [
        f"# test_asyncio on aiotrio: Python {sys.version.split()[0]}",
        "",
        f"aiotrio {aiotrio.__version__}; recorded {datetime.date.today().isoformat()} "
        f"in {seconds:.0f}s. Categories and pass % are defined in "
        "`conformance/report.py`; see `conformance/README.md`.",
        "",
        "Mode a: each test drives its loops itself (`run_until_complete`), "
        "as CPython's suite does. "
        "Mode b: each test runs inside `trio.run`, its `asyncio.Runner`s "
        "(`asyncio.run`, `IsolatedAsyncioTestCase`) served by `aiotrio.open_loop()` blocks.",
        "",
        report.totals_table(summaries),
    ]
    if baseline:
        total = baseline["passed"] + len(baseline["failing"])
        lines += [
            "",
            f"Stock asyncio on this machine (baseline {baseline['recorded']}, same runner, "
            f"in-scope tests): {baseline['passed']} passed, {len(baseline['failing'])} failed, "
            f"{len(baseline['skipped'])} skipped"
            + (f" ({100 * baseline['passed'] / total:.1f}%)." if total else "."),
        ]
    for summary in summaries:
        lines += ["", f"## Mode {summary.mode}", "", report.module_table(summary)]
        if summary.na_reasons:
            lines += ["", "Not applicable to mode b:", ""]
            lines += [
                f"- {count} tests: {reason}" for reason, count in summary.na_reasons.most_common()
            ]
        xfails = sorted((t, v.note) for t, v in summary.verdicts.items() if v.category == "xfail")
        if xfails:
            lines += ["", f"Expected failures ({len(xfails)}, from expected_failures.txt):", ""]
            lines += [f"- `{test_id}`: {note}" for test_id, note in xfails]
        skips = collections.Counter(
            v.note or "" for v in summary.verdicts.values() if v.category == "skipped"
        )
        if skips:
            lines += ["", f"Skipped by CPython's own conditions ({sum(skips.values())}):", ""]
            lines += [f"- {count} tests: {reason}" for reason, count in skips.most_common()]
        if summary.problems:
            lines += ["", f"Problems ({len(summary.problems)}):", ""]
            lines += [f"- `{test_id}`: {problem}" for test_id, problem in summary.problems]
    if summaries:
        lines += ["", "## Out of scope", "", report.out_of_scope_table(summaries[0])]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", default="a,b")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--module", action="append", default=[], help="only these modules")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="run the stock loop (mode a) and write baseline/<python>.json",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="per-test timeout (s)")
    parser.add_argument("--budget", type=float, default=300.0, help="per-module budget (s)")
    parser.add_argument("--workdir", type=Path, help="logs and records (default: a temp dir)")
    parser.add_argument("--no-write", action="store_true", help="do not write results/")
    args = parser.parse_args()

    loop = "stock" if args.baseline else "aiotrio"
    modes = ["a"] if args.baseline else args.modes.split(",")
    modules = args.module or discover_modules()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"aiotrio-conformance-{PYTHON}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    entries = parse(EXPECTED)
    timeouts = {}
    for mode in modes:
        for entry in ExpectationSet(entries, PYTHON, mode).entries:
            if entry.kind == "hang":
                timeouts[entry.pattern] = HANG_TIMEOUT
    timeouts_file = workdir / "timeouts.json"
    timeouts_file.write_text(json.dumps(timeouts))

    # Mode (b) of a module waits for its mode (a): that tells which tests have
    # the shape to run inside Trio.
    first = sorted(
        modules, key=lambda m: (_SLOW_FIRST.index(m) if m in _SLOW_FIRST else len(_SLOW_FIRST), m)
    )
    started = time.monotonic()
    print(
        f"conformance {PYTHON}: {len(modules)} modules, modes {','.join(modes)} "
        f"({loop} loop), logs in {workdir}",
        flush=True,
    )
    lock = threading.Lock()
    futures: list[concurrent.futures.Future[ModuleRun]] = []

    def job(module: str, mode: str, not_applicable: dict[str, str] | None) -> ModuleRun:
        result = run_module(
            module,
            mode,
            loop,
            workdir,
            timeout=args.timeout,
            timeouts_file=timeouts_file,
            budget=args.budget,
            plan_only=module in scope.OUT_OF_SCOPE_MODULES,
            not_applicable=not_applicable,
        )
        with lock:
            failing = sum(
                r["outcome"] in report.FAILING and not r.get("refused")
                for r in result.records.values()
            )
            print(
                f"  {PYTHON} {mode} {module}: {len(result.plan)} tests, "
                f"{failing} failing, {result.seconds:.0f}s",
                flush=True,
            )
            if mode == "a" and "b" in modes and module not in scope.OUT_OF_SCOPE_MODULES:
                futures.append(pool.submit(job, module, "b", not_applicable_in_b(result)))
        return result

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        with lock:
            for module in first:
                futures.append(pool.submit(job, module, modes[0], None))
        while True:
            with lock:
                pending = [f for f in futures if not f.done()]
            if not pending:
                break
            concurrent.futures.wait(pending)
        runs = [future.result() for future in futures]
    seconds = time.monotonic() - started

    if args.baseline:
        path = write_baseline(runs)
        print(f"wrote {path}")
        return 0

    baseline = load_baseline()
    baseline_failing: dict[str, str] = baseline.get("failing", {})
    summaries = []
    stale: set[int] = {
        e.line
        for e in entries
        if e.applies(PYTHON, modes[0]) or any(e.applies(PYTHON, m) for m in modes)
    }
    for mode in modes:
        expectations = ExpectationSet(entries, PYTHON, mode)
        summary = report.summarize(
            PYTHON, mode, [r for r in runs if r.mode == mode], expectations, baseline_failing
        )
        summaries.append(summary)
        stale -= expectations.used
    text = render(summaries, baseline, seconds)
    if stale and not args.module:
        text += (
            "\nStale expected-failure entries (match no test here): lines "
            + ", ".join(str(n) for n in sorted(stale))
            + "\n"
        )
    print(text, flush=True)
    if not args.no_write and not args.module:
        RESULTS_DIR.mkdir(exist_ok=True)
        (RESULTS_DIR / f"{PYTHON}.md").write_text(text)
    details = {f"{r.mode}:{test_id}": record for r in runs for test_id, record in r.records.items()}
    (workdir / "records.json").write_text(json.dumps(details))
    return 1 if any(s.problems for s in summaries) or (stale and not args.module) else 0


if __name__ == "__main__":
    sys.exit(main())
