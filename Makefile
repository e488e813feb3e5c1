# One virtual environment for everything; each target makes sure it exists first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv chromium screenshots test lint typecheck pytest docs demo serve bench soak fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP) chromium

# The browser tests (tests/browser) drive Debian's chromium through Playwright; never `playwright install`.
# Installed when missing (as root, as here and in CI); `apt-get update` only when the install needs it.
CHROMIUM ?= /usr/bin/chromium
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "no Chromium at $(CHROMIUM) and no root apt-get to install it: the browser tests will be skipped"; \
	else \
		echo "installing Debian's chromium for the browser tests"; \
		$(APT_INSTALL) || { apt-get update -q && $(APT_INSTALL); }; \
	fi

# The browser tests again, copying their screenshots into docs/images (the pictures of docs/browse.md).
screenshots: venv
	GOBBLER_BROWSE_SCREENSHOTS=1 $(BIN)/pytest -n 0 -q tests/browser/test_pages.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy --strict gobbler_sdk

pytest: venv
	$(BIN)/pytest -n 2

docs: venv
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

test: lint typecheck pytest docs

demo: venv
	$(BIN)/python examples/quickstart.py

# The embedded service in the foreground; options of `gobbler-sdk serve` in ARGS="--port 8080 --admin alice".
serve: venv
	$(BIN)/gobbler-sdk serve $(ARGS)

# Full benchmark (issue 5): tables on stdout, raw times in .bench/results.json; ARGS="--only a,c" etc.
# Scale (issue 12, long): ARGS="--scale" (1,000 to 100,000 files), ARGS="--scale-sizes 1000,10000 --rounds 1".
bench: venv
	$(BIN)/python -m tests.benchmarks $(ARGS)

# Long soak (issue 8): 32 clients for 30 s against one service, then a full audit; prints the figures.
# Against a real binary: GOBBLER_BINARY=/path/to/gobbler make soak (then against the embedded one too, p50/p99
# side by side). The load of issue 24: make soak SOAK_CLIENTS=64 SOAK_SECONDS=60; SOAK_RATE=0.8 paces each
# client to 0.8 operations a second, the same load for both services (0: back to back).
SOAK_SECONDS ?= 30
SOAK_CLIENTS ?= 32
SOAK_RATE ?= 0
soak: venv
	GOBBLER_SOAK_BOTH=1 GOBBLER_SOAK_SECONDS=$(SOAK_SECONDS) GOBBLER_SOAK_CLIENTS=$(SOAK_CLIENTS) GOBBLER_SOAK_RATE=$(SOAK_RATE) $(BIN)/pytest -s tests/test_soak.py

# Long differential run (issue 13) of the embedded service against GOBBLER_BINARY (required).
FUZZ_EXAMPLES ?= 200
FUZZ_STEPS ?= 40
fuzz: venv
	@test -n "$(GOBBLER_BINARY)" || (echo "make fuzz needs GOBBLER_BINARY=/path/to/gobbler" && exit 2)
	GOBBLER_DIFF_EXAMPLES=$(FUZZ_EXAMPLES) GOBBLER_DIFF_STEPS=$(FUZZ_STEPS) $(BIN)/pytest -s --timeout=0 tests/differential

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
