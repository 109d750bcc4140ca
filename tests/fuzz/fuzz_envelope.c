/* Fuzz target: the client envelope parser (core/protocol/envelope.c). Besides memory
 * errors it checks the contract of envelope.h: on SB_OK a non-empty type and
 * an object data, a ref that is a string or an integer below 2^53; on error
 * one of the three codes and a reason; and agreement with the strict parser. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "switchboard/plugin.h"

static void check_ref(const cJSON *ref)
{
    if (!ref)
        return;
    if (cJSON_IsString(ref))
        return;
    if (!cJSON_IsNumber(ref))
        abort();
    double v = ref->valuedouble;
    if (!isfinite(v) || v != floor(v) || fabs(v) >= 9007199254740992.0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    sb_envelope env;
    const char *code = NULL, *why = NULL;
    int rc = sb_envelope_parse(buf, size, &env, &code, &why);
    check_ref(env.ref);
    if (rc == SB_OK) {
        if (!env.root || !cJSON_IsObject(env.root) || !env.type || env.type[0] == '\0')
            abort();
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(env.root, "type");
        if (!cJSON_IsString(t) || t->valuestring != env.type)
            abort();
        if (!env.data || !cJSON_IsObject(env.data))
            abort();
        if (cJSON_GetObjectItemCaseSensitive(env.root, "data") != env.data)
            abort();
        if (code || why)
            abort();
    } else {
        if (rc != SB_EPROTO && rc != SB_ENOMEM)
            abort();
        if (!code || !why || why[0] == '\0' || strchr(why, '\n'))
            abort();
        if (strcmp(code, "bad_json") != 0 && strcmp(code, "bad_request") != 0 &&
            strcmp(code, "internal") != 0)
            abort();
        /* bad_request is for objects only, but for the depth limit: it is
         * checked on the raw text before any parse (cJSON's own limit may
         * be lower), so it answers whatever the text is; its tree is at
         * most the top level's ref. bad_json never leaves a ref. */
        int deep = strstr(why, "nested deeper than") != NULL;
        if (strcmp(code, "bad_request") == 0 && !cJSON_IsObject(env.root) &&
            !(deep && (!env.root || env.root == env.ref)))
            abort();
        if (strcmp(code, "bad_json") == 0 && env.ref)
            abort();
    }

    /* What the envelope accepts, the strict parser accepts too. */
    const char *why2 = NULL;
    cJSON *strict = sb_json_parse_strict(buf, size, &why2);
    if (rc == SB_OK && !strict)
        abort();
    if (strict && code && strcmp(code, "bad_json") == 0 && cJSON_IsObject(strict))
        abort(); /* only "not an object" may separate them */
    cJSON_Delete(strict);

    sb_envelope_free(&env);
    if (env.root || env.type || env.ref || env.data)
        abort();
    return 0;
}
