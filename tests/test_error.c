/* Tests of agora_error (src/core/error.c) and the text helpers it relies on: a message or a location too long for
 * its buffer is cut on a whole UTF-8 character, so that the error can go into JSON (an MCP reply, an LLM repair
 * prompt), which cannot hold half a character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agora/agora.h"
#include "core/internal.h"

/* Whether s is valid UTF-8 as JSON needs it (jansson refuses anything else). */
static int utf8_ok(const char *s)
{
    json_t *v = json_string(s);
    json_decref(v);
    return v != NULL;
}

/* n copies of a character of `width` bytes (2: e acute, 3: a CJK ideograph, 4: an emoji) after `pad` ASCII bytes. */
static char *repeat(size_t pad, int width, size_t n)
{
    static const char *const chars[] = {"", "a", "\xc3\xa9", "\xe5\xb7\x9d", "\xf0\x9f\x8c\x8a"};
    static char buf[8192];
    memset(buf, 'x', pad);
    for (size_t i = 0; i < n; i++)
        memcpy(buf + pad + (size_t)width * i, chars[width], (size_t)width);
    buf[pad + (size_t)width * n] = '\0';
    return buf;
}

static void long_messages_and_places_are_cut_on_a_character(void **state)
{
    (void)state;
    for (int width = 2; width <= 4; width++)
        for (size_t pad = 0; pad < 4; pad++) {
            agora_error err;
            const char *text = repeat(pad, width, 1000);
            agora_error_set(&err, AGORA_ESCHEMA, text, "unknown key \"%s\"", text);
            if (!utf8_ok(err.msg) || !utf8_ok(err.where))
                fail_msg("width %d, pad %zu: a cut inside a character: %s", width, pad, err.msg);
            assert_true(strlen(err.msg) > sizeof err.msg - 5); /* only the partial character is dropped */
            assert_int_equal(strncmp(err.msg, "unknown key \"", 13), 0);
            char buf[300];
            assert_true(utf8_ok(agora_error_format(&err, buf, sizeof buf)));
            assert_true(strlen(buf) > sizeof buf - 5);
            agora_error_set(&err, AGORA_ESCHEMA, NULL, "%s", repeat(pad, width, 100));
            agora_error_prefix(&err, repeat(pad + 1, width, 400));
            assert_true(utf8_ok(err.msg));
        }
}

static void short_texts_are_left_whole(void **state)
{
    (void)state;
    agora_error err;
    agora_error_set(&err, AGORA_ESCHEMA, "params.\xc3\xa9", "expected a number, got \"\xe5\xb7\x9d\"");
    assert_string_equal(err.where, "params.\xc3\xa9");
    assert_string_equal(err.msg, "expected a number, got \"\xe5\xb7\x9d\"");
    agora_error_prefix(&err, "k");
    assert_string_equal(err.msg, "k: expected a number, got \"\xe5\xb7\x9d\"");
    char buf[64];
    assert_string_equal(agora_error_format(&err, buf, sizeof buf),
                        "params.\xc3\xa9: k: expected a number, got \"\xe5\xb7\x9d\"");
}

/* The brief quote of a value in validation messages ("got \"...\"") cuts on a character before its "...". */
static void brief_values_are_cut_on_a_character(void **state)
{
    (void)state;
    for (int width = 2; width <= 4; width++) {
        json_t *v = json_string(repeat(1, width, 300));
        char buf[101];
        agora__json_brief(v, buf, sizeof buf);
        if (!utf8_ok(buf))
            fail_msg("width %d: %s", width, buf);
        assert_non_null(strstr(buf, "..."));
        json_decref(v);
    }
    assert_int_equal(agora__utf8_prefix("ab\xc3\xa9", 3), 2);
    assert_int_equal(agora__utf8_prefix("ab\xc3\xa9", 4), 4);
    assert_int_equal(agora__utf8_prefix("ab", 10), 2);
    char s[] = "ab\xf0\x9f\x8c";
    agora__utf8_trim(s);
    assert_string_equal(s, "ab");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(long_messages_and_places_are_cut_on_a_character),
        cmocka_unit_test(short_texts_are_left_whole),
        cmocka_unit_test(brief_values_are_cut_on_a_character),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
