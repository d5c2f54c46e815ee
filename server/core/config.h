/* config: every setting of vmediad, from defaults, a JSON file (--config)
 * and the command line, in that order of precedence (last wins). One table
 * drives both sources and --help, so they cannot drift apart. */
#ifndef VMEDIA_CORE_CONFIG_H
#define VMEDIA_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

struct config {
	char *listen;			/* HOST:PORT, [V6]:PORT */
	char *metrics_listen;		/* GET /metrics alone, no auth; "" = none */
	char *storage;			/* image directory */
	char *web;			/* web UI directory; "" = the embedded UI */
	char *backend;			/* "sim" or "configfs" */
	char *sim_kernel;		/* sim: "patched", "stock" or "old" */
	int64_t luns;			/* number of LUNs (1..8) */
	char *log_level;
	int64_t max_image_size;		/* bytes */
	int64_t max_json_body;		/* bytes */
	int64_t max_connections;
	int64_t max_per_ip;
	int64_t timeout;		/* idle seconds per connection */
	int64_t header_timeout;		/* seconds for a request's headers to arrive */
	int64_t max_pending_per_ip;	/* connections per address still sending headers */
	char *server_names;		/* --server-name values, comma-separated */
	char *trusted_proxy;		/* peer whose X-Forwarded-For is believed */
	int64_t max_uploads;		/* concurrent PUTs */
	int64_t max_downloads;		/* concurrent URL downloads */
	int64_t download_timeout;	/* seconds below 1 KiB/s before giving up */
	int64_t download_retries;	/* resume attempts after network errors */
	bool allow_local_downloads;	/* downloads may reach loopback, link-local */
	int64_t stream_cache;		/* bytes of read cache per streamed image */
	int64_t stream_retry_window;	/* seconds a streamed image's server may be away */
	int64_t stream_block;		/* bytes per request to a streamed image's server */
	char *ssh_known_hosts;		/* sftp streams: accepted host keys */
	char *ssh_identity;		/* sftp streams: private key, or "" */
	int64_t stream_delay_ms;	/* added before each of those requests (benchmarks) */
	bool no_stream;			/* no URL inserts (and no CAP_SYS_ADMIN) */
	int64_t reserve;		/* bytes kept free on the storage fs */
	bool buffered_io;		/* no O_DIRECT for image writes */
	char *gadget;			/* configfs gadget name */
	char *function;			/* adopt: existing mass_storage function */
	char *udc;			/* UDC to bind to; "" = first */
	bool adopt;			/* adopt an existing gadget instead of creating */
	bool remove_gadget;		/* unbind and remove the gadget, then exit */
	char *auth_file;		/* credentials; "" = no authentication */
	char *tls_cert;			/* PEM certificate (chain); "" = plain HTTP */
	char *tls_key;			/* PEM private key */
	bool public_status;		/* GET /status without credentials */
	bool insecure_no_auth;		/* allow no auth off loopback */
	char *user;			/* drop root to this user; "" = stay */
	bool allow_root;		/* run as root without --user */
	int64_t auth_max_failures;
	int64_t auth_window;
	char *add_user;			/* add a user to --auth-file, then exit */
	char *add_token;		/* add a token to --auth-file, then exit */
	bool no_break_io;		/* hide break_io even if the kernel has it */
	int64_t eject_wait_ms;		/* forced_eject bound before SIGUSR1 */
	int64_t api_wait_ms;		/* how long a request waits for a LUN op */
	char *redfish_transfer_default;	/* InsertMedia without TransferMethod */
};

enum config_result { CONFIG_RUN = 0, CONFIG_EXIT_OK, CONFIG_EXIT_ERROR };

void config_defaults(struct config *cfg);
void config_free(struct config *cfg);

/* Applies a JSON object of settings (keys are the long option names). */
int config_load_json(struct config *cfg, const char *text, struct err *err);
int config_load_file(struct config *cfg, const char *path, struct err *err);

/* Parses argv: --config FILE is loaded first, then every other option
 * overrides it. --help/--version print and return CONFIG_EXIT_OK. */
enum config_result config_parse_args(struct config *cfg, int argc, char **argv, FILE *out);
/* The checks that need more than one option's own range: the names of the
 * log level, the backend and the simulated kernel, a power-of-two
 * --stream-block. config_parse_args makes them once the file and the
 * command line are read. */
int config_validate(const struct config *cfg, struct err *err);

/* Parses "123", "4K", "16M", "2G", "1T" (binary units). */
int config_parse_size(const char *s, int64_t *out);

void config_print_help(FILE *out, const char *prog);

/* The manual page vmediad(8), in roff, from the same table as --help;
 * date is the page's date (YYYY-MM-DD). */
void config_print_man(FILE *out, const char *date);

#endif
