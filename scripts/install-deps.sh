#!/usr/bin/env bash
# scripts/install-deps.sh - make this machine ready for `npm test` (and `npm run bench`): the Debian
# packages the end-to-end tests drive (real registries, real clients) and the npm dependencies.
#
# Idempotent and quiet when nothing is missing: `apt-get update` runs only when a package has to
# be installed, `npm ci` only when node_modules is missing or older than package-lock.json.
# Needs root (or sudo) for apt-get; as another user with everything installed it does nothing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Packages installed with their recommended dependencies.
APT_PACKAGES=(
  docker-registry # the CNCF distribution registry: upstream for proxy tests, benchmark baseline
  skopeo          # copy / inspect / list-tags / delete client
  podman          # push / pull client (root, vfs storage); runs the container image (test/e2e/image.test.ts)
  buildah         # builds the container image offline (scripts/build-image-offline.sh)
  zsh             # the completion script's syntax and registration (test/cli/completion.test.ts)
  fish            # fish's `complete -C` answers with the completion script loaded (same test)
  systemd         # systemd-analyze verify / security of deploy/systemd/regctl.service (test/deploy/)
  runc            # the OCI runtime podman runs the image with (crun refuses hybrid cgroup hosts)
  containerd      # ctr push / pull, mirror client
  umoci           # OCI image layouts
  docker.io       # dockerd + docker CLI
  apache2-utils   # htpasswd -Bbn for basic-auth upstreams; ab, the HEAD load of `npm run bench` (lib/ab.ts)
  wrk             # load generator of `npm run bench` (docs/benchmarks.md)
  curl            # pull client of `npm run bench` and of its unit test (bench/lib/curl.ts)
  iproute2        # tc, the shaped upstream link of the proxy bench's --upstream-rate (lib/link-shaper.ts)
  time            # GNU time: wall, CPU and peak RSS of a benchmarked command (bench/lib/timed-run.ts: gc, cold-pull)
  jq
  openssl
  tinyproxy       # forward proxy refusing CONNECT to non-TLS ports (test/e2e/proxy-forward-proxies.test.ts)
  squid           # forward proxy with `deny CONNECT !SSL_ports`, same test; both started by hand on free ports
  microsocks      # SOCKS5 server (with and without username/password) of test/e2e/proxy-socks.test.ts
)

# Packages installed with --no-install-recommends: the Ceph RADOS Gateway and what a one-node
# cluster needs (test/helpers/ceph.ts), the S3 endpoint of the s3 driver's tests; Prometheus,
# which scrapes regctl's metrics in test/e2e/metrics.test.ts (started by hand on a free port).
APT_PACKAGES_NO_RECOMMENDS=(
  prometheus
  radosgw
  ceph-mon
  ceph-osd
  ceph-common
  uuid-runtime
  chromium         # headless browser of the web UI's tests (test/e2e/ui*.test.ts, with playwright-core)
  fonts-dejavu-core
)

missing() {
  local pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || printf '%s\n' "$pkg"
  done
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "install-deps: need root to run: $*" >&2
    return 1
  fi
}

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  mapfile -t need < <(missing "${APT_PACKAGES[@]}")
  mapfile -t need_nr < <(missing "${APT_PACKAGES_NO_RECOMMENDS[@]}")
  if ((${#need[@]} + ${#need_nr[@]} > 0)); then
    echo "install-deps: installing ${need[*]} ${need_nr[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    if ((${#need[@]} > 0)); then
      as_root apt-get install -y -q "${need[@]}"
    fi
    if ((${#need_nr[@]} > 0)); then
      as_root apt-get install -y -q --no-install-recommends "${need_nr[@]}"
    fi
    # The packages may start services on install; the tests start their own, on free ports.
    for svc in docker containerd docker-registry tinyproxy squid prometheus; do
      if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
        as_root systemctl stop "$svc" || true
      fi
    done
  fi
else
  echo "install-deps: not a Debian system (no dpkg/apt-get): install the packages by hand:" >&2
  echo "  ${APT_PACKAGES[*]} ${APT_PACKAGES_NO_RECOMMENDS[*]}" >&2
fi

if [[ ! -d node_modules || package-lock.json -nt node_modules ]]; then
  echo "install-deps: npm ci" >&2
  npm ci --no-audit --no-fund
  touch node_modules
fi
