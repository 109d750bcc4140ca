/* The owner handle's one accessor (plugin_ctx.h). */
#include "plugin_ctx.h"

const char *sb_plugin_name(const sb_plugin_ctx *pc)
{
    return pc ? pc->name : "core";
}
