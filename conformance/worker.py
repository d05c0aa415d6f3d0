"""Run one test_asyncio module in this process and stream per-test records.

Started by run.py, one process per (module, mode), as::

    python worker.py --module test_tasks --mode a --loop aiotrio --out F.jsonl

It writes JSON lines to --out: a ``plan`` (every test id, in run order, with
out-of-scope ones and their reasons), then per test a ``start`` and a
``result`` record, fixture errors as ``fixture``, and ``done`` at the end.
Each test is armed with ``faulthandler.dump_traceback_later(exit=True)``: a
hung test dumps every thread's stack to --hang-file and ends this process;
run.py records it as a timeout and restarts the module after it (--skip).
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import json
import os
import sys
import time
import traceback
import unittest
from pathlib import Path
from typing import IO, Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance import inject, scope

PREFIX = "test.test_asyncio."
_DETAIL_CHARS = 3000


def trio_hosting() -> Any:
    """Mode (b)'s module, imported only in mode (b): it needs greenback."""
    return importlib.import_module("conformance.trio_hosting")


def short_id(test: unittest.TestCase) -> str:
    test_id = test.id()
    return test_id.removeprefix(PREFIX)


def flatten(suite: unittest.TestSuite | unittest.TestCase) -> list[unittest.TestCase]:
    if isinstance(suite, unittest.TestSuite):
        return [test for item in suite for test in flatten(item)]
    return [suite]


