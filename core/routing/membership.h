/* Deployment-wide user lists: this node's registry merged with the bus's view. */
#ifndef SB_MEMBERSHIP_H
#define SB_MEMBERSHIP_H

#include "switchboard/plugin.h"

/* host->users_query: done(arg, status, users) once, on a later iteration. */
int sb_membership_users_query(const char *room, sb_users_fn done, void *arg);
/* A new sorted array of the strings of a and b, each once. NULL on ENOMEM. */
cJSON *sb_membership_merge_new(const cJSON *a, const cJSON *b);

#endif
