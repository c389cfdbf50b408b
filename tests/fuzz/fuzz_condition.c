/* agora — libFuzzer harness for the `offline_policy` condition parser (agora_condition_eval in src/llm/persona.c):
 * comparisons between numbers and (dotted) keys, joined by and / or / not and parentheses.
 *
 * Input: the condition, optionally followed by a line "~~~~" and the observation as JSON; without one, a fixed
 * observation with the keys the shipped scenarios use (I_frac, S_frac, step, beta_eff, mean, ...), a nested object
 * and a boolean. The condition is evaluated on that observation and on an empty one (as agora_personas_create checks
 * rules). Invariants: the result is 1, 0 or -1; -1 comes with a message; whether the text is a syntax error does not
 * depend on the observation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/agora.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *default_obs, *empty_obs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    agora_init();
    default_obs = json_pack("{s:f, s:f, s:f, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:b, s:{s:f, s:{s:i}}, s:s, s:n}",
                            "I_frac", 0.03, "S_frac", 0.6, "R_frac", 0.37, "step", 14, "beta_eff", 0.08, "mean", 0.5,
                            "polarization", 0.2, "efficiency", 0.93, "tax_rate", 0.0, "price", 101.5, "lockdown", 1,
                            "market", "price", 99.0, "orders", "n", 7, "label", "high", "none");
    empty_obs = json_object();
    if (!default_obs || !empty_obs)
        abort();
    return 0;
}

static int eval(const char *expr, const json_t *obs)
{
    agora_error err;
    agora_error_clear(&err);
    int v = agora_condition_eval(expr, obs, &err);
    if (v != 0 && v != 1 && v != -1)
        fuzz_fail("agora_condition_eval returned %d", v);
    if (v == -1 && !err.msg[0])
        fuzz_fail("agora_condition_eval: a syntax error without a message");
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part parts[2];
    int n = fuzz_split(data, size, parts, 2);
    json_t *obs = NULL;
    if (n > 1) {
        json_error_t je;
        obs = json_loadb(parts[1].s, parts[1].len, JSON_DECODE_ANY, &je);
    }
    const int a = eval(parts[0].s, obs ? obs : default_obs);
    const int b = eval(parts[0].s, empty_obs);
    if ((a == -1) != (b == -1))
        fuzz_fail("\"%s\" is a syntax error with one observation and not with the other", parts[0].s);
    json_decref(obs);
    fuzz_parts_free(parts, n);
    return 0;
}
