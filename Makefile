# threadlab: one flat Makefile; everything is built under build/ (make clean is rm -rf build).
# make help lists the targets. V=1 shows commands. Local overrides go in config.mak.

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Werror
PKGS     = jansson libxml-2.0 check
-include config.mak

ifeq ($(V),1)
Q =
else
Q = @
endif

BUILD      := build
GRADER     := $(BUILD)/threadlab-grade
SUBMISSION ?= solutions
OUT        ?= $(BUILD)/report
EXERCISES  ?=
EX         ?= rlock
JOBS       ?= 2
ALL_EX     := $(sort $(patsubst tests/%/manifest.json,%,$(wildcard tests/*/manifest.json)))

GRADER_SRC := $(wildcard grader/*.c)
GRADER_OBJ := $(patsubst grader/%.c,$(BUILD)/grader/%.o,$(GRADER_SRC))
TEST_LIBS   = $(shell pkg-config --libs check jansson 2>/dev/null)

.PHONY: all help deps grade suite suite-hg driver test test-full coverage bench clean

all: $(GRADER)

help:
	@echo "threadlab targets:"
	@echo "  make test                      install what is missing, build, run every test"
	@echo "  make test-full                 make test FULL=1: also the HTML report in Chromium, platforms, batch (CI)"
	@echo "  make grade [SUBMISSION=dir] [EXERCISES=\"rlock bqueue\"] [OUT=dir]"
	@echo "                                 grade a submission (default: the reference solutions)"
	@echo "  make suite EX=rlock [SUBMISSION=dir]    build and run one exercise's Check suite, verbose"
	@echo "  make suite-hg EX=rlock [SUBMISSION=dir] the same under helgrind, with its findings"
	@echo "  make driver EX=bqueue DRIVER=io_overlap [SUBMISSION=dir] [HG=1]  run one driver"
	@echo "  make coverage                  line and branch coverage of the solutions by the suites (gcovr)"
	@echo "  make bench                     benchmarks against GLib (not a test)"
	@echo "  make demo-gil                  the I/O vs CPU table with and without a GIL, measured here"
	@echo "  make grade-all SUBMISSIONS=dir [JOBS=n] [OUT=dir] [EXERCISES=...] [RESUME=0]"
	@echo "                                 grade one folder per student; OUT/gradebook.csv (docs/batch.md)"
	@echo "  make handout                   build/threadlab-handout.tar.gz, the student tarball"
	@echo "  make gradescope | make autolab build/gradescope.zip | build/autograde.tar (docs/instructor-guide.md)"
	@echo "  make test-batch | make test-platforms   the batch and platform tests alone (part of test-full)"
	@echo "  make deps                      install the Debian packages the kit needs (root) or say how"
	@echo "  make clean                     rm -rf build"
	@echo "  exercises: $(ALL_EX)"

deps:
	$(Q)tools/ensure-deps test

$(BUILD)/grader/%.o: grader/%.c grader/*.h | $(BUILD)/grader
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(CFLAGS) $(WARN) $(shell pkg-config --cflags $(PKGS)) \
		-DTL_TEST_LIBS='"$(TEST_LIBS)"' -c $< -o $@

$(GRADER): $(GRADER_OBJ)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(shell pkg-config --libs jansson libxml-2.0) -lm

$(BUILD)/grader:
	$(Q)mkdir -p $@

# Packages first: the grader itself needs jansson and libxml2 to build.
grade: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(GRADER) --kit . --submission "$(SUBMISSION)" --out "$(OUT)" \
		$(if $(strip $(EXERCISES)),--exercises "$(EXERCISES)") $(GRADE_FLAGS)

# Development helpers: build exactly what the grader builds, then run it by hand.
DEV = $(BUILD)/dev/$(notdir $(abspath $(SUBMISSION)))
suite: $(GRADER)
	$(Q)$(GRADER) --kit . --prepare --strict --submission "$(SUBMISSION)" --exercises $(EX) --out $(DEV) >/dev/null
	$(Q)cd $(DEV)/work/$(EX) && CK_VERBOSITY=normal ./check_$(EX)

suite-hg: $(GRADER)
	$(Q)$(GRADER) --kit . --prepare --strict --submission "$(SUBMISSION)" --exercises $(EX) --out $(DEV) >/dev/null
	$(Q)cd $(DEV)/work/$(EX) && rm -f hg.*.xml && CK_TIMEOUT_MULTIPLIER=20 TL_SLOWDOWN=20 CK_VERBOSITY=normal \
		valgrind --tool=helgrind --xml=yes --xml-file=hg.%p.xml --child-silent-after-fork=no ./check_$(EX); \
		rc=$$?; $(abspath $(GRADER)) --hg-summary --student-file $(EX).c --workdir "$$PWD" hg.*.xml && exit $$rc

driver: $(GRADER)
	$(Q)$(GRADER) --kit . --prepare --strict --submission "$(SUBMISSION)" --exercises $(EX) --out $(DEV) >/dev/null
	$(Q)cd $(DEV)/work/$(EX) && rm -f hg.*.xml && if [ -n "$(HG)" ]; then \
		TL_SLOWDOWN=20 valgrind --tool=helgrind --xml=yes --xml-file=hg.%p.xml ./$(DRIVER); rc=$$?; \
		$(abspath $(GRADER)) --hg-summary --student-file $(EX).c --workdir "$$PWD" hg.*.xml && exit $$rc; \
	else ./$(DRIVER); fi

# FULL=1 adds the heavier checks (the HTML report in headless Chromium, the platform and batch
# tests); CI runs make test FULL=1.
test:
	$(Q)tools/ensure-deps $(if $(FULL),full,test)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)JOBS=$(JOBS) FULL=$(FULL) tools/run-tests

test-full:
	$(Q)$(MAKE) --no-print-directory test FULL=1

coverage: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/coverage

bench:
	$(Q)tools/ensure-deps bench
	$(Q)tools/run-bench

clean:
	rm -rf $(BUILD)

include platforms/platforms.mk
include batch.mk

demo-gil: $(GRADER)
	$(Q)tools/demo-gil
