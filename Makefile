# SPDX-License-Identifier: GPL-2.0-or-later
# Thin wrapper around meson: `make run` starts the daemon, `make test` runs every suite.
# The pytest suites are meson tests too (tests/meson.build): each writes its
# JUnit report to <build>/test-reports/<suite>.xml, and meson logs its time.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
MESON_OPTS ?=
# e2e boots real guests; set E2E=0 to leave them out of a quick local run.
E2E ?= 1

.PHONY: all deps test-deps build install run test test-asan test-fuzz docs clean

all: build

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Binaries, systemd units, man pages and docs, through meson install.
# PREFIX (default /usr/local, or what the build dir was set up with) is
# set on the build dir; DESTDIR stages the files elsewhere, for packaging:
#   make install PREFIX=/usr DESTDIR=/tmp/stage
PREFIX ?=
install: build
	$(if $(PREFIX),meson configure $(BUILD) -Dprefix=$(PREFIX) && ninja -C $(BUILD))
	meson install -C $(BUILD) --no-rebuild $(if $(DESTDIR),--destdir "$(abspath $(DESTDIR))")

run: build
	@mkdir -p run && mkdir -p -m 0700 run/exports
	@echo "hotblockd: QMP socket $(CURDIR)/run/qmp.sock, exports in $(CURDIR)/run/exports"
	@echo "           try: $(BUILD)/tools/hotblock-qmp run/qmp.sock query-version"
	exec $(BUILD)/daemon/hotblockd --qmp run/qmp.sock --export-dir run/exports

test: test-deps build
	@rm -rf $(BUILD)/test-reports && mkdir -p $(BUILD)/test-reports
	-meson test -C $(BUILD) --suite unit --print-errorlogs
	@cp $(BUILD)/meson-logs/testlog.json $(BUILD)/test-reports/unit.json 2>/dev/null || true
	-meson test -C $(BUILD) --suite integration $(if $(filter 1,$(E2E)),--suite e2e,)
	@scripts/check-docs.sh $(BUILD)
	@echo "== all suites =="
	@scripts/test-summary.py $(BUILD)/test-reports/unit.json \
		$(BUILD)/test-reports/integration.xml \
		$(if $(filter 1,$(E2E)),$(BUILD)/test-reports/e2e.xml,)

# Unit and integration suites again under ASan and UBSan: any report fails.
test-asan: test-deps
	@test -f $(ASAN_BUILD)/build.ninja || meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(ASAN_BUILD)
	@rm -rf $(ASAN_BUILD)/test-reports && mkdir -p $(ASAN_BUILD)/test-reports
	-ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs
	@cp $(ASAN_BUILD)/meson-logs/testlog.json $(ASAN_BUILD)/test-reports/unit.json 2>/dev/null || true
	-ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C $(ASAN_BUILD) --suite integration
	@echo "== sanitizer build =="
	@scripts/test-summary.py $(ASAN_BUILD)/test-reports/unit.json \
		$(ASAN_BUILD)/test-reports/integration.xml

# libFuzzer targets (clang, ASan+UBSan), each for a bounded time.
test-fuzz: test-deps
	@test -f $(FUZZ_BUILD)/build.ninja || CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Db_lundef=false
	ninja -C $(FUZZ_BUILD)
	@rm -rf $(FUZZ_BUILD)/test-reports && mkdir -p $(FUZZ_BUILD)/test-reports
	-meson test -C $(FUZZ_BUILD) --suite fuzz --print-errorlogs
	@cp $(FUZZ_BUILD)/meson-logs/testlog.json $(FUZZ_BUILD)/test-reports/fuzz.json 2>/dev/null || true
	@echo "== fuzz targets =="
	@scripts/test-summary.py $(FUZZ_BUILD)/test-reports/fuzz.json

# Refresh the committed QMP reference from the schema.
docs: build
	cp $(BUILD)/schema/qmp-reference.md docs/qmp-reference.md

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) run
