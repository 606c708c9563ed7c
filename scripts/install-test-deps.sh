#!/usr/bin/env bash
# Installs the real servers the tests talk to, from Debian's packages, when they are missing.
# Tests never skip for want of a server: this script is how a fresh machine gets them.
set -euo pipefail

need=()
command -v prometheus-blackbox-exporter >/dev/null || need+=(prometheus-blackbox-exporter)
command -v openssl >/dev/null || need+=(openssl)
# tests/support/unaccepting-listener.ts: a listener that never accepts, for connect-phase deadlines.
command -v python3 >/dev/null || need+=(python3)
# prometheus/ and the exporters' READMEs: promtool checks the config and tests the alerting rules.
command -v promtool >/dev/null || need+=(prometheus)
# alertmanager/: amtool checks the config, and the tests run the real Alertmanager.
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
# grafana/: the dashboard test reads a real node-exporter's metric names and types.
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
# scripts/ and compose/: shellcheck lints the compose smoke test and the demo containers' scripts.
command -v shellcheck >/dev/null || need+=(shellcheck)
# exporters/postgres: a throw-away PostgreSQL 15 cluster (initdb, pg_ctl) per suite.
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql)
# exporters/sftp: OpenSSH's sshd on a random port, and ssh-keygen for its test keys.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
# exporters/smtp: Dovecot serves the test mailbox over IMAP for the delivery check.
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
# exporters/browser: Debian's Chromium, driven by playwright-core (no browser download).
[ -x /usr/bin/chromium ] || need+=(chromium)
# exporters/docker: a dockerd the suite starts, and a static busybox for the image it imports.
command -v dockerd >/dev/null || need+=(docker.io)
[ -x /bin/busybox ] || need+=(busybox-static)
# Issue 16: postgres_exporter and redis_exporter against a real PostgreSQL and Redis.
[ -x /usr/bin/prometheus-postgres-exporter ] || need+=(prometheus-postgres-exporter)
[ -x /usr/bin/redis-server ] || need+=(redis-server)
[ -x /usr/bin/prometheus-redis-exporter ] || need+=(prometheus-redis-exporter)
# tests/sites: nginx is the central place's remote-write gateway (compose/central/remote-write-gateway.conf).
[ -x /usr/sbin/nginx ] || need+=(nginx-light)

if [ ${#need[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

