/* Fuzz target: sb_json_parse_strict (core/protocol/envelope.c). What it accepts must
 * survive a round trip: cJSON's compact print of the tree parses again under
 * the same rules, and printing that tree gives the same text. (The trees
 * themselves may differ: cJSON prints a number that overflowed to infinity,
 * e.g. 1e999, as null.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *why = NULL;
    cJSON *root = sb_json_parse_strict((const char *)data, size, &why);
    if (!root) {
        if (!why || why[0] == '\0')
            abort();
        return 0;
    }
    if (why)
        abort();
    char *text = cJSON_PrintUnformatted(root);
    if (!text)
        abort();
    size_t n = strlen(text);
    if (!sb_utf8_valid((const uint8_t *)text, n))
        abort();
    /* An exact-size copy without a NUL, so an over-read is caught. */
    char *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    memcpy(copy, text, n);
    const char *why2 = NULL;
    cJSON *again = sb_json_parse_strict(copy, n, &why2);
    if (!again)
        abort(); /* printed text refused: why2 says what */
    char *text2 = cJSON_PrintUnformatted(again);
    if (!text2 || strcmp(text, text2) != 0)
        abort();
    free(text2);
    cJSON_Delete(again);
    free(copy);
    free(text);
    cJSON_Delete(root);
    return 0;
}
