# syntax=docker/dockerfile:1
# k8s-provider: build with the dev dependencies, run with the production ones
# only, on distroless Node 22 (the current LTS; no shell, no package manager).
#
#   ./build.sh                      # iarnet/k8s-provider:latest
#   docker build -t IMAGE .
#
# The image expects its config at /app/config.yaml (k8s-deployment.yaml mounts
# it from a ConfigMap); relative paths in it are relative to /app.

ARG NODE_IMAGE=node:22-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs22-debian12:nonroot

# ---- build: generated proto types, then tsc to dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto/ proto/
COPY scripts/gen-proto.mjs scripts/build-info.mjs scripts/
COPY src/ src/
# No .git in the build context: the commit comes in as a build argument
# (docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD) .), else "unknown".
ARG GIT_COMMIT=""
RUN GIT_COMMIT="${GIT_COMMIT}" npm run build

# ---- production dependencies only, without the dev toolchain ----
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime ----
FROM ${RUNTIME_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
# package.json carries "type": "module"; proto/ is read at run time (protoDir()
# walks up from dist/src/adapters/grpc to find it).
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/build-info.json ./dist/build-info.json
COPY package.json ./
COPY proto/ ./proto/
# Numeric, so a pod's runAsNonRoot can verify it (a user name cannot be checked).
USER 65532:65532
# 50052 gRPC (provider.Service, grpc.health.v1, reflection); 9090 Prometheus /metrics.
EXPOSE 50052 9090
# node itself is PID 1: no shell in between to swallow SIGTERM, and main.ts
# handles SIGTERM/SIGINT by draining in-flight calls (server.shutdown_grace_seconds).
# It starts no child processes, so there are no zombies for an init to reap.
# A 2 MiB young generation: V8 would otherwise keep up to 16 MiB per semi-space
# committed after a busy spell. No allocation-site pretenuring: a start-up under
# CPU contention could leave the daemon promoting the garbage of finished calls
# for the rest of its life, slower scavenges on every call (see "Measuring" in the README).
ENTRYPOINT ["/nodejs/bin/node", "--enable-source-maps", "--max-semi-space-size=2", "--no-allocation-site-pretenuring"]
CMD ["dist/src/main.js", "--config", "/app/config.yaml"]
# For plain docker; Kubernetes uses the native gRPC probes in k8s-deployment.yaml.
# Without TLS only: with server.tls set, add --tls-ca (and --tls-cert/--tls-key).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/nodejs/bin/node", "dist/src/cli/main.js", "probe", "--deadline", "4"]
