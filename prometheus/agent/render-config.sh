#!/bin/sh
# Renders a site's agent config (prometheus/agent/agent.yml, beside this script) from the
# environment into OUT_DIR/agent.yml: compose.site.yaml runs it at every start of the agent, which
# then reads the copy. Prometheus expands no variable of its own in remote_write.
#
#   SITE=berlin REMOTE_WRITE_URL=https://central.example/api/v1/write \
#   REMOTE_WRITE_USERNAME=berlin REMOTE_WRITE_PASSWORD_FILE=/run/secrets/remote_write_password \
#   REMOTE_WRITE_CA_FILE=/etc/prometheus-agent/central-ca.pem sh render-config.sh /tmp/agent
#
# It refuses, naming the variable: a missing value, a site name other than letters, digits, ".",
# "_" and "-", a URL that is not https (the login would cross the network in clear), and a
# password or CA file it cannot read.
set -eu

fail() {
  echo "render-config.sh: $*" >&2
  exit 1
}

[ $# -eq 1 ] || fail "usage: render-config.sh OUT_DIR"
out_dir=$1
template="$(dirname "$0")/agent.yml"

# The login is the site's name unless told otherwise (the gateway's htpasswd has one line per site).
export REMOTE_WRITE_USERNAME="${REMOTE_WRITE_USERNAME:-${SITE:-}}"
for name in SITE REMOTE_WRITE_URL REMOTE_WRITE_USERNAME REMOTE_WRITE_PASSWORD_FILE; do
  eval "value=\${$name:-}"
  [ -n "$value" ] || fail "$name is not set (prometheus/agent/agent.yml lists what each one is)"
done
export REMOTE_WRITE_CA_FILE="${REMOTE_WRITE_CA_FILE:-}"

case $SITE in
  *[!A-Za-z0-9_.-]*) fail "SITE=$SITE: only letters, digits, '.', '_' and '-' (it names the site in every mail)" ;;
esac
case $REMOTE_WRITE_URL in
  https://*@*) fail "REMOTE_WRITE_URL holds a login: put it in REMOTE_WRITE_USERNAME and REMOTE_WRITE_PASSWORD_FILE (the URL is logged)" ;;
  https://?*) ;;
  *) fail "REMOTE_WRITE_URL must be an https:// URL (the site's password goes with every request): $REMOTE_WRITE_URL" ;;
esac
# Each value lands between double quotes in YAML: nothing that would end or escape them.
for name in SITE REMOTE_WRITE_URL REMOTE_WRITE_USERNAME REMOTE_WRITE_PASSWORD_FILE REMOTE_WRITE_CA_FILE; do
  eval "value=\$$name"
  case $value in
    *[\"\\\$]* | *'
'*) fail "$name holds a quote, a backslash, a dollar sign or a line break" ;;
  esac
done
[ -r "$REMOTE_WRITE_PASSWORD_FILE" ] || fail "REMOTE_WRITE_PASSWORD_FILE=$REMOTE_WRITE_PASSWORD_FILE cannot be read"
[ -z "$REMOTE_WRITE_CA_FILE" ] || [ -r "$REMOTE_WRITE_CA_FILE" ] || fail "REMOTE_WRITE_CA_FILE=$REMOTE_WRITE_CA_FILE cannot be read"

mkdir -p "$out_dir"
# Every ${NAME} of the template, from the environment; a name that is not set is an error.
awk '{
  line = $0
  out = ""
  while (match(line, /\$\{[A-Z_]+\}/)) {
    name = substr(line, RSTART + 2, RLENGTH - 3)
    if (!(name in ENVIRON)) { print "render-config.sh: the template uses " name ", which is not set" > "/dev/stderr"; exit 1 }
    out = out substr(line, 1, RSTART - 1) ENVIRON[name]
    line = substr(line, RSTART + RLENGTH)
  }
  print out line
}' "$template" >"$out_dir/agent.yml.tmp"
mv "$out_dir/agent.yml.tmp" "$out_dir/agent.yml"
echo "render-config.sh: $out_dir/agent.yml for site $SITE, sending to $REMOTE_WRITE_URL"
