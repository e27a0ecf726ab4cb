#!/usr/bin/env bash
# Install the system tools the test suite drives for real, when they are missing:
# curl (a real client), iproute2 (`ip netns`: private network namespaces for tests that aim at
# forbidden non-loopback addresses), dig (dnsutils: a real DNS client), dnsperf (the DNS
# bench's load generator) and prometheus (its `promtool` checks and unit-tests the alert rules).
# Needs root for apt-get; says what is missing otherwise.
set -euo pipefail

missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v dig >/dev/null 2>&1 || missing+=(dnsutils)
command -v dnsperf >/dev/null 2>&1 || missing+=(dnsperf)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: missing ${missing[*]}; run as root or install them" >&2
  exit 1
fi
echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
