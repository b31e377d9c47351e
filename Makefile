# sakimori — the two commands a newcomer needs are `make demo` and `make test`.
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= build/demo

.PHONY: setup demo test lint bench clean

setup:
	bash scripts/setup.sh

demo: setup
	$(BIN)/sakimori demo --out $(DEMO_DIR)

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/run.py
	$(BIN)/python bench/mail.py
	$(BIN)/python bench/beacon/run.py
	$(BIN)/python bench/real.py
	$(BIN)/python bench/web.py
	$(BIN)/python bench/url_model.py
	$(BIN)/python bench/scaleout.py

clean:
	rm -rf build .pytest_cache
