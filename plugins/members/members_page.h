/* A page of a sorted user list, as native `members` answers it
 * (docs/protocol.md): names after `after`, at most `limit`, and `more`.
 * Shared by the members plugin and the api plugin (its members call). */
#ifndef MEMBERS_PAGE_H
#define MEMBERS_PAGE_H

#include <stddef.h>

#include <switchboard/plugin.h>

/* `members` pages: names after `after`, at most `limit` of them. */
#define MEMBERS_PAGE_DEFAULT 1000
#define MEMBERS_PAGE_MAX     1000

/* Which part of a sorted list a reply carries: everything (`list`), or a
 * page of a room's members with `more`. */
typedef struct members_page {
    int paged;
    size_t limit;
    char after[SB_USER_MAX + 1]; /* "" : from the first */
} members_page;

/* A new {users} from users (borrowed, sorted by strcmp, each once): all of
 * them, or with page->paged the page and `more`; plus {room} when room is
 * set. NULL on ENOMEM (or users NULL when not paged). */
cJSON *members_data_new(const char *room, const cJSON *users, const members_page *page);

#endif
