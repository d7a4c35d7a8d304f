# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install everything, run the pipeline on data/raw
#   make test   create .venv, install everything, lint, run the test suite
#   make test-fast      lint, then every test except the real Snakemake runs (marked slow)
#   make test-cluster   bring up a one-node SLURM (tests/cluster/slurm-up.sh), run the live
#                       cluster test through the SLURM executor plugin, take SLURM down again
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.neusdf-installed
CORES ?= 2
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

SLURM_DIR ?= /tmp/neusdf-slurm
# 1: a SLURM that cannot be installed or started is reported and skipped (exit 0), as in CI
SLURM_UP_OPTIONAL ?= 0

.PHONY: install run compare sweep test test-fast test-cluster lint format bench bench-pipeline bench-gt clean data

install: $(STAMP)

# pysdf is an sdist whose build downloads Eigen (fails offline): take Eigen from cmeel-eigen instead.
$(STAMP): requirements/base.txt requirements/dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) setuptools wheel cmeel-eigen pybind11
	$(PIP) -r requirements/dev.txt
	CPATH="$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/cmeel.prefix/include/eigen3" \
		$(PIP) --no-build-isolation pysdf==0.1.9
	$(PIP) --no-deps --no-build-isolation -e .
	$(PY) -c "import neusdf, pysdf, torch, numba, snakemake; print('neusdf environment ready, torch', torch.__version__)"
	touch $@

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1

# The model comparison (docs/models.md): every named model on the meshes in data/raw,
# then results/models.csv and results/plots/models.png. RAW_DIR=... runs it on other meshes.
COMPARE_MODELS ?= [hashgrid,hashgrid_tiny,hashgrid_tcnn,reference_recipe,mlp,deepsdf,densegrid,exact_grid,exact_grid_small,exact_grid_tiny]
RAW_DIR ?= data/raw
compare: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1 --config 'run_models=$(COMPARE_MODELS)' raw_dir=$(RAW_DIR)

# Accuracy against checkpoint bytes (docs/size_sweep.md): every configuration of
# bench/size_sweep.py on the default meshes, and a cross-section of them on ../shared/meshes
# (skipped when absent).
SHARED_SWEEP ?= hashgrid hashgrid_tiny hashgrid_tcnn prior_244k tcnn_943k exact_35_float16 exact_77_float16 exact_230_float32
sweep: $(STAMP)
	$(PY) bench/size_sweep.py --meshes data/raw --plot docs/size_sweep.png
	$(PY) bench/size_sweep.py --meshes ../shared/meshes --configs $(SHARED_SWEEP) --plot docs/size_sweep_shared.png

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/snakemake --lint --cores 1

test: lint
	$(BIN)/pytest -q -m "not cluster"

test-fast: lint
	$(BIN)/pytest -q -m "not slow and not cluster"

# SLURM is taken down whatever happens; the exit status is the test's (or slurm-up's).
test-cluster: $(STAMP)
	@status=0; export NEUSDF_SLURM_DIR="$(SLURM_DIR)"; \
	bash tests/cluster/slurm-down.sh; \
	if bash tests/cluster/slurm-up.sh; then \
		SLURM_CONF="$(SLURM_DIR)/etc/slurm.conf" $(BIN)/pytest -q -rs -m cluster tests/cluster \
			|| status=$$?; \
	elif [ "$(SLURM_UP_OPTIONAL)" = 1 ]; then \
		echo "test-cluster: SLURM could not be started here; live cluster test skipped"; \
	else \
		status=1; \
	fi; \
	bash tests/cluster/slurm-down.sh; \
	exit $$status

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/snakefmt Snakefile rules/

bench: $(STAMP)
	$(PY) bench/hashgrid.py

# Whole workflow on data/raw in a scratch folder: per-stage times and peak RSS, snakemake -n and
# aggregation at 1,000 objects. Other folder: make bench-pipeline BENCH_ARGS="--raw-dir DIR".
bench-pipeline: $(STAMP)
	$(PY) bench/pipeline.py $(BENCH_ARGS)

# Ground truth against the peer engines of requirements/bench.txt (installed here, bench only),
# and the cost against mesh size. Other sections: make bench-gt GT_ARGS="--sections jobs --repo DIR".
GT_ARGS ?=
bench-gt: $(STAMP)
	$(PIP) -r requirements/bench.txt
	$(PY) bench/groundtruth.py $(GT_ARGS)

data: $(STAMP)
	$(PY) -m neusdf.tools.shapes data/raw

clean:
	rm -rf results .snakemake report.html
