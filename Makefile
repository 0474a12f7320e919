# make install | train | test | tensorboard | clean
#   make train DATA=../shared/data ARGS="model=gan trainer.max_epochs=20"
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Where MNIST/raw/ lives: the shared offline copy when it is beside the checkout, else ./data (downloaded).
DATA ?= $(if $(wildcard ../shared/data/MNIST/raw),../shared/data,data)
ARGS ?=
# The torch wheels: CPU is enough for everything here; a CUDA build is used the same way.
TORCH ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install train test tensorboard clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(TORCH)
	$(PY) -m pip install -e ".[dev]"
	touch $@

train: install
	$(PY) train.py data.root=$(DATA) $(ARGS)

test: install
	GAN_DIGITS_DATA=$(DATA) $(PY) -m pytest -q $(ARGS)

tensorboard: install
	$(VENV)/bin/tensorboard --logdir outputs

clean:
	rm -rf outputs multirun .pytest_cache $(VENV) *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
