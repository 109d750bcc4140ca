/* The shared stub host table (stub_host.h): what a codec's tests need of a
 * host, in one place for the unit tests and the fuzz targets. */
#include "stub_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef STUB_HOST_CORE_JSON
#include "envelope.h"
#include "json_out.h"
#endif

stub_host_seen stub_seen;

static void *stub_alloc(size_t n)
{
    return malloc(n);
}

static void stub_log(sb_plugin_ctx *pc, int level, const char *fmt, ...)
{
    (void)pc;
    (void)level;
    (void)fmt;
}

static cJSON *stub_json_parse_new(const char *buf, size_t len, const char **why)
{
    cJSON *j = cJSON_ParseWithLength(buf, len);
    if (!j)
        *why = "not JSON";
    return j;
}

static char *stub_json_print_new(const cJSON *j, size_t *len)
{
    stub_seen.prints++;
    char *text = cJSON_PrintUnformatted(j);
    *len = text ? strlen(text) : 0;
    return text;
}

static int stub_submit(sb_plugin_ctx *pc, uint64_t conn_id, const char *type, const cJSON *ref,
                       const cJSON *data)
{
    (void)pc;
    stub_seen.submits++;
    stub_seen.conn_id = conn_id;
    snprintf(stub_seen.type, sizeof stub_seen.type, "%s", type);
    cJSON_Delete(stub_seen.ref);
    cJSON_Delete(stub_seen.data);
    free(stub_seen.ref_text);
    free(stub_seen.data_text);
    stub_seen.ref = ref ? cJSON_Duplicate(ref, 1) : NULL;
    stub_seen.data = data ? cJSON_Duplicate(data, 1) : NULL;
    stub_seen.ref_text = ref ? cJSON_PrintUnformatted(ref) : NULL;
    stub_seen.data_text = data ? cJSON_PrintUnformatted(data) : NULL;
    return SB_OK;
}

void stub_host_reset(void)
{
    cJSON_Delete(stub_seen.ref);
    cJSON_Delete(stub_seen.data);
    free(stub_seen.ref_text);
    free(stub_seen.data_text);
    memset(&stub_seen, 0, sizeof stub_seen);
}

void stub_host_init(sb_host_api *host)
{
    memset(host, 0, sizeof *host);
    host->size = sizeof *host;
    host->abi_major = SB_ABI_MAJOR;
    host->abi_minor = SB_ABI_MINOR;
    host->alloc = stub_alloc;
    host->free = free;
    host->log = stub_log;
    host->json_parse_new = stub_json_parse_new;
    host->json_print_new = stub_json_print_new;
    host->submit = stub_submit;
    stub_host_reset();
}

cJSON *stub_host_stamped_new(const cJSON *data, const char *id, const char *from)
{
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", id);
    cJSON_AddStringToObject(out, "from", from);
    cJSON_AddItemToObject(out, "to",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(data, "to"), 1));
    cJSON_AddNumberToObject(out, "ts", 1732280000123.0);
    const cJSON *c;
    cJSON_ArrayForEach(c, data)
    {
        if (strcmp(c->string, "id") && strcmp(c->string, "from") && strcmp(c->string, "to") &&
            strcmp(c->string, "ts"))
            cJSON_AddItemToObject(out, c->string, cJSON_Duplicate(c, 1));
    }
    return out;
}

#ifdef STUB_HOST_CORE_JSON
/* The host's printer, as core/host/host_api.c wraps it. */
static char *stub_core_print_new(const cJSON *j, size_t *len)
{
    stub_seen.prints++;
    size_t n = 0;
    const char *text = sb_json_out(j, &n);
    char *copy = text ? malloc(n + 1) : NULL;
    if (copy) {
        memcpy(copy, text, n + 1);
        *len = n;
    }
    return copy;
}

void stub_host_use_core_json(sb_host_api *host)
{
    host->json_parse_new = sb_json_parse_strict;
    host->json_print_new = stub_core_print_new;
}

void stub_host_check_encode(stub_encode_fn encode, void *ud, const char *key, int reply,
                            const char *type, const cJSON *ref, const cJSON *data)
{
    sb_encode_in in = {
        .size = sizeof in, .conn_id = 1, .reply = reply, .type = type, .ref = ref, .data = data};
    char *out = NULL;
    size_t len = 0;
    if (encode(ud, &in, &out, &len) != SB_OK)
        abort();
    if (!out)
        return;
    const char *why = NULL;
    cJSON *frame = sb_json_parse_strict(out, len, &why);
    if (!frame || !cJSON_IsObject(frame) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(frame, key))) {
        fprintf(stderr, "bad frame for %s: %.*s\n", type, (int)len, out);
        abort();
    }
    cJSON_Delete(frame);
    free(out);
}
#endif
