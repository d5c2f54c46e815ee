/* drives: POST /images, a new empty drive (FAT32, exFAT or blank) of a
 * size given in bytes or as "8G". */
#include "api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../storage/storage.h"

/* "8G", "512M", "1.5T", "4096" (binary units; an optional "iB" or "B"). */
static bool _parse_size(const char *s, int64_t *out)
{
	static const char units[] = "KMGT";
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v <= 0 || s[0] == '-' || s[0] == '+')
		return false;
	if (*end) {
		const char *u = strchr(units, *end >= 'a' ? *end - 'a' + 'A' : *end);
		if (!u || !*u)
			return false;
		for (int i = 0; i <= u - units; i++)
			v *= 1024;
		end++;
		if (strcasecmp(end, "iB") != 0 && strcasecmp(end, "B") != 0 && *end)
			return false;
	}
	if (v >= 9.2e18 || v != (double)(int64_t)v)
		return false;
	*out = (int64_t)v;
	return true;
}

void api_images_create(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct storage_drive_options o = { .filesystem = "fat32" };
	struct storage_image img;
	struct err err;
	json_error_t jerr;
	json_t *size = NULL;
	bool failed;

	json_t *body = http_req_json(r, &failed);
	if (failed)
		return;
	if (body && (json_object_get(body, "url") || json_object_get(body, "link"))) {
		api_links_create(r, body);	/* a named link (links.c) */
		goto out;
	}
	if (!body || json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:o, s?s, s?s}",
				    "name", &o.name, "size", &size, "filesystem", &o.filesystem,
				    "label", &o.label) < 0) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_json",
				 "expected {\"name\": string, \"size\": bytes or \"8G\", "
				 "\"filesystem\": \"fat32\"|\"exfat\"|\"none\", \"label\": string}%s%s",
				 body ? ": " : "", body ? jerr.text : "");
		goto out;
	}
	if (json_is_integer(size))
		o.size = json_integer_value(size);
	else if (!json_is_string(size) || !_parse_size(json_string_value(size), &o.size)) {
		http_reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_size",
				 "size is a number of bytes or a string such as \"8G\" or \"512M\"");
		goto out;
	}
	if (storage_create_drive(app->storage, &o, &img, &err) < 0)
		http_reply_err(r, &err);
	else
		http_reply_json(r, MHD_HTTP_CREATED, storage_image_json(&img));
out:
	json_decref(body);
}
