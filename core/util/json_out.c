/* Compact JSON output with cJSON_PrintUnformatted's text (same escapes, same
 * number formats) except where cJSON 1.7.15 loses precision: it accepts a
 * 15-digit rendering that is only within epsilon of the value, so 2^53-1
 * became 9.00719925474099e+15; here every number round-trips exactly. */
#include "json_out.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
    char *p;
    size_t len, cap;
    int failed;
} out;

static out buf;

static int reserve(out *o, size_t n)
{
    if (o->len + n <= o->cap)
        return 1;
    size_t cap = o->cap ? o->cap : 1024;
    while (cap < o->len + n)
        cap *= 2;
    char *p = realloc(o->p, cap);
    if (!p) {
        o->failed = 1;
        return 0;
    }
    o->p = p;
    o->cap = cap;
    return 1;
}

static void put(out *o, const char *s, size_t n)
{
    if (reserve(o, n)) {
        memcpy(o->p + o->len, s, n);
        o->len += n;
    }
}

static void put_number(out *o, double d)
{
    char tmp[32];
    int n;
    if (isnan(d) || isinf(d)) {
        put(o, "null", 4);
        return;
    }
    if (d == floor(d) && fabs(d) < 9007199254740992.0) {
        /* An exact integer: digits by hand. */
        int64_t v = (int64_t)d;
        uint64_t u = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
        char *e = tmp + sizeof(tmp), *s = e;
        do {
            *--s = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            *--s = '-';
        put(o, s, (size_t)(e - s));
        return;
    }
    /* 15 digits when they round-trip exactly, else 17. */
    n = snprintf(tmp, sizeof(tmp), "%1.15g", d);
    if (strtod(tmp, NULL) != d)
        n = snprintf(tmp, sizeof(tmp), "%1.17g", d);
    put(o, tmp, (size_t)n);
}

/* Bytes a string may hold as they are: not below 0x20, not '"' or '\\'. */
static int plain_byte(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\';
}

/* The escaping way: s from its first byte that needs an escape. */
static void put_escaped(out *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (plain_byte(c))
            continue;
        put(o, run, (size_t)(s - run));
        char esc[6] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        put(o, esc, n);
        run = s + 1;
    }
    put(o, run, (size_t)(s - run));
}

/* Length of the leading run of s[0..n) that needs no escape (no byte below
 * 0x20, no quote, no backslash); eight bytes at a time where the byte order
 * allows. */
static size_t plain_run(const char *s, size_t n)
{
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    for (; i + 8 <= n; i += 8) {
        uint64_t w, q, b;
        memcpy(&w, s + i, 8);
        q = w ^ (ones * '"');
        b = w ^ (ones * '\\');
        /* a lane below 0x20, a quote or a backslash */
        if (((w - ones * 0x20) & ~w & highs) | ((q - ones) & ~q & highs) |
            ((b - ones) & ~b & highs))
            break;
    }
#endif
    while (i < n && plain_byte((unsigned char)s[i]))
        i++;
    return i;
}

/* "s", escaped as cJSON does. The common string needs no escape: one
 * reservation and one copy. */
static void put_string(out *o, const char *s)
{
    size_t len = strlen(s), n = plain_run(s, len);
    if (!reserve(o, n + 2))
        return;
    char *d = o->p + o->len;
    d[0] = '"';
    memcpy(d + 1, s, n);
    if (n == len) {
        d[n + 1] = '"';
        o->len += n + 2;
        return;
    }
    o->len += n + 1;
    put_escaped(o, s + n);
    put(o, "\"", 1);
}

/* A member's name: ,"key": (no comma for the first). Names are short: the
 * common one is copied a byte at a time as it is checked, with no call;
 * a long one or one to escape goes the string's way. */
static void put_key(out *o, const char *key, int comma)
{
    enum { SHORT = 24 };
    if (!reserve(o, SHORT + 4))
        return;
    char *d = o->p + o->len;
    size_t n = 0;
    if (comma)
        d[n++] = ',';
    d[n++] = '"';
    for (size_t k = 0; k < SHORT; k++) {
        unsigned char c = (unsigned char)key[k];
        if (c == '\0') {
            d[n++] = '"';
            d[n++] = ':';
            o->len += n;
            return;
        }
        if (!plain_byte(c))
            break;
        d[n++] = (char)c;
    }
    if (comma)
        put(o, ",", 1);
    put_string(o, key);
    put(o, ":", 1);
}

static void put_value(out *o, const cJSON *j, int depth)
{
    if (depth > 1000) {
        o->failed = 1;
        return;
    }
    switch (j->type & 0xff) {
    case cJSON_False:
        put(o, "false", 5);
        break;
    case cJSON_True:
        put(o, "true", 4);
        break;
    case cJSON_NULL:
        put(o, "null", 4);
        break;
    case cJSON_Number:
        put_number(o, j->valuedouble);
        break;
    case cJSON_String:
        put_string(o, j->valuestring ? j->valuestring : "");
        break;
    case cJSON_Raw:
        if (j->valuestring)
            put(o, j->valuestring, strlen(j->valuestring));
        else
            o->failed = 1;
        break;
    case cJSON_Array:
    case cJSON_Object: {
        int obj = (j->type & 0xff) == cJSON_Object;
        put(o, obj ? "{" : "[", 1);
        for (const cJSON *c = j->child; c && !o->failed; c = c->next) {
            if (obj)
                put_key(o, c->string ? c->string : "", c != j->child);
            else if (c != j->child)
                put(o, ",", 1);
            put_value(o, c, depth + 1);
        }
        put(o, obj ? "}" : "]", 1);
        break;
    }
    default:
        o->failed = 1;
    }
}

const char *sb_json_out(const cJSON *j, size_t *len)
{
    buf.len = 0;
    buf.failed = 0;
    put_value(&buf, j, 0);
    put(&buf, "", 1); /* NUL-terminated for callers that want a string */
    if (buf.failed)
        return NULL;
    *len = buf.len - 1;
    return buf.p;
}

const char *sb_json_out_object(const sb_json_member *lead, size_t n, const cJSON *rest,
                               int (*skip)(const char *key, void *arg), void *arg, size_t *len)
{
    int first = 1;
    buf.len = 0;
    buf.failed = 0;
    put(&buf, "{", 1);
    for (size_t i = 0; i < n && !buf.failed; i++) {
        put_key(&buf, lead[i].key, !first);
        first = 0;
        put_value(&buf, lead[i].value, 1);
    }
    for (const cJSON *m = cJSON_IsObject(rest) ? rest->child : NULL; m && !buf.failed;
         m = m->next) {
        if (skip(m->string, arg))
            continue;
        put_key(&buf, m->string, !first);
        first = 0;
        put_value(&buf, m, 1);
    }
    put(&buf, "}", 2); /* with the NUL */
    if (buf.failed)
        return NULL;
    *len = buf.len - 1;
    return buf.p;
}

void sb_json_out_free(void)
{
    free(buf.p);
    buf = (out){0};
}
