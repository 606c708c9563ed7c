#!/usr/bin/env bash
# The README's test command (`npm test`): installs what the tests need, builds, lints, checks the
# format, runs every test (both tiers, see jest.config.js).
# Extra arguments go to jest, e.g. `npm test -- tests/server`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
npm ci --no-audit --no-fund
npm run build
# Lint and formatting before jest: both are reported, either failing fails the run (before the long suites).
# `npm run format` fixes formatting; eslint.config.mjs says why each rule is on, off or tuned.
checks=0
npm run lint || checks=1
npm run format:check || checks=1
[ "$checks" -eq 0 ] || { echo "lint/format: failed, jest not run"; exit 1; }

results=$(mktemp --suffix=.json)
status=0
jest_started=$SECONDS
npx jest --ci --json --outputFile="$results" "$@" || status=$?
jest_seconds=$((SECONDS - jest_started))
# One plain closing line that any CI reads: passed and failed test counts, jest's wall time and
# the whole run's (installs and build included; bash's SECONDS counts from this script's start).
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed in ${process.argv[2]} s (npm test: ${process.argv[3]} s)`);
' "$results" "$jest_seconds" "$SECONDS" || { echo "jest: no results written (npm test: $SECONDS s)"; status=1; }
rm -f "$results"
exit $status
