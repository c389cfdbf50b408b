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
