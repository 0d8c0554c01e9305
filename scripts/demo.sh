#!/usr/bin/env bash
# Install what is missing (including the offline models), then run the live demo. Extra args go to `livedub demo`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install.sh" --demo
cd "$root"
exec "$root/.venv/bin/livedub" demo "$@"
