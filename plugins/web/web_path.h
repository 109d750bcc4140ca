/* Request path -> file path under the web root, without touching the disk:
 * the pure half of the web plugin, fuzzed by tests/fuzz/fuzz_web_path.c. */
#ifndef SB_WEB_PATH_H
#define SB_WEB_PATH_H

#include <stddef.h>

/* What web_path_resolve found. */
enum web_path_result {
    WEB_PATH_FILE = 0,    /* out: a relative file path ("css/app.css") */
    WEB_PATH_INDEX = 1,   /* out: a relative directory ("" or "docs/"): serve its index */
    WEB_PATH_REFUSED = 2, /* not a path this server serves: answer 404 */
};

/* Resolve `path` (the request path as sent: no query, not decoded), which
 * starts with `prefix` (ends with '/'), into out[0..out_len). The part after
 * the prefix is percent-decoded and split on '/'; empty segments are dropped.
 * Refused: a bad escape, an encoded NUL, '/' or '\\', a control character,
 * any segment starting with '.' (".", "..", hidden files), a path not under
 * the prefix, or a result that does not fit. The output never starts with
 * '/', never contains "//" or a segment starting with '.', and ends with '/'
 * exactly when it is a directory other than the root (""). */
int web_path_resolve(const char *prefix, const char *path, char *out, size_t out_len);

#endif
