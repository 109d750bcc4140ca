/* Serializing cJSON trees for the wire. cJSON_PrintUnformatted prints every
 * number through sprintf and checks it back with sscanf, and grows a fresh
 * buffer per call: the profile of a direct-message run showed ~20% of the
 * server's time there. This prints integers with no libc formatting, and
 * every number so that it parses back to the same double, into one reused
 * buffer. */
#ifndef SB_JSON_OUT_H
#define SB_JSON_OUT_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Serialize j compactly (NUL-terminated; *len excludes the NUL). The text is
 * valid until the next call (one loop thread); NULL on ENOMEM or a tree
 * deeper than 1000. */
const char *sb_json_out(const cJSON *j, size_t *len);
/* One member of an object printed by sb_json_out_object. */
typedef struct sb_json_member {
    const char *key;
    const cJSON *value;
} sb_json_member;
/* Serialize the object whose members are lead[0..n), then rest's members
 * (rest an object, or NULL) but those whose key skip(key, arg) names: the
 * bytes sb_json_out prints for a tree of those members, with no tree built.
 * Same lifetime and failures as sb_json_out. */
const char *sb_json_out_object(const sb_json_member *lead, size_t n, const cJSON *rest,
                               int (*skip)(const char *key, void *arg), void *arg, size_t *len);
/* Release the reused buffer (at exit). */
void sb_json_out_free(void);

#endif
