# CWMB — the two commands a user needs:  `make bench METHOD=gif-mcts`  and  `make test`.
# A fresh clone needs only Python 3.11+ and make: `setup` bootstraps uv into .tools/ and
# installs the locked dependencies into .venv/.

PYTHON ?= python3
UV := .tools/bin/uv
RUN := $(UV) run --frozen
METHOD ?= gif-mcts
ENVS ?=
SEEDS ?= 1
BUDGET ?=
MODEL ?=
MODEL_BASE_URL ?=
DESCRIPTIONS ?=
QUICK ?=
OUT ?= results
JOBS ?= 1
PYTEST_ARGS ?=
ISOLATION ?=
RUN_DIR ?=
# The method's options, space-separated KEY=VALUE pairs (see README, Method options).
METHOD_ARGS ?=
ABLATION_OUT ?= $(OUT)/ablation
# Sampling of every LLM call (empty: the paper's Llama 3 settings, see README).
TEMPERATURE ?=
TOP_P ?=
TOP_K ?=
MAX_TOKENS ?=

.PHONY: setup setup-local test test-fast lint format perf image image-if-docker bench ablation report speed verify collect baselines clean

# $(call timed,WHAT,COMMAND): say what a setup step does, run it, say how long it took.
define timed
	@echo "cwmb setup: $(1) ..."; start=$$(date +%s); $(2) || exit $$?; \
	echo "cwmb setup: $(1): done in $$(( $$(date +%s) - start )) s"
endef

$(UV):
	$(call timed,bootstrapping uv into .tools/,$(PYTHON) -m venv .tools && \
		.tools/bin/pip install --quiet --disable-pip-version-check uv==0.13.9)

# uv keeps every download and every wheel it built in its cache (`.tools/bin/uv cache dir`).
# The offline attempt installs from that cache alone, so a wheel built once is reused even where
# the index's answers carry no caching headers (then an online sync would fetch the source again,
# as a new revision, and rebuild it); it fails fast when something is missing, and the online
# sync fetches that.
SYNC = $(UV) sync --frozen --offline --quiet $(1) 2>/dev/null || $(UV) sync --frozen $(1)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(call timed,installing the locked dependencies into .venv/,$(call SYNC,))
	@touch $@

# The embedded LLM: llama-cpp-python builds from source the first time (about 6 minutes on 2
# cores); later setups, in this clone or another, reuse the wheel from uv's cache in seconds.
.venv/.synced-local: pyproject.toml uv.lock | $(UV)
	@echo "cwmb setup: (without a cached build, llama-cpp-python compiles now: about 6 minutes)"
	$(call timed,installing the locked dependencies and the embedded LLM into .venv/,$(call \
		SYNC,--extra local))
	@touch $@ .venv/.synced

setup: .venv/.synced
setup-local: .venv/.synced-local

test: setup-local image-if-docker
	$(RUN) pytest $(PYTEST_ARGS)

test-fast: setup
	$(RUN) pytest -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(RUN) ruff check cwmb runners analysis tests
	$(RUN) ruff format --check cwmb runners analysis tests
	$(RUN) mypy

format: setup
	$(RUN) ruff format cwmb runners analysis tests
	$(RUN) ruff check --fix cwmb runners analysis tests

perf: setup-local
	$(RUN) python -m cwmb.perf

# What every bench of a make target shares (the method and where results go aside).
BENCH_ARGS = --seeds $(SEEDS) --jobs $(JOBS) \
		$(if $(ENVS),--envs $(ENVS)) $(if $(BUDGET),--budget $(BUDGET)) \
		$(if $(MODEL),--model $(MODEL)) $(if $(MODEL_BASE_URL),--model-base-url $(MODEL_BASE_URL)) \
		$(if $(QUICK),--quick) $(if $(ISOLATION),--isolation $(ISOLATION)) \
		$(if $(TEMPERATURE),--temperature $(TEMPERATURE)) $(if $(TOP_P),--top-p $(TOP_P)) \
		$(if $(TOP_K),--top-k $(TOP_K)) $(if $(MAX_TOKENS),--max-tokens $(MAX_TOKENS)) \
		$(if $(DESCRIPTIONS),--descriptions $(DESCRIPTIONS)) \
		$(if $(JOB_TIMEOUT),--job-timeout $(JOB_TIMEOUT))

# The main job. Builds the project image first when a Docker engine answers.
bench: setup-local image-if-docker
	$(RUN) cwmb bench --method $(METHOD) --out $(OUT) $(BENCH_ARGS) \
		$(foreach arg,$(METHOD_ARGS),--method-arg $(arg))

# The paper's Table 6: GIF-MCTS in full, without generate, without improve, without fixes; one
# run each under $(ABLATION_OUT), then one report that sets them side by side.
ablation: setup-local image-if-docker
	for variant in "" allow_generate=false allow_improve=false max_fixes=0; do \
		$(RUN) cwmb bench --method gif-mcts --out $(ABLATION_OUT) $(BENCH_ARGS) \
			$${variant:+--method-arg $$variant} || exit 1; \
	done
	$(RUN) cwmb report $(ABLATION_OUT)

# The report of RUN (default: the newest run under $(OUT)).
report: setup
	$(RUN) cwmb report $(if $(RUN_DIR),$(RUN_DIR),$$(ls -td $(OUT)/*/ | head -n 1))

# The project image, built without a container registry (debootstrap base + host wheelhouse).
# On a connected machine a plain `docker build .` builds the same image.
image: $(UV)
	bash image/build-image.sh

image-if-docker:
	@if docker info >/dev/null 2>&1; then $(MAKE) image; \
	else echo "no Docker engine: jobs will run as local processes (weaker isolation)"; fi

# The paper's Table 8 on one environment: make speed ENV=CartPole-v1 [MODEL=...]
speed: setup-local
	$(RUN) cwmb speed --env $(if $(ENV),$(ENV),CartPole-v1) $(if $(MODEL),--model $(MODEL)) $(if $(MODEL_BASE_URL),--model-base-url $(MODEL_BASE_URL))

verify: setup
	$(RUN) cwmb verify

collect: setup
	$(RUN) cwmb collect $(if $(ENVS),$(ENVS),all)

baselines: setup
	$(RUN) cwmb baselines $(if $(ENVS),$(ENVS),all)

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache .tox
