/* status_page — the support lead's live status page, src/status.html, compiled
 * in by the Makefile (build/gen/status_html.c) for the admin server to serve at /
 * from memory. It polls /api/status; status_html_len excludes the final NUL. */
#ifndef STATUS_PAGE_H
#define STATUS_PAGE_H
#include <stddef.h>

extern const char status_html[];
extern const size_t status_html_len;

#endif
