#!/usr/bin/env bash
# scripts/test.sh - what `npm test` (and therefore CI) runs: install what the tests need, then
# (for a full run, with no arguments) the type check, the linter and the build of dist/ (so the
# tests run the CLI as the package ships it), then every vitest project (unit, integration and
# e2e), printing vitest's summary and exiting with its code. Arguments go to vitest.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

if [ "$#" -eq 0 ]; then
  echo "== typecheck (tsc --noEmit), lint (biome check), build (dist/)"
  npx tsc --noEmit -p .
  npx biome check .
  node scripts/build.mjs
fi

# No stdin in CI, and nothing may wait on a TTY.
exec npx vitest run "$@" </dev/null
