#!/usr/bin/env bash
# setup.sh: Gradescope runs this once, as root, when it builds the autograder's image from
# gradescope.zip (unpacked in /autograder/source; the base image is Ubuntu). It installs the
# packages the kit needs with the kit's own tools/ensure-deps (no apt-get at all when they are
# already there), builds the grader, and checks that the kit's tests build against the starter.
# AUTOGRADER_ROOT (default /autograder) moves the whole tree, for tests.
set -euo pipefail

AG=${AUTOGRADER_ROOT:-/autograder}
KIT=$AG/source
cd "$KIT"

# ensure-deps needs only bash and dpkg; it installs gcc, make and bubblewrap too (the grader's
# preferred sandbox, used only where it works: in an unprivileged container it usually does not,
# and the grader falls back to rlimits and an unprivileged uid).
tools/ensure-deps test
make -j"$(nproc 2>/dev/null || echo 2)" build/threadlab-grade
chmod +x run_autograder platforms/collect-submission
mkdir -p solutions   # the sandbox hides this folder, so it must exist; the zip does not ship it

# Fail the image build now, with the reason, rather than every submission later: build the
# configured exercises' suites and drivers against the starter code.
EXERCISES=""
# shellcheck source=/dev/null
[ -f threadlab.conf ] && . ./threadlab.conf
check=$KIT/build/setup-check
rm -rf "$check"
build/threadlab-grade --kit . --prepare --submission exercises ${EXERCISES:+--exercises "$EXERCISES"} \
  --out "$check" >/dev/null
rm -rf "$check"
echo "setup.sh: the grader is built and the kit's tests build here${EXERCISES:+ (exercises: $EXERCISES)}"
