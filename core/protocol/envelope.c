/* The client envelope (docs/protocol.md section 2) and strict JSON parsing. cJSON
 * alone would truncate a string at U+0000, keep the first of duplicate keys
 * and accept trailing bytes, so the raw text is scanned before parsing and
 * the tree is checked after. Pure: no I/O, no registry, no state but the
 * buffer of the last formatted reason and the parse arena (per thread). */
#include "envelope.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "switchboard/plugin.h"
#include "utf8.h"

#define WHY_NOT_JSON   "frame is not valid JSON"
#define WHY_NOT_OBJECT "frame is not a JSON object"
#define WHY_NOT_UTF8   "text is not valid UTF-8"
#define WHY_NUL        "strings must not contain U+0000"
#define WHY_TYPE       "type must be a non-empty string"
#define WHY_REF        "ref must be a string or an integer below 2^53"
#define WHY_DATA       "data must be an object"
#define WHY_NOMEM      "out of memory"
#define WHY_HUGE       "a number is too large for a double (it would arrive as null)"
#define WHY_EMPTY      "empty frame"
#define STRINGIFY_(x)  #x
#define STRINGIFY(x)   STRINGIFY_(x)
#define WHY_DEEP       "JSON nested deeper than " STRINGIFY(SB_JSON_MAX_DEPTH) " levels"

/* 2^53: the first integer a double cannot tell from its neighbour. */
#define REF_LIMIT 9007199254740992.0

enum scan_result { SCAN_OK = 0, SCAN_NUL = 1, SCAN_BAD = 2, SCAN_DEEP = 3 };

/* One pass over the raw text. SCAN_NUL: a string holds U+0000, as the
 * escape \u0000 (an escaped backslash followed by "u0000" is text, not a
 * NUL) or as a raw byte. SCAN_BAD: outside strings, a control byte that is
 * not JSON whitespace (cJSON would skip any byte <= 32, NUL included). Raw
 * control bytes inside strings are let through as cJSON does: they survive
 * parsing and come out escaped. SCAN_DEEP: arrays and objects nest deeper
 * than SB_JSON_MAX_DEPTH (counted on the raw text, so valid JSON too deep is
 * told from invalid JSON). */
static int scan_raw(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    int in_str = 0, nul = 0, deep = 0;
    long depth = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (in_str) {
            if (c == '"') {
                in_str = 0;
            } else if (c == '\\') {
                if (i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
                    nul = 1;
                i++; /* the escaped character never ends the string */
            } else if (c == 0) {
                nul = 1;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > SB_JSON_MAX_DEPTH)
                deep = 1;
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return SCAN_BAD;
        }
    }
    return deep ? SCAN_DEEP : nul ? SCAN_NUL : SCAN_OK;
}

/* The parse arena. An envelope's tree lives only while its command runs,
 * and cJSON gives each node, key and string a malloc of its own and each a
 * free: a direct message's envelope cost some twenty of each. While a frame
 * is parsed, cJSON's allocations come from this per-thread buffer instead
 * (the rest from malloc once it is full); freeing a block in it does nothing,
 * and the buffer is reused once the envelope is freed. One envelope holds it
 * at a time: a parse while another envelope lives uses malloc. cJSON's hooks
 * are process-wide, so they are installed once and fall through to malloc
 * and free for every allocation made outside a parse. */
/* Under AddressSanitizer the arena stays on and is poisoned but for the
 * blocks handed out, and whole again once its envelope is freed: a subtree
 * kept past sb_envelope_free (a contract breach that plain malloc would
 * hide) is then reported where it is read. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n)   ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif
#define ARENA_BYTES 8192
#define ARENA_ALIGN 16

static _Thread_local struct {
    _Alignas(ARENA_ALIGN) unsigned char buf[ARENA_BYTES];
    size_t used;
    int filling; /* cJSON allocations go here */
    int held;    /* an envelope's tree is in it */
} arena;

