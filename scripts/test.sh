#!/usr/bin/env bash
# The whole check, as CI runs it: setup, release build, fixtures, integration tests, fmt, clippy.
# Works from any directory. Ends with the failed tests (if any), the fmt/clippy status and one line
# `N passed, N failed`: the sum of cargo's `test result:` lines.
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SCOPE_ROOT"

step() { printf '\n==> %s\n' "$*" >&2; }

step "setup"
bash scripts/setup.sh

# As root (CI) the simulated cluster and the test Slurm must come up: a test that cannot make
# them fails instead of printing SKIPPED and passing.
if [ "$(id -u)" -eq 0 ]; then
    export SCOPE_REQUIRE_CLUSTER="${SCOPE_REQUIRE_CLUSTER:-1}" SCOPE_REQUIRE_SLURM="${SCOPE_REQUIRE_SLURM:-1}"
fi

# Two shared cores: keep the build from starving everything else.
JOBS="${SCOPE_JOBS:-2}"

step "cargo build --release"
cargo build --release --workspace -j "$JOBS"

# The aarch64 agent (.cargo/config.toml: Debian's cross gcc links it), for the tests that run
# aarch64 programs under qemu-user (tests/src/aarch64.rs).
step "cargo build --release --target aarch64-unknown-linux-gnu -p scope-agent"
cargo build --release --target aarch64-unknown-linux-gnu -p scope-agent -j "$JOBS"

step "fixtures -> $SCOPE_FIXTURES"
bash tests/fixtures/build.sh "$SCOPE_FIXTURES"

# Tests, fmt and clippy all run even when one fails; the script fails if any did.
mkdir -p target
log=target/test-output.txt

step "cargo test --release --workspace"
test_status=0
cargo test --release --workspace -j "$JOBS" --no-fail-fast 2>&1 | tee "$log" || test_status=$?

# The agent's unit tests again, built for aarch64 and run under qemu-user (the runner in
# .cargo/config.toml): the aarch64 back end's encoders, relocation and stub template.
step "cargo test --release --target aarch64-unknown-linux-gnu -p scope-agent --lib"
cargo test --release --target aarch64-unknown-linux-gnu -p scope-agent --lib -j "$JOBS" 2>&1 |
    tee -a "$log" || test_status=$?

step "cargo fmt --check"
fmt_status=0
cargo fmt --all --check || fmt_status=$?

step "cargo clippy"
clippy_status=0
cargo clippy --workspace --release --all-targets -j "$JOBS" -- -D warnings || clippy_status=$?
# The agent's aarch64-only code (engine/aarch64/) is compiled by this one alone.
cargo clippy --release --target aarch64-unknown-linux-gnu -p scope-agent --all-targets -j "$JOBS" -- -D warnings ||
    clippy_status=$?

# Each `test result:` line of the log once (the log holds cargo's output, nothing else).
read -r passed failed ignored < <(awk '/^test result:/ {
        for (i = 2; i <= NF; i++) {
            if ($i ~ /^passed/) p += $(i - 1)
            if ($i ~ /^failed/) f += $(i - 1)
            if ($i ~ /^ignored/) g += $(i - 1)
        }
    } END { print p + 0, f + 0, g + 0 }' "$log")
if [ "$test_status" -ne 0 ]; then
    printf '\n==> failed (%s):\n' "$log"
    grep -E '^test .* FAILED$|^error(\[|:)' "$log" || true
    # Why each failed: the panic message (the first lines of its captured output), the two
    # sides of a failed assertion and where its files were kept.
    awk '/^failures:$/ { inside = !inside; next }
        !inside { next }
        /^---- .* stdout ----$/ { print ""; n = 6 }
        n > 0 && !/^ +(at |[0-9]+: )/ && !/^stack backtrace:$/ { print; n--; next }
        /^ +(left|right): |^test files kept in / { print }' "$log"
fi
printf '\n==> fmt: %s, clippy: %s, tests ignored: %s\n' \
    "$([ "$fmt_status" -eq 0 ] && echo ok || echo FAILED)" \
    "$([ "$clippy_status" -eq 0 ] && echo ok || echo FAILED)" "$ignored"
printf '%s passed, %s failed\n' "$passed" "$failed"
if [ "$test_status" -ne 0 ] || [ "$fmt_status" -ne 0 ] || [ "$clippy_status" -ne 0 ]; then
    exit 1
fi
