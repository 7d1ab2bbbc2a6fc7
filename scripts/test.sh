#!/usr/bin/env bash
# Runs the whole test suite (extra arguments go to `dotnet test`, e.g. --filter Category=Parity) and ends with a
# plain "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
dotnet test CrateMae.slnx -c Release "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
summary=$(grep -E "(Passed|Failed)!\s+-\s+Failed:" "$log" | tail -n 1)
rm -f "$log"
if [[ $summary =~ Failed:[[:space:]]+([0-9]+),[[:space:]]+Passed:[[:space:]]+([0-9]+),[[:space:]]+Skipped:[[:space:]]+([0-9]+) ]]; then
  echo "${BASH_REMATCH[2]} passed, ${BASH_REMATCH[1]} failed, ${BASH_REMATCH[3]} skipped"
fi
exit "$status"
