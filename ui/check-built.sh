#!/bin/sh
# Fails when the committed evidence view (or the test's host bridge) is not what the sources build.
# Needs Node 20+ and npm; installs exactly the locked packages.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cd "$here"
npm ci --no-audit --no-fund --silent
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node build.mjs "$tmp"
for f in truthscan_mcp/adapter/ui/report.html tests/e2e/host/app-bridge.js; do
  if ! cmp -s "$tmp/$f" "$repo/$f"; then
    echo "$f is stale: run 'cd ui && npm ci && npm run build' and commit the result" >&2
    exit 1
  fi
done
echo "evidence view is current"
