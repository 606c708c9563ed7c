#!/bin/sh
# Renders the Alertmanager config for one site into a run directory:
#   render-config.sh [--allow-fewer-admins] OUT_DIR
# Alertmanager (0.25) expands no environment variables in its config, so what differs per site
# comes from the environment here, at container start, and is written into a copy of
# alertmanager.yml and templates/ next to this script:
#   ADMIN_EMAILS              required: the admins, separated by commas or spaces; at least three,
#                             unless --allow-fewer-admins (a demo, a test). Each admin receiver
#                             gets one email_config per address, so a refused address blocks no one else
#   GRAFANA_URL               required: Grafana's address as the admins reach it, for the
#                             dashboard link in every mail
#   ALERTMANAGER_URL          required: Alertmanager's, for the "silence, details" link (give
#                             Alertmanager the same as --web.external-url)
#   SMTP_SMARTHOST            host:port speaking STARTTLS (default: the file's placeholder)
#   SMTP_FROM, SMTP_AUTH_USERNAME, SMTP_AUTH_PASSWORD_FILE   the same
#   DEADMANSSWITCH_URL or DEADMANSSWITCH_URL_FILE   ping URL (healthchecks.io style) for the
#                             Watchdog; unset, the deadmansswitch receiver sends nothing and this
#                             script says so on stderr, in a line starting with WARNING
# Then run: alertmanager --config.file=OUT_DIR/alertmanager.yml. Checked with amtool when present.
set -eu

fail() {
  echo "render-config.sh: $*" >&2
  exit 1
}

usage="usage: render-config.sh [--allow-fewer-admins] OUT_DIR"
allow_fewer_admins=false
out=""
for argument in "$@"; do
  case $argument in
    --allow-fewer-admins) allow_fewer_admins=true ;;
    -*) fail "unknown option $argument; $usage" ;;
    *)
      [ -z "$out" ] || fail "$usage"
      out=$argument
      ;;
  esac
done
[ -n "$out" ] || fail "$usage"
# Fewer admins than this and one of them away, or one address refused, leaves alerts unread.
minimum_admins=3
src=$(cd "$(dirname "$0")" && pwd)

# One line, no quote or brace that could break out of YAML or a Go template.
check_value() {
  case $2 in
    *"
"*) fail "$1 must be on one line" ;;
  esac
  if printf '%s' "$2" | grep -q '[{}"'"'"'\\]'; then fail "$1 must not contain braces, quotes or backslashes: $2"; fi
}

# A YAML single-quoted scalar, escaped for the right-hand side of a sed s|||.
yaml_for_sed() {
  printf "'%s'" "$1" | sed -e 's/[\\&|]/\\&/g'
}

admins=""     # for the To header: "a@x, b@y"
addresses="" # for one email_config each: "a@x b@y"
count=0
set -f # the addresses are split on spaces below; a * in one must stay a *
for address in $(printf '%s' "${ADMIN_EMAILS:-}" | tr ',' ' '); do
  printf '%s' "$address" | grep -Eq '^[^@<>(),;:[:space:]{}"'"'"'\\]+@[A-Za-z0-9.-]+$' ||
    fail "ADMIN_EMAILS: not an e-mail address: $address"
  for seen in $addresses; do
    [ "$(printf '%s' "$seen" | tr 'A-Z' 'a-z')" != "$(printf '%s' "$address" | tr 'A-Z' 'a-z')" ] ||
      fail "ADMIN_EMAILS: $address is listed twice"
  done
  admins="${admins:+$admins, }$address"
  addresses="${addresses:+$addresses }$address"
  count=$((count + 1))
done
set +f
[ "$count" -gt 0 ] || fail "ADMIN_EMAILS is empty: set it to the admins' addresses, separated by commas"
if [ "$count" -lt "$minimum_admins" ]; then
  $allow_fewer_admins ||
    fail "ADMIN_EMAILS has $count address(es), at least $minimum_admins are required: with fewer, one admin on holiday or one address the mail server refuses leaves the alerts unread. Add admins, or pass --allow-fewer-admins for a demo or a test"
  echo "WARNING: ADMIN_EMAILS has $count address(es), fewer than $minimum_admins (--allow-fewer-admins): fine for a demo, not for production" >&2
fi

# The links in the mails. No default: one pointing at localhost leads an admin's phone nowhere.
site_url() {
  eval "value=\${$1:-}"
  [ -n "$value" ] || fail "$1 is required: $2 as the admins reach it (https://...), for the links in every mail"
  check_value "$1" "$value"
  printf '%s' "$value" | grep -Eq '^https?://[^[:space:]]+$' || fail "$1 must be an http(s) URL: $value"
  printf '%s' "${value%/}"
}
grafana_url=$(site_url GRAFANA_URL "Grafana's address")
alertmanager_url=$(site_url ALERTMANAGER_URL "Alertmanager's address")

