# aiotrio: see README.md (first two commands) and DEVELOPERS.md.
PYTHONS ?= 3.11 3.12 3.13 3.14 3.15
READINESS ?= selector trio
export PYTHONS READINESS

.PHONY: demo test unit lint
demo:
	tools/demo.sh

test:
	tools/test.sh

unit:
	tools/unit.sh

lint:
	tools/lint.sh
