#!/usr/bin/env bash
# Installs the Debian packages the tests use (slapd, ldap-utils, poppler-utils, openssl, systemd, postgresql)
# when they are missing and we run as root, as CI does. Elsewhere it only says
# what is missing: those tests then skip, naming the package (or fail if CI=true).
set -euo pipefail

need=()
PATH="$PATH:/usr/sbin:/sbin"
command -v slapd >/dev/null || need+=(slapd)
command -v ldapadd >/dev/null || need+=(ldap-utils)
command -v pdftoppm >/dev/null || need+=(poppler-utils)
command -v openssl >/dev/null || need+=(openssl)  # a certificate for the https test of pegase fetch
command -v systemd-analyze >/dev/null || need+=(systemd)  # verifies the nightly job's units
# The PostgreSQL registry's tests start their own server (tests/postgres.py); Debian keeps initdb and
# pg_ctl off PATH, under /usr/lib/postgresql/VERSION/bin.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null || need+=(postgresql)
((${#need[@]})) || exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "system-packages: missing ${need[*]}; install them as root (apt-get install ${need[*]}) or their tests skip" >&2
  exit 0
fi

# slapd's and postgresql's installs would start system-wide daemons (postgresql's a cluster on port
# 5432); the tests start their own on a free port, so keep the package scripts from starting services.
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if ((created_policy)); then rm -f /usr/sbin/policy-rc.d; fi
echo "system-packages: installed ${need[*]}"
