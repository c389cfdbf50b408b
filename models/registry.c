/* agora — the model registry: every built-in model, in the order `agora models` lists them.
 * A new model adds its `extern const agora_model` here and one line to the table. */
#include <string.h>

#include "agora/model.h"
#include "rules/model.h"

extern const agora_model agora_model_sir;
extern const agora_model agora_model_opinion;
extern const agora_model agora_model_market;

static const agora_model *const registry[] = {
    &agora_model_sir,
    &agora_model_opinion,
    &agora_model_market,
};

const agora_model *const *agora_models(int *count)
{
    if (count)
        *count = (int)(sizeof registry / sizeof registry[0]);
    return registry;
}

const agora_model *agora_model_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof registry / sizeof registry[0]; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return agora__rules_find(name); /* a model defined in the rule language in this process */
}
