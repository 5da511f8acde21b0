#!/usr/bin/env bash
# Installs Debian's Chromium (and CJK fonts, so Japanese renders) for the
# end-to-end tests. No browser download of a test tool's own can work here.
# (No grep -q after a pipe: under pipefail its early exit fails the pipeline.)
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -i 'Noto Sans CJK' >/dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
echo "chromium: $(chromium --version 2>/dev/null)"
