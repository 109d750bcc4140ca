/* A page of a sorted user list (members_page.h): the `members` command's
 * and the push API's GET /api/rooms/{room}/members (which builds this file
 * too), so both page alike. */
#include <string.h>

#include "members_page.h"

/* The page of users (sorted by strcmp, each once) after page->after, at most
 * page->limit names, and *more set when names remain after it. */
static cJSON *members_page_new(const cJSON *users, const members_page *page, int *more)
{
    cJSON *out = cJSON_CreateArray();
    const cJSON *u;
    *more = 0;
    if (!out)
        return NULL;
    size_t n = 0;
    cJSON_ArrayForEach(u, users)
    {
        if (!cJSON_IsString(u) || strcmp(u->valuestring, page->after) <= 0)
            continue;
        if (n == page->limit) {
            *more = 1;
            break;
        }
        cJSON *name = cJSON_CreateString(u->valuestring);
        if (!name || !cJSON_AddItemToArray(out, name)) {
            cJSON_Delete(name);
            cJSON_Delete(out);
            return NULL;
        }
        n++;
    }
    return out;
}

/* A new {users} from users (borrowed), plus {room} when room is set and
 * `more` when the reply is a page; NULL on ENOMEM. */
cJSON *members_data_new(const char *room, const cJSON *users, const members_page *page)
{
    int more = 0;
    cJSON *list = page->paged ? members_page_new(users, page, &more)
                              : (users ? cJSON_Duplicate(users, 1) : NULL);
    cJSON *data = cJSON_CreateObject();
    if (!data || !list || (room && !cJSON_AddStringToObject(data, "room", room))) {
        cJSON_Delete(data);
        cJSON_Delete(list);
        return NULL;
    }
    cJSON_AddItemToObject(data, "users", list);
    if (page->paged && !cJSON_AddBoolToObject(data, "more", more)) {
        cJSON_Delete(data);
        return NULL;
    }
    return data;
}
