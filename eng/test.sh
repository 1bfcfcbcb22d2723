#!/usr/bin/env bash
# The whole test suite: installs what it needs (Debian packages, npm), builds, and runs every tier.
# Usage: eng/test.sh            (everything, as CI runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

eng/install-deps.sh

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build Parley.slnx -c Release -warnaserror -nologo -v q

results="$root/artifacts/test-results"
rm -rf "$results"; mkdir -p "$results"
status=0
# Each tier is one test project; a project listed here must run at least one test.
tiers=(Parley.Store.Tests Parley.Server.Tests Parley.Presence.Tests Parley.Bus.Tests Parley.Security.Tests Parley.Cluster.Tests)
for name in "${tiers[@]}"; do
  project="test/$name"
  echo "== $name"
  if ! dotnet test "$project" -c Release --no-build --nologo \
      --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
      --logger "console;verbosity=minimal"; then
    status=1
  fi
done

# The web client: unit tests, then browser end-to-end tests against a real node (clients/web/run-tests.sh).
echo "== web client"
if ! WEB_TEST_RESULTS="$results/web" clients/web/run-tests.sh; then
  status=1
fi

# The short fault campaign (docs/reliability.md): a few scenarios on a 3-node cluster; any lost, duplicated,
# unexpected or out-of-order message, or a missed expectation, fails it. The full campaign: eng/chaos.sh.
echo "== fault campaign (short)"
if ! CHAOS_SKIP_DEPS=1 CHAOS_NO_BUILD=1 eng/chaos.sh --short; then
  status=1
fi

# Benchmarks: a few-second smoke run of every scenario against Parley and both peers (eng/bench.sh --smoke). It checks
# only that each scenario ran and produced non-zero figures; nothing here is timed.
echo "== benchmark smoke run"
if ! BENCH_NO_BUILD=1 eng/bench.sh --smoke --out "$results/bench-smoke"; then
  status=1
fi

# Code style is part of the build's contract (.editorconfig): formatting drift fails CI.
echo "== dotnet format"
if ! dotnet format Parley.slnx --verify-no-changes --no-restore -v q; then
  echo "FAIL: dotnet format found changes to make (run: dotnet format Parley.slnx)"
  status=1
fi

# A tier that ran zero tests is a failure, not a pass.
for trx in "$results"/*.trx; do
  total=$(grep -o 'total="[0-9]*"' "$trx" | head -1 | grep -o '[0-9]*' || echo 0)
  if [[ "${total:-0}" -eq 0 ]]; then echo "FAIL: $(basename "$trx") ran zero tests"; status=1; fi
done
exit $status
