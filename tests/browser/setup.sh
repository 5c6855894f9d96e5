#!/bin/sh
# Installs playwright-core, at the version pinned in package-lock.json, into
# tests/browser/node_modules when it is missing or another version is there. Only the
# npm package: no browser is downloaded, the tests drive Debian's /usr/bin/chromium.
# Run by make deps (make test, make browser-report) after tests/deps.sh has installed
# nodejs and npm.
set -e
cd "$(dirname "$0")"
want=$(sed -n 's/^ *"playwright-core": "\([0-9.]*\)".*/\1/p' package.json)
have=$(node -p 'require("./node_modules/playwright-core/package.json").version' 2>/dev/null || true)
[ -n "$want" ] && [ "$have" = "$want" ] && exit 0

echo "make test: installing playwright-core $want into tests/browser/node_modules (npm ci, no browser download)"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
