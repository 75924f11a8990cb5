#!/usr/bin/env bash
# The tests, with their real peers: installs what is missing (Debian packages as root, npm packages into
# Asio2.Rx.Tests/peers), then runs `dotnet test`. Extra arguments go to dotnet test (e.g. -c Release --no-build).
# Without root, missing Debian packages are reported and the tests that need them are skipped with the reason.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# program -> Debian package
declare -A debian=(
  [socat]=socat          # serial ports: pseudo-terminal pairs
  [openssl]=openssl      # TLS interop: s_client / s_server
  [curl]=curl            # HTTP client peer
  [wrk]=wrk              # HTTP load peer
  [chromium]=chromium    # browser peer for HTTP and WebSocket pages
  [node]=nodejs          # node ws / MessagePack-RPC peers
  [npm]=npm
  [gcc]=gcc              # compiles the reference ikcp.c into a KCP peer
)
need=()
for tool in "${!debian[@]}"; do command -v "$tool" >/dev/null 2>&1 || need+=("${debian[$tool]}"); done
# Debian's python3 (the tests run /usr/bin/python3: a pyenv or venv python on PATH lacks Debian's modules).
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || need+=(python3-websockets)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${need[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "test.sh: missing ${need[*]} (not root: the tests that need them will be skipped with the reason)" >&2
  fi
fi

if command -v npm >/dev/null 2>&1; then
  # --ignore-scripts: node-kcp's own binding does not build on current Node; its ikcp.c/ikcp.h are what the tests use.
  (cd Asio2.Rx.Tests/peers && npm install --ignore-scripts --no-audit --no-fund --silent >/dev/null)
fi

exec dotnet test Asio2.Rx.Tests "$@"
