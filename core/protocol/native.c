/* The native codec (native.h). */
#include "native.h"

#include <stdio.h>
#include <string.h>

#include "json_out.h"
#include "switchboard/plugin.h"

int sb_native_decode(const char *buf, size_t len, sb_envelope *env, char **ref_json,
                     const char **code, const char **why)
{
    int rc = sb_envelope_parse(buf, len, env, code, why);
    *ref_json = sb_native_ref_json(env->ref);
    return rc;
}

char *sb_native_ref_json(const cJSON *ref)
{
    char *ref_json = NULL;
    if (ref && cJSON_IsNumber(ref)) {
        ref_json = cJSON_malloc(24);
        if (ref_json)
            snprintf(ref_json, 24, "%.0f", ref->valuedouble);
    } else if (ref) {
        /* The host's printer: exact for integers below 2^53, unlike cJSON's. */
        size_t n = 0;
        const char *text = sb_json_out(ref, &n);
        if (text && (ref_json = cJSON_malloc(n + 1)))
            memcpy(ref_json, text, n + 1);
    }
    return ref_json;
}

sb_frame *sb_native_encode(const char *type, const char *ref_json, const cJSON *data)
{
    size_t n = 2;
    const char *json = data ? sb_json_out(data, &n) : "{}";
    return json ? sb_frame_envelope(type, ref_json, json, n) : NULL;
}
