# syntax=docker/dockerfile:1
# The regctl container image: `docker build -t regctl-registry:0.1.0 .` at the repository root.
#
#   build    npm ci, then `npm pack` (its prepack compiles dist/): the tarball users install
#   install  that tarball with production dependencies only, into /opt/regctl
#   runtime  Node.js and /opt/regctl, nothing else: no npm, no compiler, no sources
#
# Runs as the unprivileged `node` user (uid 1000) and writes only to /data (the blob stores of the
# default config) and /tmp, so `--read-only` (Kubernetes `readOnlyRootFilesystem: true`) works.
# The config is /config/registry.config.ts (a default one is baked in: mount yours over /config,
# or point --config at a git-sync checkout). Without a Docker engine, scripts/build-image-offline.sh
# builds the same image with buildah from a packed tarball and the local Node.js.
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm pack --pack-destination /pkg && mv /pkg/regctl-registry-*.tgz /pkg/regctl-registry.tgz

FROM node:${NODE_VERSION}-bookworm-slim AS install
WORKDIR /opt/regctl
COPY --from=build /pkg/regctl-registry.tgz /tmp/
RUN echo '{"name":"regctl-image","private":true}' > package.json \
 && npm install --omit=dev --no-audit --no-fund /tmp/regctl-registry.tgz \
 && rm -rf /root/.npm /tmp/regctl-registry.tgz

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="regctl" \
      org.opencontainers.image.description="A declarative, GitOps-managed container registry" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=install /opt/regctl /opt/regctl
COPY --chown=1000:1000 deploy/container/registry.config.ts /config/registry.config.ts
RUN mkdir -p /data && chown 1000:1000 /data
ENV NODE_ENV=production
USER 1000:1000
WORKDIR /config
VOLUME ["/data"]
EXPOSE 5000
# 200 (open) and 401 (authentication required) both mean the registry answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.REGCTL_HEALTH_URL||'http://127.0.0.1:5000/v2/').then(r=>process.exit([200,401].includes(r.status)?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/opt/regctl/node_modules/regctl-registry/bin/regctl.mjs"]
CMD ["serve", "--config", "/config/registry.config.ts"]
