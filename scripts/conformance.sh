#!/usr/bin/env bash
# OCI distribution-spec conformance of regctl (docs/conformance.md).
#
#   scripts/conformance.sh                          the replays: vitest's test/e2e/oci-conformance-*
#                                                   (no Go, no network; what CI runs)
#   scripts/conformance.sh build v1.1.1|main SRC OUT
#                                                   builds the real suite from a checkout SRC of
#                                                   github.com/opencontainers/distribution-spec at
#                                                   that tag or branch, into the binary OUT
#   scripts/conformance.sh run v1.1.1|main BINARY   runs a built suite against a fresh
#                                                   `regctl serve` of examples/minimal
#
# `build` needs what this repository cannot ship: the suite's sources (SRC), a Go toolchain on
# PATH (v1.1.1: Go >= 1.20, or Debian's golang-1.19-go; main: Go >= 1.24) and the modules of the
# suite's go.sum from a Go module proxy (proxy.golang.org, or GOPROXY=file://… of a local proxy
# made beforehand). Without network access to both, build on another machine and copy OUT here.
#
# `run` copies examples/minimal/registry.config.ts into a temp dir with two edits (its port 5000
# becomes a free loopback port, its schema import an absolute path), serves it from there with
# `node bin/regctl.mjs serve --no-watch` and an empty ./data, runs BINARY with all four
# workflows (v1.1.1) or every API (main) on, prints where the suite's report went, stops the
# server and exits with the suite's code. REGCTL_KEEP_TMP=1 keeps the temp dir.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

flavour() {
  case "${1:-}" in v1.1.1 | main) ;; *) echo "conformance: the suite is v1.1.1 or main, not '${1:-}'" >&2; usage ;; esac
}

build() {
  local version=$1 src=$2 out=$3
  command -v go >/dev/null || { echo "conformance: no 'go' on PATH (v1.1.1 needs Go >= 1.20 or 1.19, main Go >= 1.24)" >&2; exit 2; }
  [ -f "$src/conformance/go.mod" ] || { echo "conformance: $src is not a distribution-spec checkout (no conformance/go.mod)" >&2; exit 2; }
  out=$(realpath -m "$out")
  cd "$src/conformance"
  if [ "$version" = v1.1.1 ]; then
    CGO_ENABLED=0 go test -c -o "$out" .
  else
    local commit
    commit=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)
    CGO_ENABLED=0 GOTOOLCHAIN=local go build -o "$out" -ldflags "-X main.Version=$commit" .
  fi
  echo "conformance: built $out"
}

run() {
  local version=$1 binary
  binary=$(realpath "$2")
  [ -x "$binary" ] || { echo "conformance: $2 is not an executable" >&2; exit 2; }
  local port
  # Globals, not locals: the EXIT trap runs after this function has returned.
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/regctl-conformance.XXXXXX")
  port=$(node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  sed -e "s/port: 5000\b/port: $port/" -e "s#from '../../schema/index.ts'#from '$REPO/schema/index.ts'#" \
    "$REPO/examples/minimal/registry.config.ts" >"$tmp/registry.config.ts"
  grep -q "port: $port" "$tmp/registry.config.ts" || { echo "conformance: examples/minimal lost its 'port: 5000'" >&2; exit 1; }

  (cd "$tmp" && exec node "$REPO/bin/regctl.mjs" serve --config "$tmp/registry.config.ts" --no-watch) >"$tmp/regctl.log" 2>&1 &
  server=$!
  trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; [ "${REGCTL_KEEP_TMP:-}" = 1 ] || rm -rf "$tmp"' EXIT
  for _ in $(seq 300); do
    curl -fsS "http://127.0.0.1:$port/-/health" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$tmp/regctl.log" >&2; echo "conformance: regctl serve exited" >&2; exit 1; }
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/-/health" >/dev/null || { echo "conformance: regctl serve not healthy after 30 s" >&2; exit 1; }
  echo "conformance: regctl serve of examples/minimal on 127.0.0.1:$port (log $tmp/regctl.log)"

  mkdir -p "$tmp/report"
  local code=0
  if [ "$version" = v1.1.1 ]; then
    (cd "$tmp/report" && env OCI_ROOT_URL="http://127.0.0.1:$port" OCI_NAMESPACE=myorg/myrepo \
      OCI_CROSSMOUNT_NAMESPACE=myorg/other OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 \
      OCI_TEST_CONTENT_MANAGEMENT=1 OCI_HIDE_SKIPPED_WORKFLOWS=0 OCI_DEBUG=0 OCI_REPORT_DIR="$tmp/report" \
      "$binary" -ginkgo.no-color) || code=$?
  else
    (cd "$tmp/report" && env OCI_REGISTRY="127.0.0.1:$port" OCI_TLS=disabled OCI_REPO1=conformance/repo1 \
      OCI_REPO2=conformance/repo2 OCI_API_PULL=true OCI_API_PUSH=true OCI_API_TAGS_LIST=true \
      OCI_API_REFERRER=true OCI_API_TAGS_DELETE=true OCI_API_MANIFESTS_DELETE=true \
      OCI_API_BLOBS_DELETE=true OCI_RESULTS_DIR="$tmp/report" "$binary") || code=$?
  fi
  echo "conformance: the $version suite exited $code; its report: $tmp/report$([ "${REGCTL_KEEP_TMP:-}" = 1 ] || echo ' (removed: set REGCTL_KEEP_TMP=1 to keep it)')"
  return "$code"
}

cd "$REPO"
case "${1:-replay}" in
  replay) [ $# -le 1 ] || usage; exec npx vitest run --project e2e test/e2e/oci-conformance ;;
  build) [ $# -eq 4 ] || usage; flavour "$2"; build "$2" "$3" "$4" ;;
  run) [ $# -eq 3 ] || usage; flavour "$2"; run "$2" "$3" ;;
  *) usage ;;
esac
