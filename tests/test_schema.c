/* Tests for the JSON Schema validator (src/core/schema.c): each supported keyword accepts what it should and
 * rejects what it should with the documented path and message, the tagged-union rule picks the branch the instance
 * names (the SIR action schema is the real example), and agora_schema_check refuses keywords it does not support. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agora/agora.h"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
    return v;
}

/* Validates instance text against schema text; returns the code and leaves the error in *err. */
static int check(const char *schema_text, const char *instance_text, const char *path, agora_error *err)
{
    json_t *schema = parse(schema_text), *inst = parse(instance_text);
    agora_error_clear(err);
    int rc = agora_schema_validate(schema, inst, path, err);
    json_decref(schema);
    json_decref(inst);
    return rc;
}

static void assert_valid(const char *schema, const char *instance)
{
    agora_error err;
    int rc = check(schema, instance, "", &err);
    if (rc != 0)
        fail_msg("%s should match %s but: %s: %s", instance, schema, err.where, err.msg);
}

static void assert_invalid(const char *schema, const char *instance, const char *path, const char *where,
                           const char *msg)
{
    agora_error err;
    int rc = check(schema, instance, path, &err);
    assert_int_equal(rc, AGORA_ESCHEMA);
    assert_int_equal(err.code, AGORA_ESCHEMA);
    assert_string_equal(err.where, where);
    assert_string_equal(err.msg, msg);
}

static void type_names_and_lists(void **state)
{
    (void)state;
    assert_valid("{\"type\": \"string\"}", "\"x\"");
    assert_valid("{\"type\": \"number\"}", "3");
    assert_valid("{\"type\": \"number\"}", "3.5");
    assert_valid("{\"type\": \"boolean\"}", "false");
    assert_valid("{\"type\": \"null\"}", "null");
    assert_valid("{\"type\": \"object\"}", "{}");
    assert_valid("{\"type\": \"array\"}", "[]");
    assert_valid("{\"type\": [\"string\", \"null\"]}", "null");
    assert_invalid("{\"type\": \"integer\"}", "\"ten\"", "", "", "expected an integer, got \"ten\"");
    assert_invalid("{\"type\": \"number\"}", "\"high\"", "x", "x", "expected a number, got \"high\"");
    assert_invalid("{\"type\": \"object\"}", "[1]", "a.b", "a.b", "expected an object, got [1]");
    assert_invalid("{\"type\": \"array\"}", "{}", "", "", "expected a list, got {}");
    assert_invalid("{\"type\": \"boolean\"}", "1", "", "", "expected true or false, got 1");
    assert_invalid("{\"type\": [\"string\", \"integer\", \"null\"]}", "true", "", "",
                   "expected a string, an integer or null, got true");
}

static void integer_accepts_whole_reals_only(void **state)
{
    (void)state;
    assert_valid("{\"type\": \"integer\"}", "3");
    assert_valid("{\"type\": \"integer\"}", "3.0");
    assert_valid("{\"type\": \"integer\"}", "-1e3");
    assert_invalid("{\"type\": \"integer\"}", "2.5", "steps", "steps", "expected an integer, got 2.5");
}

static void enum_and_const(void **state)
{
    (void)state;
    assert_valid("{\"enum\": [\"a\", \"b\"]}", "\"b\"");
    assert_valid("{\"enum\": [1, [2]]}", "[2]");
    /* Numbers compare by value, as JSON Schema says. */
    assert_valid("{\"enum\": [1, 2]}", "2.0");
    assert_valid("{\"const\": 1.0}", "1");
    assert_invalid("{\"enum\": [\"a\", \"b\"]}", "\"c\"", "k", "k", "expected one of \"a\", \"b\", got \"c\"");
    assert_invalid("{\"const\": \"vaccinate\"}", "\"nuke\"", "", "", "expected \"vaccinate\", got \"nuke\"");
    assert_invalid("{\"const\": {\"a\": 1}}", "{\"a\": 2}", "", "", "expected {\"a\":1}, got {\"a\":2}");
}

static void minimum_maximum_and_exclusive(void **state)
{
    (void)state;
    const char *s = "{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}";
    assert_valid(s, "0");
    assert_valid(s, "1");
    assert_valid(s, "0.5");
    assert_invalid(s, "2", "f", "f", "expected a number <= 1, got 2");
    assert_invalid(s, "-0.5", "f", "f", "expected a number >= 0, got -0.5");
    const char *x = "{\"exclusiveMinimum\": 0, \"exclusiveMaximum\": 1.5}";
    assert_valid(x, "0.001");
    assert_invalid(x, "0", "", "", "expected a number > 0, got 0");
    assert_invalid(x, "1.5", "", "", "expected a number < 1.5, got 1.5");
    /* Whole limits are written in full, not as 1e+12, and integer schemas say "an integer". */
    assert_invalid("{\"type\": \"integer\", \"maximum\": 1000000000000}", "1000000000001", "", "",
                   "expected an integer <= 1000000000000, got 1000000000001");
    /* Range keywords say nothing about values that are not numbers. */
    assert_valid("{\"minimum\": 5}", "\"text\"");
}

