/* The Any in a notification, converted once to the JSON every recipient gets.
 * protobuf-c decodes recursively with no depth limit and checks no UTF-8, so
 * a Struct is first walked on the wire with a depth bound (a deep nesting
 * would otherwise exhaust the stack) and every string is checked here. */
#include "grpc_any.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"

/* Wire levels: Value -> Struct -> entry -> Value is three per JSON level. */
#define GRPC_ANY_MAX_DEPTH 192

enum grpc_any_kind { ANY_NONE = -1, ANY_STRUCT, ANY_ENTRY, ANY_VALUE, ANY_LIST };

static int grpc_any_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*i >= len)
            return 0;
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 1;
    }
    return 0;
}

/* The kind of the message in field of a kind, or ANY_NONE (a scalar). */
static int grpc_any_child(int kind, uint64_t field)
{
    switch (kind) {
    case ANY_STRUCT:
        return field == 1 ? ANY_ENTRY : ANY_NONE;
    case ANY_ENTRY:
        return field == 2 ? ANY_VALUE : ANY_NONE;
    case ANY_VALUE:
        return field == 5 ? ANY_STRUCT : field == 6 ? ANY_LIST : ANY_NONE;
    case ANY_LIST:
        return field == 1 ? ANY_VALUE : ANY_NONE;
    }
    return ANY_NONE;
}

/* Whether p[0..len), a message of kind, nests at most GRPC_ANY_MAX_DEPTH deep
 * and is well-formed enough to walk. */
static int grpc_any_depth_ok(const uint8_t *p, size_t len, int kind, int depth)
{
    if (depth > GRPC_ANY_MAX_DEPTH)
        return 0;
    size_t i = 0;
    while (i < len) {
        uint64_t key, n;
        if (!grpc_any_varint(p, len, &i, &key))
            return 0;
        switch (key & 7) {
        case 0:
            if (!grpc_any_varint(p, len, &i, &n))
                return 0;
            break;
        case 1:
            if (len - i < 8)
                return 0;
            i += 8;
            break;
        case 5:
            if (len - i < 4)
                return 0;
            i += 4;
            break;
        case 2: {
            if (!grpc_any_varint(p, len, &i, &n) || n > len - i)
                return 0;
            int sub = grpc_any_child(kind, key >> 3);
            if (sub != ANY_NONE && !grpc_any_depth_ok(p + i, (size_t)n, sub, depth + 1))
                return 0;
            i += (size_t)n;
            break;
        }
        default:
            return 0;
        }
    }
    return 1;
}

static cJSON *grpc_any_value(const Google__Protobuf__Value *v, grpc_utf8_fn utf8_valid);

static cJSON *grpc_any_struct(const Google__Protobuf__Struct *s, grpc_utf8_fn utf8_valid)
{
    cJSON *obj = cJSON_CreateObject();
    for (size_t i = 0; obj && i < s->n_fields; i++) {
        const char *key = s->fields[i]->key;
        cJSON *item = grpc_any_value(s->fields[i]->value, utf8_valid);
        if (!item || !utf8_valid(key, strlen(key))) {
            cJSON_Delete(item);
            cJSON_Delete(obj);
            return NULL;
        }
        /* A repeated key: the last one wins, as protobuf's map semantics say. */
        if (cJSON_GetObjectItemCaseSensitive(obj, key))
            cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
        if (!cJSON_AddItemToObject(obj, key, item)) {
            cJSON_Delete(item);
            cJSON_Delete(obj);
            return NULL;
        }
    }
    return obj;
}

