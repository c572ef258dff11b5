#!/usr/bin/env bash
# scripts/build-image-offline.sh - build the regctl container image without a Docker engine or a
# base image: the runtime stage of the Dockerfile, assembled with buildah from
#   - a packed tarball of regctl (`npm pack`), installed with production dependencies only into
#     /opt/regctl (from the npm cache when it has them: --prefer-offline);
#   - the local Node.js binary and the shared libraries it links (what node:20-bookworm-slim
#     provides to regctl);
#   - deploy/container/registry.config.ts as /config/registry.config.ts, /data and /tmp.
# User, working folder, volume, port, environment, HEALTHCHECK, entrypoint and command are the
# Dockerfile's (test/e2e/image.test.ts checks that they match). Docker image format, so the
# HEALTHCHECK is kept.
#
#   scripts/build-image-offline.sh TARBALL IMAGE_NAME
#
# buildah's global options (e.g. --root, --runroot, --storage-driver vfs) come from
# BUILDAH_OPTS, so a test can build into podman's private storage. Needs root (or a user
# namespace buildah can use). Prints the image id.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 TARBALL IMAGE_NAME" >&2
  exit 2
fi
tarball=$(realpath "$1")
name=$2
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
read -r -a buildah_opts <<<"${BUILDAH_OPTS:-}"
buildah() { command buildah "${buildah_opts[@]}" "$@"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/regctl-image-XXXXXX")
container=""
cleanup() {
  [[ -n "$container" ]] && buildah rm "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

rootfs="$work/rootfs"
mkdir -p "$rootfs/opt/regctl" "$rootfs/tmp" "$rootfs/etc" "$rootfs/usr/local/bin" "$work/owned/config" "$work/owned/data"

# regctl, with production dependencies only (the Dockerfile's install stage).
echo '{"name":"regctl-image","private":true}' >"$rootfs/opt/regctl/package.json"
(cd "$rootfs/opt/regctl" && env -u npm_config_prefix npm install --omit=dev --prefer-offline --no-audit --no-fund \
  --loglevel=error "$tarball" >&2)

# Node.js, and the shared libraries it and the native addons of the install link (the base
# image's part: node:20-bookworm-slim has all of glibc).
node_bin=$(readlink -f "$(command -v node)")
cp "$node_bin" "$rootfs/usr/local/bin/node"
{
  ldd "$node_bin"
  find "$rootfs/opt/regctl" -name '*.node' -type f -exec ldd {} \;
} | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000:node:/home/node:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' >"$rootfs/etc/group"

# What the unprivileged user owns (buildah copy makes everything else root's).
cp "$repo/deploy/container/registry.config.ts" "$work/owned/config/registry.config.ts"
chmod 1777 "$rootfs/tmp"

# The Dockerfile's HEALTHCHECK, exec form (buildah splits the test on spaces: the script has none).
healthcheck="fetch(process.env.REGCTL_HEALTH_URL||'http://127.0.0.1:5000/v2/').then(r=>process.exit([200,401].includes(r.status)?0:1),()=>process.exit(1))"
container=$(buildah from --format docker scratch)
buildah copy --quiet "$container" "$rootfs" / >/dev/null
buildah copy --quiet --chown 1000:1000 "$container" "$work/owned/config" /config >/dev/null
buildah copy --quiet --chown 1000:1000 "$container" "$work/owned/data" /data >/dev/null
buildah config \
  --label org.opencontainers.image.title=regctl \
  --label "org.opencontainers.image.description=A declarative, GitOps-managed container registry" \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  --env NODE_ENV=production \
  --env PATH=/usr/local/bin:/usr/bin:/bin \
  --user 1000:1000 \
  --workingdir /config \
  --volume /data \
  --port 5000 \
  --healthcheck "CMD node -e \"$healthcheck\"" \
  --healthcheck-interval 30s --healthcheck-timeout 5s --healthcheck-start-period 10s --healthcheck-retries 3 \
  --entrypoint '["node", "/opt/regctl/node_modules/regctl-registry/bin/regctl.mjs"]' \
  --cmd '["serve", "--config", "/config/registry.config.ts"]' \
  "$container"
buildah commit --quiet --format docker --rm "$container" "$name"
container=""
