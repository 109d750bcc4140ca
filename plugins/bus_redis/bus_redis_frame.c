/* bus_redis_frame: encode and decode the bus message. The header is compact
 * cJSON output, which escapes newlines, so the first '\n' ends it and the
 * envelope follows untouched (never re-serialized). */
#include "bus_redis_frame.h"

#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

char *bus_redis_frame_new(const char *node, int route, const char *const *targets, size_t n_targets,
                          const char *envelope, size_t len, int direct, size_t *out_len)
{
    cJSON *h = cJSON_CreateObject();
    cJSON *t = cJSON_CreateArray();
    char *text = NULL, *out = NULL;
    if (!h || !t) {
        cJSON_Delete(h);
        cJSON_Delete(t);
        return NULL;
    }
    cJSON_AddItemToObject(h, "targets", t);
    for (size_t i = 0; i < n_targets; i++) {
        cJSON *s = cJSON_CreateString(targets[i]);
        if (!s)
            goto out;
        cJSON_AddItemToArray(t, s);
    }
    if (!cJSON_AddStringToObject(h, "node", node) || !cJSON_AddNumberToObject(h, "route", route) ||
        !cJSON_AddBoolToObject(h, "direct", direct != 0))
        goto out;
    text = cJSON_PrintUnformatted(h);
    if (!text)
        goto out;
    size_t hl = strlen(text);
    out = malloc(hl + 1 + len + 1);
    if (!out)
        goto out;
    memcpy(out, text, hl);
    out[hl] = '\n';
    memcpy(out + hl + 1, envelope, len);
    out[hl + 1 + len] = '\0';
    *out_len = hl + 1 + len;
out:
    cJSON_free(text);
    cJSON_Delete(h);
    return out;
}

int bus_redis_frame_parse(const char *buf, size_t len, bus_redis_frame *out, const char **why)
{
    memset(out, 0, sizeof *out);
    const char *nl = memchr(buf, '\n', len);
    if (!nl) {
        *why = "no header line";
        return -1;
    }
    out->header = cJSON_ParseWithLength(buf, (size_t)(nl - buf));
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(out->header, "node");
    const cJSON *route = cJSON_GetObjectItemCaseSensitive(out->header, "route");
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(out->header, "targets");
    const cJSON *direct = cJSON_GetObjectItemCaseSensitive(out->header, "direct");
    if (!cJSON_IsString(node) || !cJSON_IsNumber(route) || !cJSON_IsArray(targets) ||
        !cJSON_IsBool(direct)) {
        *why = "bad header";
        bus_redis_frame_free(out);
        return -1;
    }
    out->node = node->valuestring;
    out->route = route->valueint;
    out->direct = cJSON_IsTrue(direct);
    if (out->route < SB_ROUTE_USERS || out->route > SB_ROUTE_CLOSE) {
        *why = "unknown route";
        bus_redis_frame_free(out);
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(targets);
    out->targets = malloc((n ? n : 1) * sizeof *out->targets);
    if (!out->targets) {
        *why = "out of memory";
        bus_redis_frame_free(out);
        return -1;
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, targets)
    {
        if (!cJSON_IsString(t)) {
            *why = "a target is not a string";
            bus_redis_frame_free(out);
            return -1;
        }
        out->targets[out->n_targets++] = t->valuestring;
    }
    if ((out->route == SB_ROUTE_ROOM && (out->n_targets < 1 || out->n_targets > 2)) ||
        (out->route == SB_ROUTE_CLOSE && out->n_targets != 1)) {
        *why = "a room route needs the room (and a user to skip), a close route the user";
        bus_redis_frame_free(out);
        return -1;
    }
    out->envelope = nl + 1;
    out->len = len - (size_t)(nl + 1 - buf);
    return 0;
}

void bus_redis_frame_free(bus_redis_frame *f)
{
    cJSON_Delete(f->header);
    free(f->targets);
    memset(f, 0, sizeof *f);
}
