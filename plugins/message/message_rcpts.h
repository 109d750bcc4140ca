/* Recipient lists of a direct message: checks `to` (a user or a non-empty
 * array of users), drops duplicate names, and enforces max_recipients.
 * Pure logic: no host calls, so unit tests drive it directly. */
#ifndef MESSAGE_RCPTS_H
#define MESSAGE_RCPTS_H

#include <stddef.h>

#include <cjson/cJSON.h>

enum message_rcpts_status {
    MESSAGE_RCPTS_OK = 0,
    MESSAGE_RCPTS_BAD = 1,      /* `to` missing, empty, or a name fails the user rules */
    MESSAGE_RCPTS_TOO_MANY = 2, /* more distinct names than max */
    MESSAGE_RCPTS_NOMEM = 3,
};

/* The distinct recipients in first-occurrence order. One allocation holds the
 * pointer array and copies of the names, so the list outlives the `to` item. */
typedef struct message_rcpts {
    char **users; /* ro: n names, owned */
    size_t n;     /* ro */
} message_rcpts;

/* Parse `to` (may be NULL) into out; valid(name) says whether a name passes
 * the user rules. *n_distinct (may be NULL) gets the distinct count on
 * MESSAGE_RCPTS_TOO_MANY. out is untouched unless MESSAGE_RCPTS_OK; then
 * release it with message_rcpts_free. */
int message_rcpts_parse(const cJSON *to, int (*valid)(const char *), size_t max, message_rcpts *out,
                        size_t *n_distinct);
void message_rcpts_free(message_rcpts *r);

#endif
