/* The static token table: parsing tokens_file and looking tokens up.
 * Entries are (SHA-256 of the token, user), sorted by digest; duplicates are
 * resolved once, at parse time, so a lookup is one binary search.
 */
#include "auth_tokens.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <switchboard/plugin.h>

#define AUTH_DIGEST_LEN 32

typedef struct auth_token_entry {
    unsigned char digest[AUTH_DIGEST_LEN];
    size_t line; /* where it was defined: the first definition of a token wins */
    char user[SB_USER_MAX + 1];
} auth_token_entry;

struct auth_tokens {
    auth_token_entry *entries;
    size_t n, cap;
};

static int tokens_digest(const char *token, size_t len, unsigned char out[AUTH_DIGEST_LEN])
{
    unsigned int n = 0;
    if (!EVP_Digest(token, len, out, &n, EVP_sha256(), NULL) || n != AUTH_DIGEST_LEN)
        return SB_ENOMEM;
    return SB_OK;
}

static int tokens_entry_cmp(const void *a, const void *b)
{
    const auth_token_entry *x = a, *y = b;
    int c = memcmp(x->digest, y->digest, AUTH_DIGEST_LEN);
    if (c)
        return c;
    return (x->line > y->line) - (x->line < y->line);
}

static int tokens_push(auth_tokens *t, const unsigned char *digest, const char *user, size_t line)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        auth_token_entry *e = realloc(t->entries, cap * sizeof *e);
        if (!e)
            return SB_ENOMEM;
        t->entries = e;
        t->cap = cap;
    }
    auth_token_entry *e = &t->entries[t->n++];
    memcpy(e->digest, digest, AUTH_DIGEST_LEN);
    e->line = line;
    strcpy(e->user, user); /* length checked by the caller */
    return SB_OK;
}

/* Split one line into at most 3 whitespace-separated fields (a third one
 * means the line is bad); returns the field count. Modifies line. */
static size_t tokens_split(char *line, char *field[3])
{
    size_t n = 0;
    char *save = NULL;
    for (char *p = strtok_r(line, " \t\r\n\v\f", &save); p && n < 3;
         p = strtok_r(NULL, " \t\r\n\v\f", &save))
        field[n++] = p;
    return n;
}

/* Sort by digest (then line) and drop every later definition of a token. */
static void tokens_dedupe(auth_tokens *t, auth_warn_fn warn, void *warn_arg)
{
    if (t->n == 0)
        return;
    qsort(t->entries, t->n, sizeof *t->entries, tokens_entry_cmp);
    size_t out = 1;
    for (size_t i = 1; i < t->n; i++) {
        auth_token_entry *keep = &t->entries[out - 1];
        if (memcmp(keep->digest, t->entries[i].digest, AUTH_DIGEST_LEN) == 0) {
            if (warn) {
                char why[96];
                snprintf(why, sizeof why, "duplicate token (first defined on line %zu), ignored",
                         keep->line);
                warn(warn_arg, t->entries[i].line, why);
            }
            continue;
        }
        t->entries[out++] = t->entries[i];
    }
    t->n = out;
}

int auth_tokens_parse(FILE *f, auth_user_valid_fn valid, auth_warn_fn warn, void *warn_arg,
                      auth_tokens **out)
{
    *out = NULL;
    auth_tokens *t = calloc(1, sizeof *t);
    if (!t)
        return SB_ENOMEM;
    char *buf = NULL;
    size_t cap = 0, line = 0;
    int rc = SB_OK;
    errno = 0;
    while (getline(&buf, &cap, f) != -1) {
        line++;
        char *field[3];
        size_t n = tokens_split(buf, field);
        if (n == 0 || field[0][0] == '#')
            continue;
        if (n != 2) {
            if (warn)
                warn(warn_arg, line, "expected \"TOKEN USER\", skipped");
            continue;
        }
        if (strlen(field[1]) > SB_USER_MAX || !valid(field[1])) {
            if (warn)
                warn(warn_arg, line, "invalid user name, skipped");
            continue;
        }
        unsigned char digest[AUTH_DIGEST_LEN];
        rc = tokens_digest(field[0], strlen(field[0]), digest);
        if (rc == SB_OK)
            rc = tokens_push(t, digest, field[1], line);
        if (rc != SB_OK)
            break;
    }
    if (rc == SB_OK && ferror(f))
        rc = errno == ENOMEM ? SB_ENOMEM : SB_EINVAL;
    free(buf);
    if (rc != SB_OK) {
        auth_tokens_free(t);
        return rc;
    }
    tokens_dedupe(t, warn, warn_arg);
    *out = t;
    return SB_OK;
}

int auth_tokens_load(const char *path, auth_user_valid_fn valid, auth_warn_fn warn, void *warn_arg,
                     auth_tokens **out, char *err, size_t err_len)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return SB_ENOTFOUND;
    }
    int rc = auth_tokens_parse(f, valid, warn, warn_arg, out);
    fclose(f);
    if (rc != SB_OK)
        snprintf(err, err_len, "cannot read %s: %s", path,
                 rc == SB_ENOMEM ? "out of memory" : "read error");
    return rc;
}

const char *auth_tokens_lookup(const auth_tokens *t, const char *token, size_t len)
{
    if (!t || t->n == 0)
        return NULL;
    auth_token_entry key;
    if (tokens_digest(token, len, key.digest) != SB_OK)
        return NULL;
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(key.digest, t->entries[mid].digest, AUTH_DIGEST_LEN);
        if (c == 0)
            return t->entries[mid].user;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

size_t auth_tokens_count(const auth_tokens *t)
{
    return t ? t->n : 0;
}

void auth_tokens_free(auth_tokens *t)
{
    if (!t)
        return;
    free(t->entries);
    free(t);
}
