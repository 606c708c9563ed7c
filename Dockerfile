# syntax=docker/dockerfile:1
# The checkpoint image: the exporter (every prober) and Debian's Chromium for the browser prober.
#   docker build -t private-checkpoint .
#   docker run -p 9915:9915 -v "$PWD/checkpoint.yml:/etc/checkpoint/checkpoint.yml:ro" private-checkpoint
# compose.yaml builds it for checkpoint-a and checkpoint-b.

ARG NODE_IMAGE=node:20.18.1-bookworm-slim

# --- build: dev dependencies, tsc and the bundle, exactly as `npm run build` on a workstation --
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# playwright-core never downloads a browser; the variable keeps any tool that might from trying.
ENV PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# tsconfig.json compiles src and exporters without their tests (no test, test helper or bench is
# copied in: the checkpoint build needs none), and scripts/bundle.js makes dist/checkpoint.js of
# what the checkpoint runs: only that file goes into the image (the protocol libraries and express
# load from node_modules).
COPY tsconfig.json ./
COPY scripts/bundle.js ./scripts/bundle.js
COPY src ./src
COPY exporters ./exporters
RUN npm run build

# --- runtime: production dependencies, the compiled code, Chromium -----------------------------
FROM ${NODE_IMAGE} AS runtime
# chromium: the browser prober's default launch.executable_path is /usr/bin/chromium.
# fonts-liberation: metric-compatible Arial/Times/Courier, so pages lay out as on a desktop.
# tini: PID 1 that forwards SIGTERM/SIGHUP to node and reaps Chromium's exited children.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      chromium fonts-liberation ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 checkpoint \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin checkpoint

WORKDIR /app
# The root filesystem is read-only in compose: Chromium's profile, caches and NSS database,
# and the browser prober's artifacts, all go under /tmp (a tmpfs there).
ENV NODE_ENV=production \
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
    HOME=/tmp \
    TMPDIR=/tmp
COPY package.json package-lock.json ./
# --ignore-scripts: the production dependencies' install scripts are ssh2's and cpu-features'
# optional native bindings (they need a compiler this image does not have; ssh2 works without
# them) and protobufjs' postinstall (a version notice for its CLI, which is not used).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist/checkpoint.js ./dist/checkpoint.js
# The launcher: node with the memory settings chosen by measurement (see the script).
COPY bin ./bin
# The default config (used when --config.file is not given), as `npm start` uses it.
COPY config ./config

USER 10001:10001
EXPOSE 9915
# Behind a --web.config.file with basic auth the image knows no password: a 401 still shows the
# process up and answering. compose.yaml replaces this with a check that logs in.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9915/-/healthy').then((r) => process.exit(r.ok || r.status === 401 ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "/app/bin/checkpoint"]
CMD ["--config.file=/app/config/checkpoint.yml"]
