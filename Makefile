# Thin wrappers; everything a fresh machine needs is set up by the targets themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
ADDR ?= 127.0.0.1:5000

.PHONY: run test lint venv clean

$(BIN)/dockyard: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/dockyard

run: venv
	$(BIN)/dockyard serve --data-dir $(DATA_DIR) --addr $(ADDR)

# Three pytest workers on two cores: the integration tests mostly wait on servers and clients.
# Each worker takes whole modules (loadscope), so module-scoped servers start once.
PYTEST := $(BIN)/pytest -q -n 3 --dist loadscope

# The tests where the blob store matters (marked ``storage``) run once more with every
# registry on S3: a moto server per pytest worker, a bucket per registry.
test: venv lint
	$(PYTEST)
	DOCKYARD_TEST_DATABASE=postgres $(PYTEST)
	DOCKYARD_TEST_STORAGE=s3 $(PYTEST) -m storage

lint: venv
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(DATA_DIR)

# Dockyard (defaults, auth on) against Debian's docker-registry with ../shared/bench/regbench.py;
# writes bench/results/latest.{json,md}. BENCH_ARGS="-- --only d_,e_" passes options through.
BENCH_ARGS ?=

.PHONY: bench bench-quick bench-memory

bench: venv
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-quick: venv
	$(BIN)/python bench/run.py --quick $(BENCH_ARGS)

# Worker RSS while a 2 GiB layer is pushed and pulled, on a filesystem and on S3 (moto);
# writes bench/results/memory-latest.*. MEMORY_ARGS="--storage filesystem --size 512" narrows it.
MEMORY_ARGS ?= --storage filesystem --storage s3

bench-memory: venv
	$(BIN)/python bench/memory.py $(MEMORY_ARGS)