static void string_and_list_lengths(void **state)
{
    (void)state;
    const char *s = "{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}";
    assert_valid(s, "\"ab\"");
    /* Lengths count characters, not bytes: three two-byte letters are three. */
    assert_valid(s, "\"\\u00e9\\u00e9\\u00e9\"");
    assert_invalid(s, "\"a\"", "", "", "expected a string of at least 2 characters, got \"a\"");
    assert_invalid(s, "\"abcd\"", "", "", "expected a string of at most 3 characters, got \"abcd\"");
    const char *l = "{\"type\": \"array\", \"minItems\": 1, \"maxItems\": 2}";
    assert_valid(l, "[1]");
    assert_invalid(l, "[]", "xs", "xs", "expected a list of at least 1 item, got []");
    assert_invalid(l, "[1, 2, 3]", "xs", "xs", "expected a list of at most 2 items, got [1,2,3]");
}

static void items_paths_in_nested_lists(void **state)
{
    (void)state;
    const char *s = "{\"type\": \"array\", \"items\": {\"type\": \"array\", \"items\": {\"type\": \"integer\"}}}";
    assert_valid(s, "[[1, 2], [], [3]]");
    assert_invalid(s, "[[1, 2], [3, \"x\"]]", "grid", "grid[1][1]", "expected an integer, got \"x\"");
    assert_invalid(s, "[[1], 7]", "", "[1]", "expected a list, got 7");
    const char *o = "{\"type\": \"object\", \"properties\": {\"rows\": {\"type\": \"array\", \"items\":"
                    " {\"type\": \"object\", \"properties\": {\"v\": {\"type\": \"number\"}}}}}}";
    assert_invalid(o, "{\"rows\": [{\"v\": 1}, {\"v\": \"no\"}]}", "interventions[0].action",
                   "interventions[0].action.rows[1].v", "expected a number, got \"no\"");
}

static void required_and_additional_properties(void **state)
{
    (void)state;
    const char *s = "{\"type\": \"object\", \"properties\": {\"action\": {\"type\": \"string\"},"
                    " \"fraction\": {\"type\": \"number\"}}, \"required\": [\"action\", \"fraction\"],"
                    " \"additionalProperties\": false}";
    assert_valid(s, "{\"action\": \"x\", \"fraction\": 0.5}");
    assert_invalid(s, "{\"action\": \"x\"}", "a", "a", "required key \"fraction\" is missing");
    assert_invalid(s, "{\"action\": \"x\", \"fraction\": 1, \"foo\": 2}", "a", "a.foo",
                   "unknown key \"foo\" (allowed: action, fraction)");
    assert_invalid(s, "{\"action\": \"x\", \"fraction\": \"half\"}", "", "fraction",
                   "expected a number, got \"half\"");
    /* additionalProperties as a schema checks every key that properties does not name. */
    const char *m = "{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"string\"}},"
                    " \"additionalProperties\": {\"type\": \"integer\"}}";
    assert_valid(m, "{\"n\": \"x\", \"a\": 1, \"b\": 2}");
    assert_invalid(m, "{\"n\": \"x\", \"a\": 1.5}", "w", "w.a", "expected an integer, got 1.5");
    /* Absent additionalProperties allows anything. */
    assert_valid("{\"properties\": {\"n\": {\"type\": \"string\"}}}", "{\"z\": [1]}");
}

static void any_of_all_of_one_of(void **state)
{
    (void)state;
    const char *any = "{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"integer\", \"minimum\": 0}]}";
    assert_valid(any, "\"s\"");
    assert_valid(any, "3");
    /* Branches that all fail at the value itself are merged into one message. */
    assert_invalid(any, "true", "v", "v", "expected a string or an integer, got true");
    assert_invalid(any, "-1", "v", "v", "expected a string or an integer >= 0, got -1");
    /* Otherwise the branch that got furthest into the value reports. */
    const char *deep = "{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"object\", \"properties\":"
                       " {\"k\": {\"type\": \"integer\"}}}]}";
    assert_invalid(deep, "{\"k\": \"no\"}", "", "k", "expected an integer, got \"no\"");

    const char *all = "{\"allOf\": [{\"type\": \"number\"}, {\"maximum\": 10}]}";
    assert_valid(all, "10");
    assert_invalid(all, "11", "", "", "expected a number <= 10, got 11");
    assert_invalid(all, "\"x\"", "", "", "expected a number, got \"x\"");

    const char *one = "{\"oneOf\": [{\"type\": \"integer\"}, {\"type\": \"number\", \"minimum\": 5}]}";
    assert_valid(one, "2");   /* only the first */
    assert_valid(one, "5.5"); /* only the second */
    assert_invalid(one, "7", "n", "n", "matches more than one of the allowed forms (0 and 1)");
    assert_invalid(one, "\"x\"", "n", "n", "expected an integer or a number, got \"x\"");
}

