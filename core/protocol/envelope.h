/* The client envelope of docs/protocol.md section 2: {type, ref, data} parsed from
 * one text frame, with the checks cJSON does not make: U+0000 anywhere,
 * duplicate keys at any depth, keys compared case-sensitively, ref a string or
 * an integer below 2^53. Pure: no I/O, no registry. */
#ifndef SB_ENVELOPE_H
#define SB_ENVELOPE_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Arrays and objects may nest this deep (the envelope object is level 1);
 * deeper is bad_request, by the limit's name. */
#define SB_JSON_MAX_DEPTH 64

typedef struct sb_envelope {
    cJSON *root;      /* owned: sb_envelope_free */
    const char *type; /* borrowed from root */
    const cJSON *ref; /* borrowed; NULL when absent or invalid */
    cJSON *data;      /* borrowed; an empty object is created when missing */
    int arena;        /* private: root is in the parse arena (envelope.c) */
} sb_envelope;

/* Parse buf[0..len). The tree is valid until sb_envelope_free, and a
 * subtree must not be kept past it (not detached: copied). On error, *code is "bad_json" or
 * "bad_request" and *why a static one-line reason; env->ref is still set when the frame was an
 * object with a valid ref (so the error can echo it), and env->root must be freed. Out of memory:
 * SB_ENOMEM with *code "internal" (same handling).
 * -> SB_OK | SB_EPROTO | SB_ENOMEM */
int sb_envelope_parse(const char *buf, size_t len, sb_envelope *env, const char **code,
                      const char **why);
void sb_envelope_free(sb_envelope *env);

/* Parse any JSON text under the same rules (valid UTF-8, no U+0000, no
 * duplicate keys at any depth, SB_JSON_MAX_DEPTH). A new cJSON, or NULL with
 * *why set. */
cJSON *sb_json_parse_strict(const char *buf, size_t len, const char **why);
/* The same, the tree in the parse arena when it is free (*held set): cheap
 * to build and to free, for a tree that lives only while its frame is
 * handled. Free it with sb_json_free_held(root, *held), and keep no part of
 * it past that. */
cJSON *sb_json_parse_held(const char *buf, size_t len, const char **why, int *held);
void sb_json_free_held(cJSON *root, int held);

#endif
