/* fuzz_config_load_json: config_load_json() (server/core/config.c), the JSON
 * file given with --config, on arbitrary text.
 *
 * Each input is applied on top of config_defaults() and freed with
 * config_free(); LeakSanitizer (on by default in libFuzzer with ASan) fails
 * the run on any leak, including the strings an option replaces. Checks that
 * a failure leaves a non-empty, NUL-terminated message, and that after any
 * outcome every setting is still within the bounds --help documents (a
 * rejected value must not be half-applied) and every string is set. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

static void _check_bounds(const struct config *c)
{
	const char *strs[] = { c->listen, c->storage, c->web, c->backend, c->sim_kernel,
			       c->log_level, c->gadget, c->function, c->udc };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (!strs[i])
			abort();
	if (c->luns < 1 || c->luns > 8 ||
	    c->max_image_size < 1 ||
	    c->max_json_body < 64 || c->max_json_body > 16 << 20 ||
	    c->max_connections < 2 || c->max_connections > 4096 ||
	    c->max_per_ip < 1 || c->max_per_ip > 4096 ||
	    c->timeout < 1 || c->timeout > 86400 ||
	    c->max_uploads < 1 || c->max_uploads > 256 ||
	    c->max_downloads < 1 || c->max_downloads > 64 ||
	    c->download_timeout < 1 || c->download_timeout > 3600 ||
	    c->download_retries < 0 || c->download_retries > 100 ||
	    c->reserve < 0 ||
	    c->eject_wait_ms < 1 || c->eject_wait_ms > 60000 ||
	    c->api_wait_ms < 1 || c->api_wait_ms > 60000)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct err err;
	char *text = malloc(size + 1);

	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&err, 0, sizeof(err));

	config_defaults(&cfg);
	if (config_load_json(&cfg, text, &err) < 0) {
		size_t n = strnlen(err.message, sizeof(err.message));
		if (n == 0 || n == sizeof(err.message) || err.kind != ERR_INVALID)
			abort();
	}
	_check_bounds(&cfg);
	config_free(&cfg);
	free(text);
	return 0;
}
