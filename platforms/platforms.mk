# platforms/platforms.mk - packages for the grading platforms; the Makefile includes this file.
#   make gradescope [EXERCISES="rlock"] [GRADE_FLAGS=...] [GRADER_TIMEOUT=540]  build/gradescope.zip
#   make autolab    [EXERCISES="rlock"] [GRADE_FLAGS=...] [GRADER_TIMEOUT=540]  build/autograde.tar
#                                                                     and build/autograde-Makefile
#   make test-platforms   tools/test-platforms: every integration, end to end, on this machine
# GitHub Classroom needs no package: platforms/github-classroom/README.md.
# What goes in a package and why: platforms/package. Instructors: docs/instructor-guide.md.

GRADESCOPE_ZIP ?= $(BUILD)/gradescope.zip
AUTOLAB_TAR    ?= $(BUILD)/autograde.tar
GRADER_TIMEOUT ?= 540
PLATFORM_ENV    = EXERCISES="$(EXERCISES)" GRADE_FLAGS="$(GRADE_FLAGS)" GRADER_TIMEOUT="$(GRADER_TIMEOUT)"

.PHONY: gradescope autolab test-platforms

# The student handout (make handout) ships this file but not the scripts: say so there.
ifneq ($(wildcard platforms/package),)
gradescope:
	$(Q)command -v zip >/dev/null && command -v jq >/dev/null || tools/ensure-deps platforms
	$(Q)$(PLATFORM_ENV) platforms/package gradescope "$(GRADESCOPE_ZIP)"

autolab:
	$(Q)command -v jq >/dev/null || tools/ensure-deps platforms
	$(Q)$(PLATFORM_ENV) platforms/package autolab "$(AUTOLAB_TAR)"

test-platforms:
	$(Q)tools/test-platforms
else
gradescope autolab test-platforms:
	@echo "make $@: only in the instructor kit (this kit has no platforms/package)"; exit 2
endif