static void *arena_malloc(size_t n)
{
    if (arena.filling && n <= ARENA_BYTES - arena.used) {
        void *p = arena.buf + arena.used;
        ARENA_UNPOISON(p, n);
        arena.used += (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
        if (arena.used > ARENA_BYTES)
            arena.used = ARENA_BYTES;
        return p;
    }
    return malloc(n);
}

static void arena_free(void *p)
{
    uintptr_t b = (uintptr_t)p, start = (uintptr_t)arena.buf;
    if (b >= start && b - start < ARENA_BYTES)
        return; /* reused as a whole when its envelope is freed */
    free(p);
}

/* Take the arena for one envelope's tree: -> 1 (cJSON fills it until
 * arena_stop) | 0 (held by a live envelope: malloc as usual). */
static int arena_take(void)
{
    static int hooked;
    if (!hooked) {
        cJSON_Hooks hooks = {arena_malloc, arena_free};
        cJSON_InitHooks(&hooks);
        hooked = 1;
    }
    if (arena.held)
        return 0;
    arena.held = 1;
    arena.used = 0;
    arena.filling = 1;
    ARENA_POISON(arena.buf, ARENA_BYTES);
    return 1;
}

/* The parse is over: cJSON allocates from malloc again. */
static void arena_stop(void)
{
    arena.filling = 0;
}

/* The envelope that held the arena is freed: its blocks are all dead. */
static void arena_release(void)
{
    arena.held = 0;
    ARENA_POISON(arena.buf, ARENA_BYTES);
}

static int json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* cJSON over exactly buf[0..len), nothing but whitespace after the value. */
static cJSON *parse_whole(const char *buf, size_t len)
{
    if (len == 0)
        return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root)
        return NULL;
    for (const char *p = end; p < buf + len; p++) {
        if (!json_space(*p)) {
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}

static _Thread_local char why_buf[160];

/* "duplicate key \"k\"", the key cut to fit on a UTF-8 boundary and its
 * control characters replaced, so the reason stays one printable line. */
static const char *why_duplicate(const char *key)
{
    static const char head[] = "duplicate key \"";
    size_t room = sizeof(why_buf) - sizeof(head) - 5; /* quote, "...", NUL */
    size_t n = 0;
    memcpy(why_buf, head, sizeof(head) - 1);
    char *o = why_buf + sizeof(head) - 1;
    const unsigned char *k = (const unsigned char *)key;
    size_t klen = strlen(key);
    int cut = 0;
    if (klen > room) {
        klen = room;
        while (klen > 0 && (k[klen] & 0xC0) == 0x80)
            klen--; /* do not split a multibyte character */
        cut = 1;
    }
    for (; n < klen; n++)
        *o++ = k[n] < 0x20 || k[n] == 0x7f ? '?' : (char)k[n];
    if (cut) {
        memcpy(o, "...", 3);
        o += 3;
    }
    *o++ = '"';
    *o = '\0';
    return why_buf;
}

/* What the strict rules refuse in a tree: the first duplicated key found
 * in any of its objects (returned; NULL: none).
 * *nomem is set when a large object could not be checked, *huge when a
 * number is beyond a double (1e400: cJSON makes it infinite, printed as
 * null, so the text would not arrive as written). */
static const char *find_refused(const cJSON *node, int *nomem, int *huge)
{
    if (cJSON_IsObject(node)) {
        size_t n = 0;
        for (const cJSON *c = node->child; c; c = c->next)
            n++;
        if (n > 1 && n <= 8) {
            /* Small objects, the common case: pairwise is cheapest. */
            for (const cJSON *a = node->child; a; a = a->next) {
                for (const cJSON *b = a->next; b; b = b->next) {
                    /* names mostly differ in their first byte: no call */
                    if (a->string[0] == b->string[0] && strcmp(a->string, b->string) == 0)
                        return a->string;
                }
            }
        } else if (n > 8) {
            /* Large objects: sort the names, so a 64 KiB frame of keys
             * costs n log n, not n^2. */
            const char **names = malloc(n * sizeof(*names));
            if (!names) {
                *nomem = 1;
                return NULL;
            }
            size_t i = 0;
            for (const cJSON *c = node->child; c; c = c->next)
                names[i++] = c->string;
            qsort(names, n, sizeof(*names), sb_names_cmp);
            const char *dup = NULL;
            for (i = 1; i < n && !dup; i++) {
                if (strcmp(names[i - 1], names[i]) == 0)
                    dup = names[i];
            }
            free(names);
            if (dup)
                return dup;
        }
    }
    if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
        /* cJSON caps nesting at CJSON_NESTING_LIMIT, which bounds recursion. */
        for (const cJSON *c = node->child; c; c = c->next) {
            if (c->child == NULL) { /* a scalar or an empty container */
                if ((c->type & 0xFF) == cJSON_Number && !isfinite(c->valuedouble)) {
                    *huge = 1;
                    return NULL;
                }
                continue;
            }
            const char *dup = find_refused(c, nomem, huge);
            if (dup || *nomem || *huge)
                return dup;
        }
    }
    return NULL;
}

static int ref_valid(const cJSON *ref)
{
    if (cJSON_IsString(ref))
        return 1;
    if (!cJSON_IsNumber(ref))
        return 0;
    double v = ref->valuedouble;
    return isfinite(v) && v == floor(v) && fabs(v) < REF_LIMIT;
}

/* The end of the JSON string starting at s[i] (a quote): the index after
 * its closing quote, or len. */
static size_t string_end(const char *s, size_t i, size_t len)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

/* The value of the member "ref" of the top-level object in buf, parsed on
 * its own (a string or a number), or NULL. Deeper levels are skipped by
 * counting brackets, so the depth of the rest does not matter. */
static cJSON *top_level_ref(const char *buf, size_t len)
{
    size_t i = 0;
    long depth = 0;
    while (i < len) {
        char c = buf[i];
        if (c == '"') {
            size_t end = string_end(buf, i, len);
            if (depth == 1) {
                size_t j = end;
                while (j < len && json_space(buf[j]))
                    j++;
                if (j < len && buf[j] == ':' && end - i == 5 &&
                    memcmp(buf + i, "\"ref\"", 5) == 0) {
                    for (j++; j < len && json_space(buf[j]);)
                        j++;
                    size_t v = j;
                    if (j < len && buf[j] == '"')
                        j = string_end(buf, j, len);
                    else
                        while (j < len && buf[j] != ',' && buf[j] != '}' && !json_space(buf[j]))
                            j++;
                    return j > v ? cJSON_ParseWithLength(buf + v, j - v) : NULL;
                }
            }
            i = end;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        i++;
    }
    return NULL;
}

int sb_envelope_parse(const char *buf, size_t len, sb_envelope *env, const char **code,
                      const char **why)
{
    memset(env, 0, sizeof(*env));
    *code = "bad_json";
    if (len == 0) {
        *why = WHY_EMPTY;
        return SB_EPROTO;
    }
    if (!buf || !sb_utf8_valid((const uint8_t *)buf, len)) {
        *why = WHY_NOT_UTF8;
        return SB_EPROTO;
    }
    int scan = scan_raw(buf, len);
    if (scan == SCAN_BAD) {
        *why = WHY_NOT_JSON;
        return SB_EPROTO;
    }
    if (scan == SCAN_DEEP) {
        /* Too deep is a limit, not bad JSON. The tree is not built (cJSON's
         * own limit may be lower than the text's depth): the ref is read
         * from the top level alone, so the error can echo it. */
        *code = "bad_request";
        *why = WHY_DEEP;
        cJSON *ref = top_level_ref(buf, len);
        if (ref && ref_valid(ref)) {
            env->root = ref;
            env->ref = ref;
        } else {
            cJSON_Delete(ref);
        }
        return SB_EPROTO;
    }
    env->arena = arena_take();
    cJSON *root = parse_whole(buf, len);
    arena_stop();
    if (!root) {
        *why = WHY_NOT_JSON;
        return SB_EPROTO;
    }
    env->root = root;
    if (!cJSON_IsObject(root)) {
        *why = WHY_NOT_OBJECT;
        return SB_EPROTO;
    }

    /* From here on the frame is an object: the error is bad_request, and a
     * valid ref is kept so the error can echo it. */
    *code = "bad_request";
    cJSON *ref = cJSON_GetObjectItemCaseSensitive(root, "ref");
    if (ref && ref_valid(ref))
        env->ref = ref;
    cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (cJSON_IsString(type) && type->valuestring[0] != '\0')
        env->type = type->valuestring;

    if (scan == SCAN_NUL) {
        *why = WHY_NUL;
        return SB_EPROTO;
    }
    int nomem = 0, huge = 0;
    const char *dup = find_refused(root, &nomem, &huge);
    if (nomem) {
        *code = "internal";
        *why = WHY_NOMEM;
        return SB_ENOMEM;
    }
    if (dup) {
        *why = why_duplicate(dup);
        return SB_EPROTO;
    }
    if (!env->type) {
        *why = WHY_TYPE;
        return SB_EPROTO;
    }
    if (ref && !env->ref) {
        *why = WHY_REF;
        return SB_EPROTO;
    }
    if (huge) { /* after type and ref: their own reasons say more */
        *why = WHY_HUGE;
        return SB_EPROTO;
    }
    cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!data) {
        data = cJSON_AddObjectToObject(root, "data");
        if (!data) {
            *code = "internal";
            *why = WHY_NOMEM;
            return SB_ENOMEM;
        }
    } else if (!cJSON_IsObject(data)) {
        *why = WHY_DATA;
        return SB_EPROTO;
    }
    env->data = data;
    *code = NULL;
    *why = NULL;
    return SB_OK;
}

void sb_envelope_free(sb_envelope *env)
{
    if (!env)
        return;
    cJSON_Delete(env->root);
    if (env->arena)
        arena_release();
    memset(env, 0, sizeof(*env));
}

/* sb_json_parse_strict, the tree in the parse arena when held is not NULL
 * and the arena is free (*held then set). */
static cJSON *parse_strict(const char *buf, size_t len, const char **why, int *held)
{
    if (!buf || !sb_utf8_valid((const uint8_t *)buf, len)) {
        *why = WHY_NOT_UTF8;
        return NULL;
    }
    int scan = scan_raw(buf, len);
    if (scan == SCAN_BAD) {
        *why = "text is not valid JSON";
        return NULL;
    }
    if (scan == SCAN_DEEP) {
        *why = WHY_DEEP;
        return NULL;
    }
    if (scan == SCAN_NUL) {
        *why = WHY_NUL;
        return NULL;
    }
    int arena_held = held && arena_take();
    cJSON *root = parse_whole(buf, len);
    if (arena_held)
        arena_stop();
    int nomem = 0,
        huge = root && (root->type & 0xFF) == cJSON_Number && !isfinite(root->valuedouble);
    const char *dup = root && !huge ? find_refused(root, &nomem, &huge) : NULL;
    if (!root || dup || nomem || huge) {
        *why = !root   ? "text is not valid JSON"
               : nomem ? WHY_NOMEM
               : huge  ? WHY_HUGE
                       : why_duplicate(dup);
        cJSON_Delete(root);
        if (arena_held)
            arena_release();
        return NULL;
    }
    if (held)
        *held = arena_held;
    *why = NULL;
    return root;
}

cJSON *sb_json_parse_strict(const char *buf, size_t len, const char **why)
{
    return parse_strict(buf, len, why, NULL);
}

cJSON *sb_json_parse_held(const char *buf, size_t len, const char **why, int *held)
{
    *held = 0;
    return parse_strict(buf, len, why, held);
}

void sb_json_free_held(cJSON *root, int held)
{
    cJSON_Delete(root);
    if (held)
        arena_release();
}
