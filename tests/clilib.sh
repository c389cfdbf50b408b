# Shared by the tests/cli_*.sh scripts (sourced, not a test itself): strict mode, a scratch directory, helpers.
set -euo pipefail
: "${AGORA:?path of the agora binary}" "${AGORA_SOURCE_DIR:?}" "${AGORA_TEST_TMP:?}"
SRC=$AGORA_SOURCE_DIR
PY=/usr/bin/python3
rm -rf "$AGORA_TEST_TMP"
mkdir -p "$AGORA_TEST_TMP"
cd "$AGORA_TEST_TMP"

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# expect_exit CODE CMD... : runs CMD, fails unless it exits with CODE; stdout/stderr kept in out.txt/err.txt
expect_exit() {
  local want=$1; shift
  set +e; "$@" >out.txt 2>err.txt; local got=$?; set -e
  if [ "$got" != "$want" ]; then
    echo "--- stdout"; cat out.txt; echo "--- stderr"; cat err.txt
    fail "expected exit $want, got $got: $*"
  fi
}

# contains FILE TEXT : fails unless FILE contains TEXT (fixed string)
contains() { grep -qF -- "$2" "$1" || { echo "--- $1:"; cat "$1"; fail "$1 does not contain: $2"; }; }

# The loopback LLM server (tests/llm_server.py), stopped when the script exits.
# start_server SCRIPT NAME : answers from SCRIPT, its requests logged to NAME.jsonl; sets url (and server, its pid).
server=
trap '[ -z "$server" ] || kill $server 2>/dev/null || true' EXIT
start_server() {
  rm -f "$2.port" "$2.jsonl"
  $PY "$SRC/tests/llm_server.py" --script "$1" --log "$2.jsonl" --port 0 --port-file "$2.port" --exit-with-parent \
    >/dev/null &
  server=$!
  for _ in $(seq 100); do [ -s "$2.port" ] && break; sleep 0.1; done
  [ -s "$2.port" ] || fail "the loopback server did not start"
  url="http://127.0.0.1:$(cat "$2.port")"
}
stop_server() { kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; server=; }
