/* Recipient parsing for `message`: validation first, then duplicates are
 * removed (docs/protocol.md 3: before max_recipients is checked), keeping each
 * name's first occurrence so delivery follows the order the sender wrote.
 * Sorting makes the duplicate scan O(n log n): a 64 KiB frame can name
 * thousands of users. */
#include "message_rcpts.h"

#include <stdlib.h>
#include <string.h>

typedef struct rcpt_slot {
    const char *name;
    size_t pos; /* index in the `to` array */
} rcpt_slot;

static int rcpt_slot_cmp(const void *a, const void *b)
{
    const rcpt_slot *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Copy names[i] for keep[i] into one block: the pointer array, then the bytes. */
static int message_rcpts_copy(const char *const *names, const unsigned char *keep, size_t n,
                              size_t n_keep, message_rcpts *out)
{
    size_t bytes = n_keep * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        if (keep[i])
            bytes += strlen(names[i]) + 1;
    char **users = malloc(bytes);
    if (users == NULL)
        return MESSAGE_RCPTS_NOMEM;
    char *p = (char *)(users + n_keep);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        size_t len = strlen(names[i]) + 1;
        memcpy(p, names[i], len);
        users[k++] = p;
        p += len;
    }
    out->users = users;
    out->n = n_keep;
    return MESSAGE_RCPTS_OK;
}

int message_rcpts_parse(const cJSON *to, int (*valid)(const char *), size_t max, message_rcpts *out,
                        size_t *n_distinct)
{
    if (cJSON_IsString(to)) {
        if (!valid(to->valuestring))
            return MESSAGE_RCPTS_BAD;
        if (max < 1) {
            if (n_distinct != NULL)
                *n_distinct = 1;
            return MESSAGE_RCPTS_TOO_MANY;
        }
        const char *name = to->valuestring;
        unsigned char keep = 1;
        return message_rcpts_copy(&name, &keep, 1, 1, out);
    }
    if (!cJSON_IsArray(to))
        return MESSAGE_RCPTS_BAD;
    size_t n = (size_t)cJSON_GetArraySize(to);
    if (n == 0)
        return MESSAGE_RCPTS_BAD;

    int rc = MESSAGE_RCPTS_NOMEM;
    const char **names = malloc(n * sizeof(*names));
    rcpt_slot *slots = malloc(n * sizeof(*slots));
    unsigned char *keep = calloc(n, 1);
    if (names == NULL || slots == NULL || keep == NULL)
        goto out;
    size_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, to)
    {
        if (!cJSON_IsString(item) || !valid(item->valuestring)) {
            rc = MESSAGE_RCPTS_BAD;
            goto out;
        }
        names[i] = item->valuestring;
        slots[i].name = item->valuestring;
        slots[i].pos = i;
        i++;
    }
    qsort(slots, n, sizeof(*slots), rcpt_slot_cmp);
    size_t n_keep = 0;
    for (i = 0; i < n; i++) {
        /* Equal names sort together, lowest position first: keep that one. */
        if (i == 0 || strcmp(slots[i].name, slots[i - 1].name) != 0) {
            keep[slots[i].pos] = 1;
            n_keep++;
        }
    }
    if (n_keep > max) {
        if (n_distinct != NULL)
            *n_distinct = n_keep;
        rc = MESSAGE_RCPTS_TOO_MANY;
        goto out;
    }
    rc = message_rcpts_copy(names, keep, n, n_keep, out);
out:
    free(names);
    free(slots);
    free(keep);
    return rc;
}

void message_rcpts_free(message_rcpts *r)
{
    if (r == NULL)
        return;
    free(r->users); /* the names live in the same block */
    r->users = NULL;
    r->n = 0;
}
