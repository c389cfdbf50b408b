# A full disk never crashes a run or leaves a broken file: the run stops with exit 1 and a message naming the file
# and the OS error, and the file is either readable with status "failed" (and the reason, which `agora inspect`
# shows) or removed. Two ways to fill a disk:
#   - a small tmpfs (needs root to mount; CI runs as root): the writer's free-space check stops the run while the
#     file can still be closed;
#   - tests/fault/enospc.c preloaded: writes fail with ENOSPC after N bytes, which no free-space check foresees
#     (another process taking the last blocks), so the writer's recovery path runs.
source "$(dirname "$0")/clilib.sh"
: "${AGORA_FAULT_ENOSPC:?path of the ENOSPC fault library}"

cat > grid.yaml <<'Y'
name: grid
model: sir
space: {kind: grid, width: 300, height: 300}
params: {beta: 0.05, gamma: 0.02, initial_infected: 50}
steps: 150
output: {snapshot_every: 5, flush_every: 5}
interventions: [{at: 10, action: {action: vaccinate, fraction: 0.1}}]
Y

# check_outcome FILE : the run's exit code (in rc) and what it left obey the rules above.
check_outcome() {
  local file=$1
  [ "$rc" -lt 128 ] || { cat err.txt; fail "the run died of signal $((rc - 128))"; }
  if [ "$rc" = 0 ]; then
    $AGORA inspect "$file" > insp.txt || fail "a complete run's file does not open"
    contains insp.txt "complete"
    return
  fi
  [ "$rc" = 1 ] || { cat err.txt; fail "a full disk should exit 1, got $rc"; }
  grep -qiF "no space left on device" err.txt || { cat err.txt; fail "the message does not name the OS error"; }
  contains err.txt "$file"
  if [ -e "$file" ]; then
    $AGORA inspect "$file" > insp.txt || { cat err.txt; fail "the failed run left a file that does not open"; }
    contains insp.txt "failed"
    grep -qiF "error       " insp.txt || fail "inspect does not say what happened"
    grep -qiF "no space left on device" insp.txt || fail "inspect does not name the OS error"
    h5dump -H "$file" > /dev/null || fail "the failed run's file does not open in h5dump"
    outcome=kept
  else
    # never created (no room even to start), or removed because not even its status could be written
    grep -qE "removed|a run file needs at least|cannot create the run file|cannot start SWMR" err.txt ||
      { cat err.txt; fail "the file is gone and the message does not say why"; }
    outcome=removed
  fi
}

# 1. A small tmpfs.
mnt=$AGORA_TEST_TMP/small
mkdir -p "$mnt"
trap '[ -z "$server" ] || kill $server 2>/dev/null || true; umount "$mnt" 2>/dev/null || true' EXIT
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=4m tmpfs "$mnt" 2>/dev/null; then
  umount "$mnt"
  kept=0
  for size in 200k 560k 600k 650k 700k 800k 4m; do
    mount -t tmpfs -o size=$size tmpfs "$mnt"
    set +e; $AGORA run grid.yaml -o "$mnt/x.h5" -q >out.txt 2>err.txt; rc=$?; set -e
    outcome=
    check_outcome "$mnt/x.h5"
    [ "$outcome" = kept ] && kept=$((kept + 1))
    echo "tmpfs $size: exit $rc ${outcome:-}"
    umount "$mnt"
  done
  [ "$kept" -ge 2 ] || fail "on a filling tmpfs the file should be kept with status failed (kept $kept times)"
  pass "small tmpfs"
else
  echo "note: not root or no tmpfs mount here; the tmpfs part is left out, the fault-injection part runs"
fi

# 2. Writes that fail with ENOSPC after N bytes, whatever the free-space figures say.
for n in 0 3000 40000 150000 400000 900000 2000000; do
  rm -f f.h5
  set +e
  LD_PRELOAD=$AGORA_FAULT_ENOSPC AGORA_FAULT_DIR=. AGORA_FAULT_ENOSPC_AFTER=$n $AGORA run grid.yaml -o f.h5 -q \
    >out.txt 2>err.txt
  rc=$?
  set -e
  check_outcome f.h5
  echo "ENOSPC after $n bytes: exit $rc ${outcome:-}"
done
pass "ENOSPC at any point"

# The same for a mixed run (personas on their rules) and a sweep's run files.
set +e
LD_PRELOAD=$AGORA_FAULT_ENOSPC AGORA_FAULT_DIR=. AGORA_FAULT_ENOSPC_AFTER=200000 \
  $AGORA run "$SRC/scenarios/sir_lockdown.yaml" --set space.width=200 --set space.height=200 -o m.h5 -q \
  >out.txt 2>err.txt
rc=$?
set -e
check_outcome m.h5
pass "mixed run"
