# aiotrio: see README.md (first two commands) and DEVELOPERS.md.
# PYTHONS: which Pythons to run (default: every supported one present; see tools/pythons.sh).
READINESS ?= selector trio
export PYTHONS READINESS

BENCH_PYTHONS ?= 3.11 3.14
COVERAGE_PYTHON ?= 3.14
export COVERAGE_PYTHON
.PHONY: demo test docs unit coverage lint integration anyio-suite trio-asyncio-suite uvicorn-suite conformance conformance-baseline bench faults soak dist changelog
demo:
	tools/demo.sh

test:
	tools/test.sh

docs:
	tools/docs.sh

# ARGS go to pytest: make unit PYTHONS=3.11 READINESS=selector ARGS="-k foo"
unit:
	tools/unit.sh $(ARGS)

# Line and branch coverage of src/aiotrio over the unit suite (3.14, both backends); htmlcov/
coverage:
	PYTHONS=$(COVERAGE_PYTHON) READINESS="selector trio" tools/unit.sh

lint:
	tools/lint.sh

integration:
	tools/integration.sh

anyio-suite:
	tools/anyio-suite.sh 3.11
	tools/anyio-suite.sh 3.14

# trio-asyncio 0.16's own tests against aiotrio.trio_asyncio (docs/how-to/migrating.md).
trio-asyncio-suite:
	for v in $${PYTHONS:-$$(tools/pythons.sh | cut -d' ' -f1)}; do tools/trio-asyncio-suite.sh $$v || exit 1; done

# uvicorn's own suite, on aiotrio and on stock asyncio in one run (~6 minutes per Python).
uvicorn-suite:
	tools/uvicorn-suite.sh 3.11
	tools/uvicorn-suite.sh 3.14

bench:
	PYTHONS="$(BENCH_PYTHONS)" tools/bench.sh

conformance:
	tools/conformance.sh

conformance-baseline:
	tools/conformance.sh --baseline

dist:
	tools/dist.sh

changelog:
	$$(tools/venv.sh 3.11 release release | xargs dirname)/towncrier build --draft --version "$$(sed -n 's/__version__ = "\(.*\)"/\1/p' src/aiotrio/_version.py)"

# The fault-injection matrix (tests/faults): short form (part of make test), and the long
# soak (50 runs per SIGINT cell, every Python in PYTHONS). FAULTS_SEED=N reproduces a run.
faults:
	tools/faults.sh short

soak:
	tools/faults.sh long