static void boolean_schemas(void **state)
{
    (void)state;
    assert_valid("true", "{\"anything\": 1}");
    assert_invalid("{\"properties\": {\"x\": false}}", "{\"x\": 1}", "", "x", "no value is allowed here, got 1");
}

/* ---- the SIR action schema: the real tagged union ---------------------------------------------------------------- */

static json_t *sir_schema(void)
{
    const agora_model *sir = agora_model_find("sir");
    assert_non_null(sir);
    agora_error err;
    json_t *s = agora_model_action_schema(sir, &err);
    assert_non_null(s);
    return s;
}

static int sir_check(const char *action, const char *path, agora_error *err)
{
    json_t *s = sir_schema(), *a = parse(action);
    agora_error_clear(err);
    int rc = agora_schema_validate(s, a, path, err);
    json_decref(s);
    json_decref(a);
    return rc;
}

static void sir_schema_is_supported(void **state)
{
    (void)state;
    json_t *s = sir_schema();
    agora_error err;
    assert_int_equal(agora_schema_check(s, &err), 0);
    json_decref(s);
}

static void sir_good_actions_pass(void **state)
{
    (void)state;
    agora_error err;
    assert_int_equal(sir_check("{\"action\": \"vaccinate\", \"fraction\": 0.3}", "action", &err), 0);
    assert_int_equal(sir_check("{\"action\": \"lockdown\", \"strength\": 0.5, \"steps\": 14}", "action", &err), 0);
    assert_int_equal(sir_check("{\"action\": \"lockdown\", \"strength\": 0, \"steps\": 1.0}", "action", &err), 0);
    assert_int_equal(sir_check("{\"action\": \"seed_infection\", \"count\": 5}", "action", &err), 0);
}

static void sir_out_of_range_names_the_field(void **state)
{
    (void)state;
    agora_error err;
    assert_int_equal(sir_check("{\"action\":\"vaccinate\",\"fraction\":2}", "action", &err), AGORA_ESCHEMA);
    assert_string_equal(err.where, "action.fraction");
    assert_string_equal(err.msg, "expected a number <= 1, got 2");
    /* The branch the instance names reports, even when another branch would have got further. */
    assert_int_equal(sir_check("{\"action\": \"lockdown\", \"strength\": 0.5, \"steps\": 2.5}",
                               "interventions[3].action", &err),
                     AGORA_ESCHEMA);
    assert_string_equal(err.where, "interventions[3].action.steps");
    assert_string_equal(err.msg, "expected an integer, got 2.5");
    /* No path: the field alone. */
    assert_int_equal(sir_check("{\"action\": \"seed_infection\", \"count\": 0}", NULL, &err), AGORA_ESCHEMA);
    assert_string_equal(err.where, "count");
    assert_string_equal(err.msg, "expected an integer >= 1, got 0");
}

static void sir_unknown_action_lists_the_names(void **state)
{
    (void)state;
    agora_error err;
    assert_int_equal(sir_check("{\"action\": \"nuke\"}", "action", &err), AGORA_ESCHEMA);
    assert_string_equal(err.where, "action.action");
    assert_string_equal(err.msg, "expected one of \"vaccinate\", \"lockdown\", \"seed_infection\", got \"nuke\"");
    assert_int_equal(sir_check("{\"fraction\": 0.5}", "interventions[0].action", &err), AGORA_ESCHEMA);
    assert_string_equal(err.where, "interventions[0].action");
    assert_string_equal(err.msg, "required key \"action\" is missing");
    /* Not an object at all: the generic rule says so. */
    assert_int_equal(sir_check("\"vaccinate\"", "action", &err), AGORA_ESCHEMA);
    assert_string_equal(err.where, "action");
    assert_string_equal(err.msg, "expected an object, got \"vaccinate\"");
}

static void sir_extra_and_missing_keys(void **state)
{
    (void)state;
    agora_error err;
    assert_int_equal(sir_check("{\"action\": \"vaccinate\", \"fraction\": 0.1, \"foo\": 1}", "action", &err),
                     AGORA_ESCHEMA);
    assert_string_equal(err.where, "action.foo");
    assert_string_equal(err.msg, "unknown key \"foo\" (allowed: action, fraction)");
    assert_int_equal(sir_check("{\"action\": \"lockdown\", \"strength\": 0.5}", "action", &err), AGORA_ESCHEMA);
    assert_string_equal(err.where, "action");
    assert_string_equal(err.msg, "required key \"steps\" is missing");
}

