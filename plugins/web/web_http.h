/* The HTTP side of serving a file: its Content-Type and ETag matching. */
#ifndef SB_WEB_HTTP_H
#define SB_WEB_HTTP_H

/* The Content-Type for a file name, by extension (case-insensitive);
 * application/octet-stream when unknown. Static string. */
const char *web_content_type(const char *name);

/* Whether an If-None-Match header value (a list of entity tags, or "*")
 * matches etag (quoted, strong) under the weak comparison RFC 9110 asks for. */
int web_etag_matches(const char *if_none_match, const char *etag);

#endif
