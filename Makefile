# The two set-up-and-go commands (see README.md):
#   make report   # venv + install, run every notebook on the default profile, build the report
#   make test     # venv + install, nbval on the notebooks (smoke profile), then the unit tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= default

.PHONY: report test install refresh-notebooks expected

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

report: install
	$(BIN)/python -m mmar run --profile $(PROFILE)

# nbval first: it leaves runs/nbval-smoke, on which tests/test_report.py builds a real report.
# --nbval-lax: the cells marked `# NBVAL_CHECK_OUTPUT` (the key numbers) are compared, the rest only run.
test: install
	$(BIN)/python -m pytest --nbval-lax notebooks --nbval-sanitize-with notebooks/nbval_sanitize.cfg
	$(BIN)/python -m pytest tests

# Re-execute the notebooks in place at their smoke defaults, so the stored outputs nbval compares are fresh.
refresh-notebooks: install
	cd notebooks && for nb in 0*.ipynb; do ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace $$nb || exit 1; done

# After an intended change of results: rewrite tests/expected/smoke_metrics.json from the smoke run that
# `make test` leaves in runs/nbval-smoke, and print the diff to review before committing it.
expected: install
	$(BIN)/python -m mmar expected --update
