#!/usr/bin/env bash
# Install what is missing (including test extras), then run the test suite. Extra args go to pytest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install.sh" --test
cd "$root"
exec "$root/.venv/bin/python" -m pytest "$@"
