# The two set-up-and-go commands (see README.md):
#   make report   # venv + locked install, run every notebook on the default profile, build the book (report)
#   make test     # venv + locked install, nbval on the notebooks (smoke profile), then the unit tests
# The lock is compiled for Python 3.11: python3.11 when it is on the PATH, else python3 (`make test PYTHON=...`).
PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= default
LOCK := requirements.lock
# torch stays outside the lock (its file differs by machine: CPU build here, CUDA elsewhere): its exact pin.
TORCH := $(shell grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')
# Where torch comes from: empty for pip's default (PyPI: a CUDA build on Linux x86-64, several GB), or e.g.
# `make test TORCH_INDEX=https://download.pytorch.org/whl/cpu` for the CPU build on a machine without a GPU. It
# applies to the venvs made after it is set (remove .venv to change an existing one's torch); `make lock` does
# not install torch.
TORCH_INDEX ?=
TORCH_FROM = $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
NEWEST := .venv-newest
TOOLS := .venv-tools
OLDEST := .venv-oldest

# The unit tests run in pytest-xdist workers, one test file per worker at a time (module fixtures such as a
# built book are made once), the files marked `heavy` first (tests/conftest.py) and the others in their
# order; 2 workers suit the 2-core machines the README times. `make test TEST_WORKERS=8`
# on a larger machine; TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
UNIT_TEST_WORKERS = -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: report publish test test-default install refresh-notebooks expected lock test-newest tolerances tolerances-default

install: $(VENV)/.installed

# The locked install: torch from its pin, then exactly the lock (hashes required, no resolution), then the
# project without dependencies; `mmar lock --check` fails the install if anything differs from the lock.
$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)" $(TORCH_FROM)
	$(BIN)/pip install --quiet --no-deps --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m mmar lock --check
	touch $@

report: install
	$(BIN)/python -m mmar run --profile $(PROFILE)

# After `make report` on a committed tree: copy the default run's executed notebooks and book.pdf to
# report/default-run/ (what the repository shows a reader; tests/test_publish.py checks it is of today's notebooks).
publish: install
	$(BIN)/python -m mmar publish runs/default

# nbval first, in a fresh runs/nbval-smoke (a left-over one would lend its result files and its cached grid
# cells to this run); it leaves runs/nbval-smoke, on which tests/test_regression.py checks the result rows and
# tests/test_report.py builds a real report.
# --nbval-lax: the cells marked `# NBVAL_CHECK_OUTPUT` (the key numbers) are compared, the rest only run;
# notebooks/conftest.py compares their numbers within the measured tolerances (tests/expected/tolerances.json).
test: install
	rm -rf runs/nbval-smoke
	$(BIN)/python -m pytest --nbval-lax notebooks --nbval-sanitize-with notebooks/nbval_sanitize.cfg
	$(BIN)/python -m pytest tests $(UNIT_TEST_WORKERS)

# nbval on the published default run (report/default-run/, what the repository shows a reader): its notebooks
# re-executed at their stored parameters into a fresh runs/nbval-default (not runs/default: mmar/nbval_plugin.py),
# their compared cells within the default run's measured tolerances (tests/expected/tolerances-default.json).
# About 10 minutes on 2 cores (a whole default run), so outside `make test`; .ci/run runs it after `make test`.
test-default: install
	rm -rf runs/nbval-default
	$(BIN)/python -m pytest -p mmar.nbval_plugin --nbval-lax report/default-run \
	    --nbval-sanitize-with notebooks/nbval_sanitize.cfg \
	    --mmar-tolerances tests/expected/tolerances-default.json --mmar-run-dir runs/nbval-default

# The same tests in a second venv with the newest versions pyproject.toml's ranges allow (no lock), so that
# dependency drift shows in CI before users see it. .ci/run runs it after `make test`.
test-newest:
	rm -rf $(NEWEST)
	$(PYTHON) -m venv $(NEWEST)
	$(NEWEST)/bin/pip install --quiet --upgrade pip
	$(NEWEST)/bin/pip install --quiet "$(TORCH)" $(TORCH_FROM)
	$(NEWEST)/bin/pip install --quiet --upgrade --upgrade-strategy eager -e .
	$(NEWEST)/bin/python -m mmar lock || true
	rm -rf runs/nbval-smoke
	$(NEWEST)/bin/python -m pytest --nbval-lax notebooks --nbval-sanitize-with notebooks/nbval_sanitize.cfg
	$(NEWEST)/bin/python -m pytest tests $(UNIT_TEST_WORKERS)

# Refresh the lock from pyproject.toml's ranges (pip-tools, hashes for every file); review the diff, then
# `make expected` and `make refresh-notebooks` if the numbers moved.
lock:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "pip-tools==7.7.0"
	$(TOOLS)/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
	    --unsafe-package torch --upgrade -o $(LOCK) pyproject.toml

# Measure the checks' tolerances again (about 10 minutes): the smoke notebooks under each perturbation of
# mmar/tolerances.py, one of them a venv with the oldest versions the ranges allow.
tolerances: install $(OLDEST)/.installed
	$(BIN)/python -m mmar tolerances --measure --oldest-python $(OLDEST)/bin/python

# The same for the published default run's check (make test-default): a whole default run per perturbation
# (about 80 minutes on 2 cores), into tests/expected/tolerances-default.json. After an interruption, go on with
# `.venv/bin/python -m mmar tolerances --measure --profile default --resume --oldest-python .venv-oldest/bin/python`.
tolerances-default: install $(OLDEST)/.installed
	$(BIN)/python -m mmar tolerances --measure --profile default --oldest-python $(OLDEST)/bin/python

$(OLDEST)/.installed: pyproject.toml
	$(PYTHON) -m venv $(OLDEST)
	$(BIN)/python -c "import re, tomllib; print('\n'.join(re.sub(r'\s*>=\s*', '==', d) for d in tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > $(OLDEST)/constraints.txt
	$(OLDEST)/bin/pip install --quiet "$(TORCH)" $(TORCH_FROM)
	$(OLDEST)/bin/pip install --quiet -c $(OLDEST)/constraints.txt -e .
	touch $@

# Re-execute the notebooks in place at their smoke defaults, so the stored outputs nbval compares are fresh.
refresh-notebooks: install
	cd notebooks && for nb in 0*.ipynb; do ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace $$nb || exit 1; done

# After an intended change of results: rewrite tests/expected/smoke_metrics.json from the smoke run that
# `make test` leaves in runs/nbval-smoke, and print the diff to review before committing it.
expected: install
	$(BIN)/python -m mmar expected --update
