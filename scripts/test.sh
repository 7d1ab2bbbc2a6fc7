#!/usr/bin/env bash
# Runs the test suite (extra arguments go to `dotnet test`, e.g. --filter Category=Parity), then — for a run without
# --filter, as in CI — the Parity tests again with the C# vector kernels switched off (CRATE_MAE_SIMD=0), so that the
# plain libtorch path stays checked end to end. Ends with one plain "N passed, N failed, N skipped" line summing both
# runs, and exits non-zero if either run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0 failed=0 skipped=0 counted=0

# Adds the counts of every test project's summary line in $log.
count() {
  local line
  while IFS= read -r line; do
    if [[ $line =~ Failed:[[:space:]]+([0-9]+),[[:space:]]+Passed:[[:space:]]+([0-9]+),[[:space:]]+Skipped:[[:space:]]+([0-9]+) ]]; then
      failed=$((failed + BASH_REMATCH[1])) passed=$((passed + BASH_REMATCH[2])) skipped=$((skipped + BASH_REMATCH[3]))
      counted=1
    fi
  done < <(grep -E "(Passed|Failed)!\s+-\s+Failed:" "$log")
}

dotnet test CrateMae.slnx -c Release "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
count

filtered=0
for arg in "$@"; do [[ $arg == --filter* ]] && filtered=1; done
if [[ $filtered == 0 ]]; then
  echo "Parity tests with the C# vector kernels off (CRATE_MAE_SIMD=0):"
  CRATE_MAE_SIMD=0 dotnet test CrateMae.slnx -c Release --no-build --filter Category=Parity 2>&1 | tee "$log"
  leg=${PIPESTATUS[0]}
  count
  [[ $status == 0 ]] && status=$leg
fi

if [[ $counted == 1 ]]; then
  echo "$passed passed, $failed failed, $skipped skipped"
fi
exit "$status"