deadmansswitch_url=${DEADMANSSWITCH_URL:-}
if [ -n "${DEADMANSSWITCH_URL_FILE:-}" ]; then
  [ -z "$deadmansswitch_url" ] || fail "set DEADMANSSWITCH_URL or DEADMANSSWITCH_URL_FILE, not both"
  [ -r "$DEADMANSSWITCH_URL_FILE" ] || fail "DEADMANSSWITCH_URL_FILE: cannot read $DEADMANSSWITCH_URL_FILE"
  deadmansswitch_url=$(tr -d ' \r\n\t' <"$DEADMANSSWITCH_URL_FILE")
  [ -n "$deadmansswitch_url" ] || fail "DEADMANSSWITCH_URL_FILE: $DEADMANSSWITCH_URL_FILE is empty"
fi
if [ -n "$deadmansswitch_url" ]; then
  check_value DEADMANSSWITCH_URL "$deadmansswitch_url"
  printf '%s' "$deadmansswitch_url" | grep -Eq '^https?://[^[:space:]]+$' ||
    fail "DEADMANSSWITCH_URL must be an http(s) URL"
else
  echo "WARNING: no dead man's switch (DEADMANSSWITCH_URL or DEADMANSSWITCH_URL_FILE): if Prometheus, Alertmanager or the mail path stops, nothing outside this stack will notice. Set one up: alertmanager/README.md, \"Watchdog and the dead man's switch\"" >&2
fi

# sed expressions for the global SMTP settings that are set.
edits=""
for pair in smtp_smarthost:SMTP_SMARTHOST smtp_from:SMTP_FROM smtp_auth_username:SMTP_AUTH_USERNAME \
  smtp_auth_password_file:SMTP_AUTH_PASSWORD_FILE; do
  key=${pair%%:*}
  var=${pair#*:}
  eval "value=\${$var:-}"
  [ -n "$value" ] || continue
  check_value "$var" "$value"
  edits="$edits
s|^  $key: .*\$|  $key: $(yaml_for_sed "$value")|"
done
if [ -n "$deadmansswitch_url" ]; then
  edits="$edits
s|^\\(      - url: \\)https://deadmansswitch.invalid/ping\$|\\1$(yaml_for_sed "$deadmansswitch_url")|"
else
  edits="$edits
/# BEGIN deadmansswitch webhook/,/# END deadmansswitch webhook/d"
fi

# Alertmanager 0.25 sends the file's bytes as they are: a trailing newline (echo, most editors)
# would become part of the password and the relay would answer 535.
password_file=${SMTP_AUTH_PASSWORD_FILE:-$(sed -n 's/^  smtp_auth_password_file: *//p' "$src/alertmanager.yml")}
if [ -r "$password_file" ] && [ -s "$password_file" ] && [ "$(tail -c 1 "$password_file" | wc -l)" -ne 0 ]; then
  fail "$password_file ends with a newline, which Alertmanager would send as part of the SMTP password: write it with printf '%s'"
fi

# Each block between "# BEGIN admin email" and "# END admin email" (one email_config) is written
# once per admin, its `to:` line set to that admin's address. The addresses are checked above:
# no quote, brace or backslash, so they fit in single quotes and in awk -v.
per_admin='
/^ *# BEGIN admin email/ { inside = 1; lines = 0; next }
/^ *# END admin email/ {
  count = split(addresses, address, " ")
  for (a = 1; a <= count; a++)
    for (l = 1; l <= lines; l++) {
      text = line[l]
      at = index(text, "to: ")
      if (text ~ /^ *(- )?to: /) text = substr(text, 1, at - 1) "to: '"'"'" address[a] "'"'"'"
      print text
    }
  inside = 0; blocks++; next
}
inside { line[++lines] = $0; next }
{ print }
END { if (inside || blocks == 0) exit 1 }
'

mkdir -p "$out/templates"
cp "$src"/templates/*.tmpl "$out/templates/"
sed -e "$edits" "$src/alertmanager.yml" | awk -v addresses="$addresses" "$per_admin" >"$out/alertmanager.yml.tmp" ||
  fail "$src/alertmanager.yml: no complete \"# BEGIN admin email\" ... \"# END admin email\" block to write per admin"
mv "$out/alertmanager.yml.tmp" "$out/alertmanager.yml"
cat >"$out/templates/site.tmpl" <<TEMPLATE
{{/* Written by render-config.sh from ADMIN_EMAILS, GRAFANA_URL and ALERTMANAGER_URL. */}}
{{ define "admins" }}$admins{{ end }}
{{ define "grafana_url" }}$grafana_url{{ end }}
{{ define "alertmanager_url" }}$alertmanager_url{{ end }}
TEMPLATE

if command -v amtool >/dev/null 2>&1; then
  amtool check-config "$out/alertmanager.yml" >/dev/null || fail "the rendered $out/alertmanager.yml does not check (amtool check-config)"
fi
echo "render-config.sh: $out/alertmanager.yml for $count admin(s)$([ -n "$deadmansswitch_url" ] && echo ', with the dead man'"'"'s switch' || true)"