class Sink:
    """The JSON-lines output; flushed per record so a crash loses nothing."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, record: dict[str, Any]) -> None:
        self._stream.write(json.dumps(record) + "\n")
        self._stream.flush()


class RecordingResult(unittest.TestResult):
    """A TestResult that streams one record per test, with the loops it built."""

    def __init__(
        self,
        sink: Sink,
        timeouts: dict[str, float],
        default_timeout: float,
        hang_file: IO[str],
        mode: str,
    ) -> None:
        super().__init__()
        self._sink = sink
        self._timeouts = timeouts
        self._default_timeout = default_timeout
        self._hang_file = hang_file
        self._mode = mode
        self._record: dict[str, Any] | None = None
        self._started = 0.0

    # -- per test -----------------------------------------------------------

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        test_id = short_id(test)
        inject.LEDGER.reset()
        if self._mode == "b":
            trio_hosting().STATE.new_test()
        self._record = {"ev": "result", "id": test_id, "outcome": "pass"}
        self._sink.write({"ev": "start", "id": test_id})
        self._started = time.perf_counter()
        faulthandler.dump_traceback_later(
            self._timeouts.get(test_id, self._default_timeout),
            exit=True,
            file=self._hang_file,
        )

    def stopTest(self, test: unittest.TestCase) -> None:
        faulthandler.cancel_dump_traceback_later()
        super().stopTest(test)
        record = self._record
        if record is None:
            return
        record["seconds"] = round(time.perf_counter() - self._started, 3)
        record["loop"] = inject.LEDGER.kind()
        record["loops"] = inject.LEDGER.summary()
        record["shape"] = inject.LEDGER.shape()
        if self._mode == "b":
            state = trio_hosting().STATE
            record["hosted_runners"] = state.hosted_runners
            record["refused"] = state.refused
        self._sink.write(record)
        self._record = None

    def _set(self, outcome: str, detail: str | None = None) -> None:
        record = self._record
        if record is None:
            return
        # A failure outranks a skip or a pass; the first failure's detail is kept.
        if record["outcome"] in ("fail", "error") and outcome not in ("fail", "error"):
            return
        if record["outcome"] in ("fail", "error") and "detail" in record:
            return
        record["outcome"] = outcome
        if detail is not None:
            record["detail"] = detail[-_DETAIL_CHARS:]

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addFailure(test, err)
        self._set("fail", self._exc_info_to_string(err, test))

    def addError(self, test: unittest.TestCase, err: Any) -> None:
        super().addError(test, err)
        if self._record is None or not isinstance(test, unittest.TestCase):
            # setUpClass/setUpModule/tearDown* failed (an _ErrorHolder).
            self._sink.write(
                {
                    "ev": "fixture",
                    "what": str(test),
                    "outcome": "error",
                    "detail": self._exc_info_to_string(err, test)[-_DETAIL_CHARS:],
                }
            )
            return
        self._set("error", self._exc_info_to_string(err, test))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        if self._record is None or not isinstance(test, unittest.TestCase):
            self._sink.write(
                {"ev": "fixture", "what": str(test), "outcome": "skip", "detail": reason}
            )
            return
        if isinstance(test, unittest.case._SubTest):
            return  # one skipped subtest does not skip the test
        self._set("skip", reason)

    def addExpectedFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self._set("native-xfail")

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self._set("fail", "unexpected success of a test CPython marks @expectedFailure")

    def addSubTest(self, test: unittest.TestCase, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = "fail" if issubclass(err[0], test.failureException) else "error"
            self._set(kind, f"{subtest}\n" + self._exc_info_to_string(err, test))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--module", required=True)
    parser.add_argument("--mode", choices=("a", "b"), default="a")
    parser.add_argument("--loop", choices=("aiotrio", "stock"), default="aiotrio")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--hang-file", required=True, type=Path)
    parser.add_argument("--skip", type=int, default=0, help="planned tests already done")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--timeouts", type=Path, help="JSON {test id: seconds}")
    parser.add_argument("--only", action="append", default=[], help="run only these ids")
    parser.add_argument("--plan-only", action="store_true", help="list the tests, run none")
    parser.add_argument(
        "--not-applicable", type=Path, help="mode b: JSON {test id: why it cannot run in mode b}"
    )
    args = parser.parse_args()

    timeouts: dict[str, float] = {}
    if args.timeouts:
        timeouts = json.loads(args.timeouts.read_text())

    inject.track_loops()
    if args.loop == "aiotrio":
        inject.install_aiotrio()
        if args.mode == "b":
            trio_hosting().install()

    with args.out.open("a") as out, args.hang_file.open("a") as hang_file:
        sink = Sink(out)
        try:
            module = importlib.import_module(PREFIX + args.module)
        except unittest.SkipTest as exc:
            sink.write({"ev": "module-skip", "detail": str(exc)})
            sink.write({"ev": "done"})
            return 0
        except Exception:
            sink.write({"ev": "import-error", "detail": traceback.format_exc()})
            return 1

        tests = flatten(unittest.defaultTestLoader.loadTestsFromModule(module))
        plan: list[str] = []
        out_of_scope: dict[str, str] = {}
        runnable: list[unittest.TestCase] = []
        for test in tests:
            test_id = short_id(test)
            reason = scope.out_of_scope_reason(test_id)
            if reason is not None:
                out_of_scope[test_id] = reason
            elif not args.only or test_id in args.only:
                plan.append(test_id)
                runnable.append(test)
        if args.skip == 0:
            sink.write({"ev": "plan", "ids": plan, "out_of_scope": out_of_scope})

        if args.plan_only:
            sink.write({"ev": "done"})
            return 0
        not_applicable: dict[str, str] = {}
        if args.not_applicable:
            not_applicable = json.loads(args.not_applicable.read_text())
        result = RecordingResult(sink, timeouts, args.timeout, hang_file, args.mode)
        to_run = []
        for test in runnable[args.skip :]:
            reason = not_applicable.get(short_id(test))
            if reason is None:
                to_run.append(test)
            else:
                sink.write(
                    {
                        "ev": "result",
                        "id": short_id(test),
                        "outcome": "not-run",
                        "loop": "none",
                        "refused": reason,
                    }
                )
        unittest.TestSuite(to_run).run(result)
        sink.write({"ev": "done"})
    return 0


if __name__ == "__main__":
    status = main()
    # Leave at once: a test may have left a thread blocked on a loop that will
    # never run again, and interpreter shutdown would wait for it forever.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
