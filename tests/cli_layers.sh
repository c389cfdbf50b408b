# Layers a reader can see (issue 15): the kernel's public headers (include/agora/kernel.h lists them) include only
# one another and system headers; each compiles alone without the HDF5, libcurl or libyaml include paths; and the
# models include the kernel, not the umbrella agora.h that pulls in the LLM client, MCP and the HDF5 writer.
source "$AGORA_SOURCE_DIR/tests/clilib.sh"
inc=$SRC/include/agora
kernel=$(grep -o '#include "agora/[a-z_]*\.h"' "$inc/kernel.h" | sed 's|#include "agora/||; s|"||')
[ -n "$kernel" ] || fail "no headers listed in kernel.h"
for h in $kernel; do
  [ -f "$inc/$h" ] || [ "$h" = version.h ] || fail "kernel.h lists $h, which does not exist"
  [ "$h" = version.h ] && continue
  for dep in $(grep -o '#include [<"]agora/[a-z_]*\.h[>"]' "$inc/$h" | sed 's|#include [<"]agora/||; s|[>"]||'); do
    echo "$kernel" | grep -qx "$dep" || fail "kernel header $h includes agora/$dep, which is not in the kernel"
  done
  printf '#include "agora/%s"\nint main(void) { return 0; }\n' "$h" > alone.c
  cc -std=c11 -fsyntax-only -fopenmp -I"$SRC/include" -I"$AGORA_BUILD_DIR/include" alone.c 2> cc.txt ||
    { cat cc.txt; fail "agora/$h does not compile alone with the kernel's include paths"; }
done
pass "kernel headers: $(echo $kernel | wc -w), each self-contained and including only the kernel"

for m in "$SRC"/models/*.c; do
  for dep in $(grep -o '#include "agora/[a-z_]*\.h"' "$m" | sed 's|#include "agora/||; s|"||'); do
    [ "$dep" = kernel.h ] || echo "$kernel" | grep -qx "$dep" || fail "$(basename "$m") includes agora/$dep, above the kernel"
  done
done
for m in sir opinion market; do
  cc -std=c11 -D_POSIX_C_SOURCE=200809L -fsyntax-only -fopenmp -I"$SRC/include" -I"$AGORA_BUILD_DIR/include" \
    -I"$SRC/src" "$SRC/models/$m.c" 2> cc.txt || { cat cc.txt; fail "models/$m.c needs more than the kernel"; }
done
pass "the built-in models include the kernel only, and compile without HDF5, libcurl or libyaml"

# the output layer's header knows the record of an LLM call, not the persona runtime that makes calls
for dep in persona.h interact.h mcp.h run.h llm.h; do
  ! grep -q "#include \"agora/$dep\"" "$inc/output.h" || fail "output.h includes agora/$dep"
done
printf '#include "agora/output.h"\nint main(void) { return 0; }\n' > alone.c
cc -std=c11 -fsyntax-only -I"$SRC/include" -I"$AGORA_BUILD_DIR/include" alone.c 2> cc.txt ||
  { cat cc.txt; fail "agora/output.h does not compile alone"; }
pass "output.h stands on the kernel and the call record (llmcall.h), not on the persona runtime"