static void tagged_one_of_rejects_two_matching_branches(void **state)
{
    (void)state;
    const char *s = "{\"oneOf\": ["
                    "{\"properties\": {\"kind\": {\"const\": \"a\"}, \"x\": {\"type\": \"number\"}}},"
                    "{\"properties\": {\"kind\": {\"const\": \"a\"}, \"x\": {\"type\": \"integer\"}}},"
                    "{\"properties\": {\"kind\": {\"const\": \"b\"}}}]}";
    assert_valid(s, "{\"kind\": \"a\", \"x\": 0.5}");
    assert_valid(s, "{\"kind\": \"b\"}");
    assert_invalid(s, "{\"kind\": \"a\", \"x\": 2}", "p", "p", "matches more than one of the allowed forms for kind a");
    assert_invalid(s, "{\"kind\": \"c\"}", "p", "p.kind", "expected one of \"a\", \"b\", got \"c\"");
}

/* ---- agora_schema_check ------------------------------------------------------------------------------------------ */

static void assert_check_fails(const char *schema_text, const char *where, const char *msg)
{
    json_t *s = parse(schema_text);
    agora_error err;
    agora_error_clear(&err);
    int rc = agora_schema_check(s, &err);
    json_decref(s);
    assert_int_equal(rc, AGORA_ESCHEMA);
    assert_string_equal(err.where, where);
    assert_string_equal(err.msg, msg);
}

static void check_rejects_unsupported_keywords(void **state)
{
    (void)state;
    assert_check_fails("{\"anyOf\": [{\"type\": \"string\"}, {\"properties\": {\"x\": {\"pattern\": \"^a\"}}}]}",
                       "anyOf[1].properties.x", "unsupported keyword \"pattern\"");
    assert_check_fails("{\"format\": \"date\"}", "", "unsupported keyword \"format\"");
    assert_check_fails("{\"items\": {\"items\": {\"$ref\": \"#\"}}}", "items.items", "unsupported keyword \"$ref\"");
    /* Ignored annotations are fine. */
    json_t *ok = parse("{\"title\": \"t\", \"description\": \"d\", \"default\": 1, \"examples\": [1]}");
    agora_error err;
    assert_int_equal(agora_schema_check(ok, &err), 0);
    json_decref(ok);
}

static void check_rejects_malformed_keyword_values(void **state)
{
    (void)state;
    assert_check_fails("{\"type\": \"float\"}", "type",
                       "expected a type name (null, boolean, object, array, number, integer, string) or a list of "
                       "them, got \"float\"");
    assert_check_fails("{\"minimum\": \"0\"}", "minimum", "expected a number, got \"0\"");
    assert_check_fails("{\"maxLength\": -1}", "maxLength", "expected a whole number >= 0, got -1");
    assert_check_fails("{\"required\": [1]}", "required", "expected a list of key names, got [1]");
    assert_check_fails("{\"anyOf\": []}", "anyOf", "expected a non-empty list of schemas, got []");
    assert_check_fails("{\"properties\": {\"a\": 5}}", "properties.a",
                       "expected a schema (an object or true/false), got 5");
    assert_check_fails("{\"enum\": 3}", "enum", "expected a non-empty list of values, got 3");
}

static void validate_refuses_a_bad_schema(void **state)
{
    (void)state;
    agora_error err;
    int rc = check("{\"type\": \"string\", \"pattern\": \"x\"}", "\"x\"", "p", &err);
    assert_int_equal(rc, AGORA_EINVAL);
    assert_string_equal(err.where, "p");
    assert_string_equal(err.msg, "invalid schema: unsupported keyword \"pattern\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(type_names_and_lists),
        cmocka_unit_test(integer_accepts_whole_reals_only),
        cmocka_unit_test(enum_and_const),
        cmocka_unit_test(minimum_maximum_and_exclusive),
        cmocka_unit_test(string_and_list_lengths),
        cmocka_unit_test(items_paths_in_nested_lists),
        cmocka_unit_test(required_and_additional_properties),
        cmocka_unit_test(any_of_all_of_one_of),
        cmocka_unit_test(boolean_schemas),
        cmocka_unit_test(sir_schema_is_supported),
        cmocka_unit_test(sir_good_actions_pass),
        cmocka_unit_test(sir_out_of_range_names_the_field),
        cmocka_unit_test(sir_unknown_action_lists_the_names),
        cmocka_unit_test(sir_extra_and_missing_keys),
        cmocka_unit_test(tagged_one_of_rejects_two_matching_branches),
        cmocka_unit_test(check_rejects_unsupported_keywords),
        cmocka_unit_test(check_rejects_malformed_keyword_values),
        cmocka_unit_test(validate_refuses_a_bad_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
