#!/usr/bin/env bash
# The web client's tests, in one command: type checks, Vitest unit tests (protocol client, store, UI logic), then the
# browser end-to-end tests (a real Parley server started by the tests, Debian's Chromium driven by playwright-core).
# Called by eng/test.sh; runs alone too. Needs Node.js >= 20.19 with npm, the .NET SDK and /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")"
started=$SECONDS

fail() { echo "web: $*" >&2; exit 1; }
command -v node >/dev/null 2>&1 || fail "node is not on PATH (Node.js >= 20.19 is required; see eng/install-deps.sh)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || fail "Node.js $(node --version) is too old: Vite 8 needs >= 20.19"
[[ -x /usr/bin/chromium ]] || fail "/usr/bin/chromium is missing (apt-get install chromium; eng/install-deps.sh does)"

# Same stamp as the MSBuild target (src/Parley.Server/WebClient.targets): install only when the lockfile changed.
stamp=node_modules/.parley-npm-ci.stamp
if [[ ! -f $stamp || package-lock.json -nt $stamp ]]; then
  npm ci --no-audit --no-fund
  touch "$stamp"
fi

results=${WEB_TEST_RESULTS:-$(pwd)/test-results}
mkdir -p "$results"
status=0

echo "== web: type check"
npm run --silent typecheck || status=1

echo "== web: unit tests"
npx vitest run --reporter=default --reporter=json --outputFile="$results/unit.json" || status=1

echo "== web: browser end-to-end tests"
npx vitest run --config e2e/vitest.config.ts --reporter=default --reporter=json --outputFile="$results/e2e.json" || status=1

# One plain summary line per suite; a suite that ran no test fails.
for suite in unit e2e; do
  file="$results/$suite.json"
  if [[ ! -f $file ]]; then echo "web $suite: no results"; status=1; continue; fi
  read -r passed failed total < <(node -e 'const r=require(process.argv[1]); console.log(r.numPassedTests, r.numFailedTests+r.numPendingTests+r.numTodoTests, r.numTotalTests)' "$file")
  echo "web-$suite: $passed passed, $failed failed"
  [[ $total -gt 0 && $failed -eq 0 ]] || status=1
done
echo "web: done in $((SECONDS - started)) s"
exit $status
