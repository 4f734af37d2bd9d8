#!/usr/bin/env bash
# run.sh - install what is missing, build, and run observd in the
# foreground on port 8080 (metrics on 9464).  Extra arguments go to
# observd, e.g. scripts/run.sh --workers 2 --log-level DEBUG
#
#   curl localhost:8080/health      curl localhost:9464/metrics
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
scripts/build.sh
exec ./observd "$@"
