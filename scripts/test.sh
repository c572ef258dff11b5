#!/usr/bin/env bash
# scripts/test.sh - what `npm test` (and therefore CI) runs: install what the tests need, then
# every vitest project (unit and e2e), printing vitest's summary and exiting with its code.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

# No stdin in CI, and nothing may wait on a TTY.
exec npx vitest run "$@" </dev/null
