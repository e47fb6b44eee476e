# Sourced by the benchmarks that drive a server with wrk (bench/verify.sh,
# bench/creates.sh): installs wrk (Debian package) when missing and root,
# else stops with a message.
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else
    echo "wrk is not installed (Debian package wrk)" >&2; exit 1
  fi
fi
