#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only when they are missing:
# the PostgreSQL server (tests run on it next to SQLite), Chromium (Playwright drives it)
# LibreOffice Calc (exported workbooks must open in it, headless, without a display) and Java (Spark).
set -euo pipefail

missing=()
pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
[ -n "$(pg_bindir)" ] && [ -x "$(pg_bindir)/initdb" ] || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
# Spark (one of the data engines, run in local mode by the tests) needs a Java runtime.
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
# soffice alone is not enough: it comes with LibreOffice's core, and Calc is a package of its own.
calc_installed() {
  { command -v soffice || command -v libreoffice; } >/dev/null 2>&1 \
    && [ -e /usr/lib/libreoffice/program/libsclo.so ]
}
need_calc=0
calc_installed || need_calc=1

if [ ${#missing[@]} -eq 0 ] && [ "$need_calc" -eq 0 ]; then
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
if [ "$need_calc" -eq 1 ]; then
  # The -nogui flavour leaves out the X11/GTK front ends the headless tests never use;
  # older releases do not have it, so fall back to the full Calc package there.
  policy="$(apt-cache policy libreoffice-calc-nogui 2>/dev/null || true)"
  if grep -q 'Candidate: [0-9]' <<<"$policy"; then
    missing+=(libreoffice-calc-nogui)
  else
    missing+=(libreoffice-calc)
  fi
fi
echo "installing from Debian: ${missing[*]}"
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
