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
failed_steps=()   # what failed, printed again at the end so the tail of a CI log names it; any entry fails the run
flaky=()          # tests that failed once and passed when run again alone
fail() { failed_steps+=("$@"); }

# Names of the failed tests in a .trx file, one per line, without a theory's arguments.
failed_tests() {
  grep -o 'testName="[^"]*"[^>]*outcome="Failed"' "$1" | sed -E 's/^testName="([^"(]*).*/\1/' | sort -u || true
}

# Each tier is one test project; a project listed here must run at least one test. A tier whose tests fail is run
# again with only those tests: a test that passes then is reported as flaky (at the end and in flaky.txt) and does not
# fail the run; a test that fails twice does.
tiers=(Parley.Store.Tests Parley.Server.Tests Parley.Presence.Tests Parley.Bus.Tests Parley.Security.Tests Parley.Cluster.Tests)
for name in "${tiers[@]}"; do
  project="test/$name"
  echo "== $name"
  if dotnet test "$project" -c Release --no-build --nologo \
      --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
      --logger "console;verbosity=minimal"; then
    continue
  fi
  mapfile -t failed < <(failed_tests "$results/$name.trx")
  if [[ ${#failed[@]} -eq 0 ]]; then
    fail "$name (the test run itself failed)"; continue
  fi
  filter=$(printf 'FullyQualifiedName=%s|' "${failed[@]}"); filter=${filter%|}
  echo "== $name: running the ${#failed[@]} failed test(s) again"
  if dotnet test "$project" -c Release --no-build --nologo --filter "$filter" \
      --logger "trx;LogFileName=$name.trx" --results-directory "$results/rerun" \
      --logger "console;verbosity=minimal"; then
    for t in "${failed[@]}"; do flaky+=("$t"); done
  else
    mapfile -t twice < <(failed_tests "$results/rerun/$name.trx")
    for t in "${failed[@]}"; do [[ " ${twice[*]} " == *" $t "* ]] || flaky+=("$t"); done
    if [[ ${#twice[@]} -gt 0 ]]; then fail "${twice[@]}"; else fail "$name (the rerun itself failed)"; fi
  fi
done

# The web client: unit tests, then browser end-to-end tests against a real node (clients/web/run-tests.sh).
echo "== web client"
if ! WEB_TEST_RESULTS="$results/web" clients/web/run-tests.sh; then
  fail "web client tests"
fi

# The short fault campaign (docs/reliability.md): a few scenarios on a 3-node cluster; any lost, duplicated,
# unexpected or out-of-order message, or a missed expectation, fails it. The full campaign: eng/chaos.sh.
echo "== fault campaign (short)"
if ! CHAOS_SKIP_DEPS=1 CHAOS_NO_BUILD=1 eng/chaos.sh --short; then
  fail "fault campaign (short)"
fi

# Benchmarks: a few-second smoke run of every scenario against Parley and both peers (eng/bench.sh --smoke). It checks
# only that each scenario ran and produced non-zero figures; nothing here is timed.
echo "== benchmark smoke run"
if ! BENCH_NO_BUILD=1 eng/bench.sh --smoke --out "$results/bench-smoke"; then
  fail "benchmark smoke run"
fi

# Code style is part of the build's contract (.editorconfig): formatting drift fails CI.
echo "== dotnet format"
if ! dotnet format Parley.slnx --verify-no-changes --no-restore -v q; then
  echo "FAIL: dotnet format found changes to make (run: dotnet format Parley.slnx)"
  fail "dotnet format"
fi

# A tier that ran zero tests is a failure, not a pass.
for trx in "$results"/*.trx; do
  total=$(grep -o 'total="[0-9]*"' "$trx" | head -1 | grep -o '[0-9]*' || echo 0)
  if [[ "${total:-0}" -eq 0 ]]; then echo "FAIL: $(basename "$trx") ran zero tests"; fail "$(basename "$trx") ran zero tests"; fi
done

echo "== summary"
if [[ ${#flaky[@]} -gt 0 ]]; then
  printf '%s\n' "${flaky[@]}" > "$results/flaky.txt"
  for t in "${flaky[@]}"; do echo "FLAKY (failed, then passed alone): $t"; done
fi
for f in "${failed_steps[@]}"; do echo "FAILED: $f"; done
[[ ${#failed_steps[@]} -eq 0 ]] || exit 1
echo "all green"
