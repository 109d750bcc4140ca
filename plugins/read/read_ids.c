/* Parsing and building for `read`. Repeated ids are dropped here so a store
 * never sees the same id twice in one removal; sorting keeps that O(n log n)
 * for the few thousand ids a frame can carry. */
#include "read_ids.h"

#include <stdlib.h>
#include <string.h>

static int read_str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int read_ids_parse(const cJSON *ids, size_t id_len, read_ids *out)
{
    if (!cJSON_IsArray(ids))
        return READ_IDS_BAD;
    size_t n = (size_t)cJSON_GetArraySize(ids);
    const cJSON *item;
    cJSON_ArrayForEach(item, ids)
    {
        if (!cJSON_IsString(item))
            return READ_IDS_BAD;
    }
    const char **list = NULL;
    if (n > 0) {
        list = malloc(n * sizeof(*list));
        if (list == NULL)
            return READ_IDS_NOMEM;
    }
    size_t k = 0;
    cJSON_ArrayForEach(item, ids)
    {
        if (strlen(item->valuestring) == id_len)
            list[k++] = item->valuestring;
    }
    if (k > 1) {
        qsort(list, k, sizeof(*list), read_str_cmp);
        size_t w = 1;
        for (size_t i = 1; i < k; i++)
            if (strcmp(list[i], list[w - 1]) != 0)
                list[w++] = list[i];
        k = w;
    }
    out->ids = list;
    out->n = k;
    return READ_IDS_OK;
}

void read_ids_free(read_ids *r)
{
    if (r == NULL)
        return;
    free(r->ids);
    r->ids = NULL;
    r->n = 0;
}

static int read_user_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '@' || c == ':' || c == '-';
}

/* host->stamp puts id and from first and the host prints them as they are,
 * so a stored message starts {"id":"<id>","from":"<user>": the sender is
 * read there without parsing the message. Any other shape is parsed. */
static int read_sender_prefix(const char *json, size_t len, char *out, size_t out_len)
{
    static const char id_key[] = "{\"id\":\"", from_key[] = "\",\"from\":\"";
    const char *end = json + len;
    if (len < sizeof(id_key) || memcmp(json, id_key, sizeof(id_key) - 1) != 0)
        return -1;
    const char *p = json + sizeof(id_key) - 1;
    while (p < end && *p != '"' && *p != '\\')
        p++;
    if ((size_t)(end - p) < sizeof(from_key) || memcmp(p, from_key, sizeof(from_key) - 1) != 0)
        return -1;
    const char *u = p + sizeof(from_key) - 1;
    size_t n = 0;
    while (u + n < end && read_user_char(u[n]))
        n++;
    if (n == 0 || u + n >= end || u[n] != '"' || n >= out_len)
        return -1;
    memcpy(out, u, n);
    out[n] = '\0';
    return 0;
}

int read_sender_of(const char *json, size_t len, char *out, size_t out_len)
{
    if (read_sender_prefix(json, len, out, out_len) == 0)
        return 0;
    cJSON *msg = cJSON_ParseWithLength(json, len);
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(msg, "from");
    int rc = -1;
    if (cJSON_IsString(from) && strlen(from->valuestring) < out_len) {
        strcpy(out, from->valuestring);
        rc = 0;
    }
    cJSON_Delete(msg);
    return rc;
}

cJSON *read_reply_new(const sb_stored *removed, size_t n)
{
    cJSON *data = cJSON_CreateObject();
    cJSON *ids = cJSON_AddArrayToObject(data, "ids");
    if (ids == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        /* Borrowed: the reply is printed while removed is valid. */
        cJSON *id = cJSON_CreateStringReference(removed[i].id);
        if (id == NULL || !cJSON_AddItemToArray(ids, id)) {
            cJSON_Delete(id);
            goto nomem;
        }
    }
    return data;
nomem:
    cJSON_Delete(data);
    return NULL;
}

/* Whether s prints as itself inside JSON quotes: no byte the printer escapes. */
static int read_plain(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

size_t read_receipt_text(const char *id, const char *by, char *out, size_t out_len)
{
    static const char p1[] = "{\"id\":\"", p2[] = "\",\"by\":\"", p3[] = "\",\"status\":\"read\"}";
    size_t il = strlen(id), bl = strlen(by);
    size_t n = sizeof(p1) - 1 + il + sizeof(p2) - 1 + bl + sizeof(p3) - 1;
    if (n >= out_len || !read_plain(id) || !read_plain(by))
        return 0;
    char *p = out;
    memcpy(p, p1, sizeof(p1) - 1);
    p += sizeof(p1) - 1;
    memcpy(p, id, il);
    p += il;
    memcpy(p, p2, sizeof(p2) - 1);
    p += sizeof(p2) - 1;
    memcpy(p, by, bl);
    p += bl;
    memcpy(p, p3, sizeof(p3)); /* with its NUL */
    return n;
}

cJSON *read_receipt_new(const char *id, const char *by)
{
    cJSON *data = cJSON_CreateObject();
    if (data == NULL || cJSON_AddStringToObject(data, "id", id) == NULL ||
        cJSON_AddStringToObject(data, "by", by) == NULL ||
        cJSON_AddStringToObject(data, "status", "read") == NULL) {
        cJSON_Delete(data);
        return NULL;
    }
    return data;
}
