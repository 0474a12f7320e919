# make install | train | test | bench | bench-quality | tensorboard | clean
#   make train DATA=../shared/data ARGS="model=gan trainer.max_epochs=20"
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Where MNIST/raw/ lives: the shared offline copy when it is beside the checkout, else ./data (downloaded).
DATA ?= $(if $(wildcard ../shared/data/MNIST/raw),../shared/data,data)
ARGS ?=
# What `make tensorboard` shows: every single run (outputs), or e.g. LOGDIR=multirun for the sweeps.
LOGDIR ?= outputs
# The torch wheels: CPU is enough for everything here; a CUDA build is used the same way.
TORCH ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install browser train test bench bench-quality tensorboard clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(TORCH)
	$(PY) -m pip install -e ".[dev]"
	touch $@

train: install
	$(PY) train.py data.root=$(DATA) $(ARGS)

test: install browser
	GAN_DIGITS_DATA=$(DATA) $(PY) -m pytest -q $(ARGS)

# The browser the studio's tests drive headless: Chromium or Google Chrome, found by tests/headless_page.py (on the
# PATH, in macOS's /Applications, or CHROMIUM=/path). None found: Debian's chromium where apt-get is, else what to do.
browser: install
	@$(PY) tests/headless_page.py >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null || { $(PY) tests/headless_page.py; exit 1; }; \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
	  { DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null || \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium-browser >/dev/null; } && \
	  $(PY) tests/headless_page.py >/dev/null; }

bench: install
	$(PY) bench/speed.py --data $(DATA) $(ARGS)

# Quality after 8 minutes per recipe (about 10 idle minutes each): ARGS="--only cdcgan_ema dcgan_ema"
bench-quality: install
	$(PY) bench/quality.py --data $(DATA) $(ARGS)

tensorboard: install
	$(VENV)/bin/tensorboard --logdir $(LOGDIR)

# What install and test made; never the runs (outputs/, multirun/): they are results, removed by hand.
clean:
	rm -rf .pytest_cache $(VENV) *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
