#!/bin/sh
# livedub hook for MediaMTX runOnReady / runOnNotReady: one JSON POST to the stream orchestrator.
#
#   hook.sh ready|not-ready ORCHESTRATOR_URL [--timeout SECONDS]
#
# MediaMTX provides MTX_PATH, MTX_QUERY, MTX_SOURCE_TYPE and MTX_SOURCE_ID in the environment.
# The body {"path","query","sourceType","sourceId"} is built by jq from those values, never by
# string pasting, so a query holding quotes, backslashes, newlines or `$(...)` stays data.
# URL and timeout come from the command line (deploy/mediamtx/mediamtx.yml); each attempt times out
# after --timeout seconds (default 2); a connection failure, timeout or 5xx is retried once.
# With ORCH_HOOK_TOKEN set (a secret: from the environment only, never an argument) it sends
# "Authorization: Bearer <token>", handed to curl on stdin (printf is a shell builtin): never on a
# command line that `ps` shows, never printed.
# Exit: 0 delivered (2xx), 1 not delivered (MediaMTX logs our stderr), 2 misuse or missing tool.
# Needs: POSIX sh, jq, curl (deploy/mediamtx/Dockerfile adds jq and curl to the Alpine image).
# Same contract as `python -m livedub.media.mediamtx_hook`; tests run both against one suite.
set -u

usage="usage: hook.sh ready|not-ready ORCHESTRATOR_URL [--timeout SECONDS]"
event="${1:-}"
case "$event" in
  ready|not-ready) ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
timeout=2
if [ $# -eq 4 ] && [ "$3" = "--timeout" ]; then
  timeout="$4"
elif [ $# -ne 2 ]; then
  echo "$usage" >&2; exit 2
fi
# a positive number of seconds: digits and at most one dot, with a non-zero digit (curl reads 0 as no limit)
case "$timeout" in
  *[!0-9.]*|*.*.*|'') echo "$usage" >&2; exit 2 ;;
esac
if [ -z "$(printf '%s' "$timeout" | tr -d '0.')" ]; then
  echo "$usage" >&2; exit 2
fi
base="$2"
case "$base" in
  http://*|https://*) ;;
  *) echo "livedub hook: orchestrator URL must start with http:// or https:// (got '$base')" >&2; exit 2 ;;
esac
if [ -z "${MTX_PATH:-}" ]; then
  echo "livedub hook: MTX_PATH is not set (this program is run by MediaMTX hooks)" >&2
  exit 2
fi
for tool in jq curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "livedub hook: '$tool' is required but not installed" >&2
    exit 2
  fi
done
url="${base%/}/v1/mediamtx/events/$event"

body=$(jq -cn --arg path "$MTX_PATH" --arg query "${MTX_QUERY:-}" \
  --arg sourceType "${MTX_SOURCE_TYPE:-}" --arg sourceId "${MTX_SOURCE_ID:-}" \
  '{path: $path, query: $query, sourceType: $sourceType, sourceId: $sourceId}') || {
  echo "livedub hook: could not encode the event as JSON" >&2
  exit 1
}
cid=$(tr -d '-' </proc/sys/kernel/random/uuid 2>/dev/null || echo "$$$(date +%s)")

attempt=1
while :; do
  # the last line of the output is the HTTP status (000 when there was no answer)
  out=$(printf 'Authorization: Bearer %s\n' "${ORCH_HOOK_TOKEN:-}" | grep -v ' $' | \
    curl -sS --max-time "$timeout" -H 'Content-Type: application/json' -H @- \
    -H "X-Correlation-Id: $cid" -H 'User-Agent: livedub-mediamtx-hook' \
    --data-binary "$body" -w '\n%{http_code}' "$url" 2>&1)
  rc=$?
  code=$(printf '%s\n' "$out" | tail -n 1)
  case "$code" in [0-9][0-9][0-9]) ;; *) code=000 ;; esac
  if [ "$rc" -eq 0 ] && [ "$code" -ge 200 ] && [ "$code" -lt 300 ]; then
    echo "livedub hook: $event $MTX_PATH -> $code (correlation id $cid)"
    exit 0
  fi
  if [ "$attempt" -eq 1 ] && { [ "$rc" -ne 0 ] || [ "$code" -ge 500 ] || [ "$code" -eq 0 ]; }; then
    attempt=2
    sleep 1
    continue
  fi
  detail=$(printf '%s\n' "$out" | sed '$d' | tr '\n' ' ' | cut -c1-300)
  echo "livedub hook: $event $MTX_PATH not delivered to $base (curl exit $rc, HTTP $code: $detail; correlation id $cid)" >&2
  exit 1
done
