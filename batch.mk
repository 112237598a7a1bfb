# batch.mk - instructor runs (docs/batch.md), included at the end of the Makefile:
#   make grade-all SUBMISSIONS=dir [JOBS=n] [OUT=dir] [EXERCISES="a b"] [RESUME=0] [GRADE_TIMEOUT=s]
#   make handout        build/threadlab-handout.tar.gz, the student tarball
#   make test-batch     tests of both and of the GNU parallel recipe (tools/test-batch)
# The handout ships this file too (the Makefile includes it), with no solutions/ beside it: there
# these targets only say so, and `make grade` grades the student's own exercises/.

# JOBS and OUT have defaults in the Makefile for make test and make grade; grade-all has its own
# (one submission at a time, into build/grade-all) unless they are given.
given = $(filter-out file default undefined,$(origin $(1)))
GRADE_ALL_JOBS = $(if $(call given,JOBS),$(JOBS),1)
GRADE_ALL_OUT  = $(if $(call given,OUT),$(OUT),$(BUILD)/grade-all)

.PHONY: grade-all handout test-batch

ifneq ($(wildcard solutions/.),)
grade-all: $(GRADER)
	$(if $(strip $(SUBMISSIONS)),,$(error make grade-all: say SUBMISSIONS=dir (one folder per student)))
	$(Q)tools/grade-all --jobs "$(GRADE_ALL_JOBS)" --out "$(GRADE_ALL_OUT)" \
		$(if $(strip $(EXERCISES)),--exercises "$(EXERCISES)") \
		$(if $(filter 0 no,$(RESUME)),--no-resume) \
		$(if $(strip $(GRADE_TIMEOUT)),--timeout "$(GRADE_TIMEOUT)") "$(SUBMISSIONS)"

test-batch: $(GRADER)
	$(Q)tools/test-batch
else
grade-all handout test-batch:
	@echo "make $@: only in the instructor kit (this kit has no solutions/)"; exit 2
endif

# ---- make handout ------------------------------------------------------------------------------
# What is in it and why: docs/batch.md. In short: README.md, the Makefile and the makefiles it
# includes (never config.mak), exercises/, grader/, tests/common/, tests/<ex>/ without the
# manifest's suite.hidden_source, each manifest without its hidden TCases and hidden_source (jq),
# tools/ensure-deps (make deps), docs/<ex>.md and docs/grader.md. Built in build/handout/threadlab,
# checked (no content of solutions/, no hidden test name), then packed.
HANDOUT       := $(BUILD)/threadlab-handout.tar.gz
HANDOUT_TMP    = $(BUILD)/handout
HANDOUT_STAGE  = $(HANDOUT_TMP)/threadlab
HANDOUT_MKS    = $(filter-out config.mak %/config.mak,$(MAKEFILE_LIST))
HANDOUT_FILES  = README.md $(HANDOUT_MKS) tools/ensure-deps exercises grader tests/common \
		 $(addprefix tests/,$(ALL_EX)) $(wildcard $(ALL_EX:%=docs/%.md)) docs/grader.md
HANDOUT_JUNK   = ! -name '*.o' ! -name '*.a' ! -name '*.so' ! -name '*.gc*' ! -name '*~' \
		 ! -name '.*.sw?' ! -name '.\#*' ! -name '*.orig' ! -name '*.rej' ! -name 'core*'
HIDDEN_TCASES  = .suite.tcases[]? | select(.hidden == true)

ifneq ($(wildcard solutions/.),)
handout:
	$(Q)command -v jq >/dev/null || tools/ensure-deps test
	$(Q)rm -rf $(HANDOUT_TMP) && mkdir -p $(HANDOUT_STAGE)
	@# The hidden sources (tests/<ex>/<hidden_source>) and the names never to appear (the hidden
	@# tests' names and the hidden sources' file names).
	$(Q)for m in $(ALL_EX:%=tests/%/manifest.json); do \
		jq -r --arg d "$${m%/manifest.json}" '.suite.hidden_source // empty | "\($$d)/\(.)"' $$m || exit 1; \
	done >$(HANDOUT_TMP)/hidden-files
	$(Q)for m in $(ALL_EX:%=tests/%/manifest.json); do \
		jq -r '($(HIDDEN_TCASES) | .tests[]), (.suite.hidden_source // empty | split("/")[-1])' $$m || exit 1; \
	done | grep -v '^$$' >$(HANDOUT_TMP)/hidden-names || true
	$(Q)find $(HANDOUT_FILES) -type f $(HANDOUT_JUNK) ! -path 'tests/*/manifest.json' -print | LC_ALL=C sort | \
		grep -vxF -f $(HANDOUT_TMP)/hidden-files | xargs -d '\n' cp -p --parents -t $(HANDOUT_STAGE)
	$(Q)for m in $(ALL_EX:%=tests/%/manifest.json); do \
		jq 'del(.suite.hidden_source) | .suite.tcases |= map(select(.hidden != true))' $$m \
			>$(HANDOUT_STAGE)/$$m || exit 1; \
	done
	@# Its own checks: nothing of solutions/ (by content too), no hidden name; or no tarball.
	$(Q)cd $(HANDOUT_STAGE) && if find . -path '*/solutions*' -o -path './tests/grader*' | grep .; then \
		echo "make handout: solutions or fixtures above got into the handout" >&2; exit 1; fi
	$(Q)find $(HANDOUT_STAGE) -type f -exec sha256sum {} + | cut -c1-64 | sort -u >$(HANDOUT_TMP)/sums
	$(Q)find solutions -type f -exec sha256sum {} + | sort | join -o 1.2 - $(HANDOUT_TMP)/sums | \
		sed 's/^/make handout: a copy of this file got into the handout: /' | grep . >&2 && exit 1 || true
	$(Q)if [ -s $(HANDOUT_TMP)/hidden-names ] && grep -rlF -f $(HANDOUT_TMP)/hidden-names $(HANDOUT_STAGE) >&2; then \
		echo "make handout: a hidden test name (from $(HANDOUT_TMP)/hidden-names) is in the files above" >&2; exit 1; fi
	$(Q)tar -C $(HANDOUT_TMP) --sort=name --owner=0 --group=0 --numeric-owner -czf $(HANDOUT).tmp threadlab
	$(Q)mv -f $(HANDOUT).tmp $(HANDOUT)
	@echo "make handout: $(HANDOUT), $$(tar -tzf $(HANDOUT) | grep -vc '/$$') files," \
		"$$(grep -c . $(HANDOUT_TMP)/hidden-names) hidden names left out"
endif

# The handout has no solutions/: there `make grade` (and suite, suite-hg, driver) take the
# student's own exercises/ unless SUBMISSION is given.
ifeq ($(wildcard solutions/.),)
ifeq ($(call given,SUBMISSION),)
SUBMISSION := exercises
endif
endif
