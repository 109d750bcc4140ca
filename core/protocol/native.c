/* The native codec (native.h). */
#include "native.h"

#include <math.h>
#include <stdint.h>
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

/* An integer below 2^53 in decimal, as "%.0f" prints it, into out (24
 * bytes); every command's ref is one, and printf's floating-point path
 * costs more than the rest of formatting an answer. */
static void ref_integer(double v, char *out)
{
    char digits[24];
    size_t n = 0;
    uint64_t u = (uint64_t)(v < 0 ? -v : v);
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *out++ = '-';
    while (n > 0)
        *out++ = digits[--n];
    *out = '\0';
}

char *sb_native_ref_json(const cJSON *ref)
{
    char *ref_json = NULL;
    if (ref && cJSON_IsNumber(ref)) {
        double v = ref->valuedouble;
        ref_json = cJSON_malloc(24);
        /* -0 and what is not an integer below 2^53 go the printf way. */
        if (ref_json && v == floor(v) && fabs(v) < 9007199254740992.0 && v != 0.0)
            ref_integer(v, ref_json);
        else if (ref_json)
            snprintf(ref_json, 24, "%.0f", v);
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