static cJSON *grpc_any_list(const Google__Protobuf__ListValue *l, grpc_utf8_fn utf8_valid)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < l->n_values; i++) {
        cJSON *item = grpc_any_value(l->values[i], utf8_valid);
        if (!item || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* A Value (NULL: an absent one, which JSON calls null). NULL on a bad string
 * or out of memory. */
static cJSON *grpc_any_value(const Google__Protobuf__Value *v, grpc_utf8_fn utf8_valid)
{
    if (!v)
        return cJSON_CreateNull();
    switch (v->kind_case) {
    case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE:
        return cJSON_CreateNumber(v->number_value);
    case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
        if (!utf8_valid(v->string_value, strlen(v->string_value)))
            return NULL;
        return cJSON_CreateString(v->string_value);
    case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE:
        return cJSON_CreateBool(v->bool_value);
    case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
        return grpc_any_struct(v->struct_value, utf8_valid);
    case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE:
        return grpc_any_list(v->list_value, utf8_valid);
    default:
        return cJSON_CreateNull();
    }
}

static char *grpc_any_base64(const uint8_t *p, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* {"@type": url, "value": base64}. */
static cJSON *grpc_any_opaque(const Google__Protobuf__Any *any)
{
    char *b64 = grpc_any_base64(any->value.data, any->value.len);
    cJSON *obj = b64 ? cJSON_CreateObject() : NULL;
    if (obj && (!cJSON_AddStringToObject(obj, "@type", any->type_url) ||
                !cJSON_AddStringToObject(obj, "value", b64))) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    free(b64);
    return obj;
}

int grpc_any_to_json(const Google__Protobuf__Any *any, grpc_utf8_fn utf8_valid, cJSON **out,
                     const char **why)
{
    const char *url = any->type_url ? any->type_url : "";
    const uint8_t *data = any->value.data;
    size_t len = any->value.len;
    /* The type is the part after the last '/' ("type.googleapis.com/..."). */
    const char *slash = strrchr(url, '/');
    const char *type = slash ? slash + 1 : url;
    cJSON *json = NULL;

    *out = NULL;
    if (!utf8_valid(url, strlen(url))) {
        *why = "message.type_url is not valid UTF-8";
        return -1;
    }
    if (url[0] == '\0') {
        *why = "message.type_url is empty";
        return -1;
    }
    if (strcmp(type, "google.protobuf.StringValue") == 0) {
        Google__Protobuf__StringValue *sv = google__protobuf__string_value__unpack(NULL, len, data);
        if (!sv) {
            *why = "message does not decode as google.protobuf.StringValue";
            return -1;
        }
        if (utf8_valid(sv->value, strlen(sv->value)))
            json = cJSON_CreateString(sv->value);
        else
            *why = "message: the StringValue is not valid UTF-8";
        google__protobuf__string_value__free_unpacked(sv, NULL);
    } else if (strcmp(type, "google.protobuf.Struct") == 0 ||
               strcmp(type, "google.protobuf.Value") == 0 ||
               strcmp(type, "google.protobuf.ListValue") == 0) {
        int kind = type[16] == 'S' ? ANY_STRUCT : type[16] == 'V' ? ANY_VALUE : ANY_LIST;
        if (!grpc_any_depth_ok(data, len, kind, 0)) {
            *why = "message does not decode, or nests too deep";
            return -1;
        }
        *why = "message holds a string that is not valid UTF-8";
        if (kind == ANY_STRUCT) {
            Google__Protobuf__Struct *s = google__protobuf__struct__unpack(NULL, len, data);
            json = s ? grpc_any_struct(s, utf8_valid) : NULL;
            if (s)
                google__protobuf__struct__free_unpacked(s, NULL);
            else
                *why = "message does not decode as google.protobuf.Struct";
        } else if (kind == ANY_VALUE) {
            Google__Protobuf__Value *v = google__protobuf__value__unpack(NULL, len, data);
            json = v ? grpc_any_value(v, utf8_valid) : NULL;
            if (v)
                google__protobuf__value__free_unpacked(v, NULL);
            else
                *why = "message does not decode as google.protobuf.Value";
        } else {
            Google__Protobuf__ListValue *l = google__protobuf__list_value__unpack(NULL, len, data);
            json = l ? grpc_any_list(l, utf8_valid) : NULL;
            if (l)
                google__protobuf__list_value__free_unpacked(l, NULL);
            else
                *why = "message does not decode as google.protobuf.ListValue";
        }
    } else {
        json = grpc_any_opaque(any);
        *why = "out of memory";
    }
    if (!json)
        return -1;
    *out = json;
    return 0;
}
