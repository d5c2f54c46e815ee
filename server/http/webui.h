/* webui: the web UI's files, compiled into vmediad at build time
 * (tools/embed-web.sh writes the table from web/). --web DIR serves a
 * directory instead, for working on the UI without rebuilding. */
#ifndef VMEDIA_HTTP_WEBUI_H
#define VMEDIA_HTTP_WEBUI_H

#include <stddef.h>

struct webui_file {
	const char *name;		/* "index.html": served as /index.html */
	const unsigned char *data;
	size_t size;
};

/* Ends with an entry whose name is NULL. */
extern const struct webui_file webui_files[];

#endif
