# Every routine task of the project. `make setup` once, then `make book` / `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
JB     := $(VENV)/bin/jupyter-book
BUILD_FLAGS := -W -n --keep-going
# Extra arguments for `make lab` (ARGS="--no-browser --port 8899"); the notebooks `make reproduce` runs.
ARGS   ?=
CHAPTER ?= ch01
OUT    ?= grades
NOTEBOOKS ?= $(wildcard notebooks/*.ipynb)
PROFILE ?= full
# pytest-xdist workers for `make test`: TEST_JOBS=2 runs two (each file, so each notebook's cells, stays in one worker,
# in order). Off by default: on CI's two cores, two workers beside torch's own threads raised the notebooks' CPU
# times by up to 1.6x (ch06-cot-parity went over its 60 s budget), so the budgets would no longer measure the notebook.
TEST_JOBS ?= 0

.PHONY: setup test test-fast book book-check pdf lab reproduce exercises grade lint format clean bench-gpu bench \
	chapter test-chapter clear-outputs

setup: $(VENV)/.installed            ## create .venv and install the pinned set (constraints.txt)

# Reinstalled only when what it installs from changes: tools/deps_hash.py digests pyproject.toml's dependency lists
# and constraints.txt into $(VENV)/.deps, rewritten (new timestamp) only when the digest differs. An edit to the ruff
# or pytest settings in pyproject.toml reinstalls nothing.
$(VENV)/.installed: $(VENV)/.deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[book,test,lab,triton,course]"
	touch $@

$(VENV)/.deps: FORCE
	@mkdir -p $(VENV)
	@$(PYTHON) tools/deps_hash.py > $@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

FORCE:

test: setup                           ## lint, unit tests, notebooks under nbval, the book build (-W), the book in a browser
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest tests notebooks solutions --nbval-lax -m "not browser" -p no:cacheprovider -n $(TEST_JOBS) --dist loadfile --durations=25
	$(MAKE) book-check
	$(PY) -m pytest tests/test_browser.py -m browser -p no:cacheprovider

test-fast: setup                      ## unit tests only (no notebooks, no slow or browser tests)
	$(PY) -m pytest tests -m "not slow and not browser" -p no:cacheprovider -q

book: setup                           ## execute every notebook (cached) and build the HTML book into _build/html
	# XF_QUIET: no progress-bar widgets in the static pages; XF_RECORD_DIR: the notebooks' rows for the Reproductions page
	XF_QUIET=1 XF_RECORD_DIR="$(CURDIR)/_build/records" $(JB) build . $(BUILD_FLAGS)
	@echo "Open _build/html/index.html"

pdf: setup                            ## the whole book as one PDF, offline (no LaTeX): _build/pdf/book.pdf
	# the single-page HTML build (notebook outputs from the execution cache `make book` filled), printed by Chromium
	XF_QUIET=1 XF_RECORD_DIR="$(CURDIR)/_build/records" $(JB) build . --builder singlehtml $(BUILD_FLAGS)
	$(PY) tools/book_pdf.py _build/singlehtml _build/pdf/book.pdf

# A copy of _config.yml with execution off; local_extensions paths are relative to the config file, so made absolute.
book-check: setup                     ## build the book without executing notebooks (CI: nbval already ran them)
	mkdir -p _build
	sed -e 's/execute_notebooks: cache/execute_notebooks: "off"/' -e 's|xfbook: book/_ext|xfbook: $(CURDIR)/book/_ext|' \
	  _config.yml > _build/_config_noexec.yml
	grep -q 'execute_notebooks: "off"' _build/_config_noexec.yml && grep -q 'xfbook: /' _build/_config_noexec.yml
	$(JB) build . --config _build/_config_noexec.yml $(BUILD_FLAGS)

bench: setup                          ## CPU attention benchmark (issue 23 table: causal, b=4, h=8, d=64, n=256..16384) vs torch SDPA; writes benchmarks/results/*.json
	$(PY) benchmarks/cpu_attention.py --causal --threads 2

bench-gpu: setup                      ## time the Triton kernels on a GPU (needs CUDA + triton); writes benchmarks/results/gpu-<device>.json
	$(PY) benchmarks/gpu_kernels.py $(ARGS)

lab: setup                            ## open JupyterLab (installed by setup, the [lab] extra): make lab ARGS="--no-browser"
	# the students' settings (.jupyter/: no grading extensions); --allow-root where it runs as root (a container)
	JUPYTER_CONFIG_DIR="$(CURDIR)/.jupyter" $(VENV)/bin/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(ARGS)

# The larger runs on whatever machine this is: every experiment notebook under nbval with XF_PROFILE=$(PROFILE)
# (full: paper-sized, for a GPU; long: the paper's effect on a laptop CPU, 30 min of CPU per notebook at most), the
# records (paper-vs-book rows, CPU and wall times) in results/$(PROFILE)-<device>/ (commit them). The ci budgets are
# not enforced there. The kernels run in notebooks/, so the record folder must be an absolute path.
# XF_QUIET: no progress bars (nobody watches them, and a long cell's bar updates overflow nbval's output queue).
# A cell may run for hours on a busy machine: nbval's default 2000 s cell timeout interrupted a long run.
reproduce: setup                      ## run the experiments in a larger profile: make reproduce [PROFILE=long] [NOTEBOOKS="notebooks/ch02-*.ipynb"]
	device=$$($(PY) -c "from minitorch_xf import runtime; print(runtime.choose_device().type)") && \
	XF_QUIET=1 XF_PROFILE=$(PROFILE) XF_RECORD_DIR="$(CURDIR)/results/$(PROFILE)-$$device" \
	$(PY) -m pytest $(NOTEBOOKS) --nbval-lax --nbval-cell-timeout=14400 -p no:cacheprovider

exercises: setup                      ## regenerate exercises/ (student copies) from solutions/
	$(PY) -m minitorch_xf.checks.assign solutions exercises

grade: setup                          ## grade submissions against the reference: make grade SUBMISSIONS=folder-or.zip CHAPTER=ch01 [OUT=grades]
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder-or.zip [CHAPTER=ch01] [OUT=grades]"; exit 2; }
	$(PY) -m minitorch_xf.checks.grade "$(SUBMISSIONS)" --chapter $(CHAPTER) --out $(OUT) $(ARGS)

lint: setup                           ## ruff, and the checks that cannot fail (tools/static_asserts.py)
	$(PY) -m ruff check .
	$(PY) tools/static_asserts.py

format: setup                         ## format and fix the code and notebooks, then regenerate exercises/ from solutions/
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .
	$(PY) -m minitorch_xf.checks.assign solutions exercises

clear-outputs: setup                  ## clear the outputs of notebooks/ and solutions/ (commit notebooks without them)
	$(PY) tools/clear_outputs.py

# A new chapter: every file written, formatted, tagged and registered (tools/new_chapter.py says which).
NN    ?=
SLUG  ?=
TITLE ?=
PAPER ?=
chapter: setup                        ## start chapter NN: make chapter NN=14 SLUG=toy-pool TITLE="Mean pooling" [PAPER="Doe et al. (2030)"]
	@test -n "$(NN)" -a -n "$(SLUG)" || { echo 'usage: make chapter NN=14 SLUG=toy-pool TITLE="Mean pooling"'; exit 2; }
	$(PY) tools/new_chapter.py $(NN) $(SLUG) $(if $(TITLE),--title "$(TITLE)") $(if $(PAPER),--paper "$(PAPER)")

# One chapter, everything `make test` checks about it: lint and the static checks, its unit tests (marker chNN),
# every test parametrized by its files (notebook structure, exercises and the grader's stub-zero/solution-full run,
# the other seeds, its mutations and stubs), the repository-wide book and README checks, then its notebooks under
# nbval with the CPU budget.
test-chapter: setup                   ## test one chapter: make test-chapter NN=14
	@test -n "$(NN)" || { echo "usage: make test-chapter NN=14"; exit 2; }
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) tools/static_asserts.py
	$(PY) -m pytest tests -m "ch$(NN)" -p no:cacheprovider -q
	$(PY) -m pytest tests -k "ch$(NN)" -p no:cacheprovider -q
	$(PY) -m pytest tests/test_book.py tests/test_results.py tests/test_contributing.py tests/test_public_surface.py \
	  tests/test_exercises.py -m "not slow" -p no:cacheprovider -q
	$(PY) -m pytest notebooks/ch$(NN)-*.ipynb solutions/ch$(NN)-*.ipynb --nbval-lax -p no:cacheprovider

clean:
	rm -rf _build .pytest_cache .ruff_cache
