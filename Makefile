# The two set-up commands are `make run` and `make test`; both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HUB_PORT ?= 8000
export HUB_PORT

.PHONY: run test lint bench bench-quick migrate demo clean chromium fonts

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

migrate: $(VENV)/.runtime
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput -v0

demo: migrate
	$(BIN)/python manage.py load_demo

run: demo
	@$(BIN)/python manage.py print_urls --port $(HUB_PORT)
	$(BIN)/python -m hub.serve --port $(HUB_PORT)

# Browser tests drive Debian's chromium with Playwright; install it when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || ( \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null )

# The weekly report's PDF prints Chinese with a CJK font from Debian (hub/followup/exports.py
# looks for Noto Sans CJK or WenQuanYi Micro Hei); install one when neither is there.
fonts:
	@test -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc \
	  || test -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || ( \
	  echo "Installing Debian's fonts-wqy-microhei for the PDF report"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null )

test: $(VENV)/.dev chromium fonts
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy hub moderation frontend streaming asgi.py

# Also measures the Redis fan-out path when a local Redis answers on 127.0.0.1:6379.
BENCH_REDIS = $$($(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 6379), 0.5); print('--redis redis://127.0.0.1:6379/0')" 2>/dev/null)

# The intake pipeline is measured on SQLite, and on PostgreSQL too when one answers on
# 127.0.0.1:5432 (in a database of its own, hub_bench_intake, made and dropped by the run).
BENCH_INTAKE_DATABASES = $$($(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 0.5); print('sqlite,postgres')" 2>/dev/null || echo sqlite)

bench: $(VENV)/.dev
	$(BIN)/python -m tests.bench.fanout --viewers 1000,5000 --rate 10 --duration 10 $(BENCH_REDIS) --out bench-report.txt
	$(BIN)/python -m tests.bench.intake_similarity --questions 100000 --queries 2000 --out bench-report-similarity.txt
	$(BIN)/python -m tests.bench.intake_pipeline --databases $(BENCH_INTAKE_DATABASES) --out bench-report-intake.txt
	$(BIN)/python -m tests.bench.streaming --viewers 1,5,10 --out bench-report-streaming.txt

bench-quick: $(VENV)/.dev
	$(BIN)/python -m tests.bench.fanout --quick --out bench-report-quick.txt

# The attacker's drill (issue 10): a real server on SQLite and one on PostgreSQL, attacked
# over HTTP and WebSocket only; the figures in var/attack-report.txt, exit 1 on a missed target.
.PHONY: drill-attack
drill-attack: $(VENV)/.dev
	$(BIN)/python -m tests.drills.attack --databases sqlite,postgres --out var/attack-report.txt

clean:
	rm -rf $(VENV) var staticfiles
