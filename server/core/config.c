/* config: defaults, JSON file and command line through one option table. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "version.h"

enum config_type { CONFIG_T_STR, CONFIG_T_INT, CONFIG_T_SIZE, CONFIG_T_BOOL, CONFIG_T_LIST };

struct config_opt {
	const char *name;
	enum config_type type;
	size_t offset;
	const char *arg;
	const char *help;
	int64_t min, max;
};

#define CONFIG_OFF(field) offsetof(struct config, field)

static const struct config_opt _opts[] = {
	{ "listen", CONFIG_T_STR, CONFIG_OFF(listen), "HOST:PORT",
	  "address to listen on; [::1]:8080 for IPv6, port 0 picks a free one", 0, 0 },
	{ "metrics-listen", CONFIG_T_STR, CONFIG_OFF(metrics_listen), "HOST:PORT",
	  "also serve GET /metrics (and nothing else) on this address, WITHOUT "
	  "authentication, for Prometheus; keep it on loopback (127.0.0.1:9464) or a "
	  "management network. /metrics on --listen stays behind the credentials", 0, 0 },
	{ "storage", CONFIG_T_STR, CONFIG_OFF(storage), "DIR", "directory that holds the images", 0, 0 },
	{ "web", CONFIG_T_STR, CONFIG_OFF(web), "DIR",
	  "serve the web UI from this directory instead of the copy built into vmediad "
	  "(for working on the UI without rebuilding)", 0, 0 },
	{ "backend", CONFIG_T_STR, CONFIG_OFF(backend), "sim|configfs",
	  "LUN backend: 'sim' simulates the kernel (no hardware), "
	  "'configfs' drives a real USB gadget", 0, 0 },
	{ "sim-kernel", CONFIG_T_STR, CONFIG_OFF(sim_kernel), "patched|stock|old",
	  "sim: which kernel to model: with break_io, stock >= 6.0 (forced_eject only), "
	  "or < 6.0 (neither)", 0, 0 },
	{ "luns", CONFIG_T_INT, CONFIG_OFF(luns), "N", "number of LUNs, 1..8", 1, 8 },
	{ "log-level", CONFIG_T_STR, CONFIG_OFF(log_level), "LEVEL", "error, warn, info or debug", 0, 0 },
	{ "max-image-size", CONFIG_T_SIZE, CONFIG_OFF(max_image_size), "SIZE",
	  "largest image accepted (K, M, G, T suffixes)", 1, INT64_MAX },
	{ "max-json-body", CONFIG_T_SIZE, CONFIG_OFF(max_json_body), "SIZE",
	  "largest JSON request body", 64, 16 << 20 },
	{ "max-connections", CONFIG_T_INT, CONFIG_OFF(max_connections), "N",
	  "connections served at once", 2, 4096 },
	{ "max-per-ip", CONFIG_T_INT, CONFIG_OFF(max_per_ip), "N", "connections per client address", 1, 4096 },
	{ "timeout", CONFIG_T_INT, CONFIG_OFF(timeout), "SECONDS",
	  "close a connection idle this long", 1, 86400 },
	{ "header-timeout", CONFIG_T_INT, CONFIG_OFF(header_timeout), "SECONDS",
	  "close a connection whose first request's headers are not complete this long "
	  "after it opened (answered 408 on plain HTTP)", 1, 3600 },
	{ "max-pending-per-ip", CONFIG_T_INT, CONFIG_OFF(max_pending_per_ip), "N",
	  "connections per client address that may be sending their request headers at "
	  "once (slow or stalled clients); more are refused", 1, 4096 },
	{ "server-name", CONFIG_T_LIST, CONFIG_OFF(server_names), "NAME",
	  "a host name clients use for this server (repeatable); requests whose Host "
	  "header is not one of these, localhost or the address connected to are refused "
	  "(DNS rebinding)", 0, 0 },
	{ "trusted-proxy", CONFIG_T_STR, CONFIG_OFF(trusted_proxy), "ADDR",
	  "the address of a reverse proxy (nginx): for its connections the client address "
	  "is the last one in X-Forwarded-For", 0, 0 },
	{ "max-uploads", CONFIG_T_INT, CONFIG_OFF(max_uploads), "N", "uploads running at once", 1, 256 },
	{ "max-downloads", CONFIG_T_INT, CONFIG_OFF(max_downloads), "N", "URL downloads running at once; "
	  "more wait in a queue", 1, 64 },
	{ "download-timeout", CONFIG_T_INT, CONFIG_OFF(download_timeout), "SECONDS",
	  "abort a download that moves less than 1 KiB/s this long", 1, 3600 },
	{ "download-retries", CONFIG_T_INT, CONFIG_OFF(download_retries), "N",
	  "times a download resumes after a network error", 0, 100 },
	{ "allow-local-downloads", CONFIG_T_BOOL, CONFIG_OFF(allow_local_downloads), NULL,
	  "let downloads connect to loopback (127.0.0.0/8, ::1) and link-local "
	  "(169.254.0.0/16, fe80::/10) addresses, also after redirects; off by default, as "
	  "these are the box's own services", 0, 0 },
	{ "no-stream", CONFIG_T_BOOL, CONFIG_OFF(no_stream), NULL,
	  "refuse URL inserts (streamed images); with --user and configfs, vmediad then "
	  "does not keep CAP_SYS_ADMIN, which nbd-client needs", 0, 0 },
	{ "stream-retry-window", CONFIG_T_INT, CONFIG_OFF(stream_retry_window), "SECONDS",
	  "how long the server of a streamed image may be away (nbdkit retries once a "
	  "second) before the host's read fails; keep it below the host's SCSI timeout "
	  "(30 s on Linux)", 0, 600 },
	{ "stream-cache", CONFIG_T_SIZE, CONFIG_OFF(stream_cache), "SIZE",
	  "read cache of each streamed image (nbdkit's cache filter), in the image folder's "
	  ".streams/", 0, INT64_MAX },
	{ "stream-block", CONFIG_T_SIZE, CONFIG_OFF(stream_block), "SIZE",
	  "how much of a streamed image one request to its server asks for (the cache "
	  "filter's block, a power of two, 4K..16M): larger blocks cost fewer round trips on "
	  "a slow link", 4096, 16 << 20 },
	{ "ssh-known-hosts", CONFIG_T_STR, CONFIG_OFF(ssh_known_hosts), "FILE",
	  "host keys of the sftp:// servers images are streamed from (OpenSSH's known_hosts "
	  "format); a server whose key is not there is refused", 0, 0 },
	{ "ssh-identity", CONFIG_T_STR, CONFIG_OFF(ssh_identity), "FILE",
	  "private key for sftp:// streams whose URL has no password (readable by --user)", 0,
	  0 },
	{ "stream-delay-ms", CONFIG_T_INT, CONFIG_OFF(stream_delay_ms), "MS",
	  "wait MS milliseconds before each request to a streamed image's server (nbdkit's "
	  "delay filter): to try a distant server from a near one, and for the benchmark", 0,
	  10000 },
	{ "reserve", CONFIG_T_SIZE, CONFIG_OFF(reserve), "SIZE",
	  "space always left free on the storage file system", 0, INT64_MAX },
	{ "buffered-io", CONFIG_T_BOOL, CONFIG_OFF(buffered_io), NULL,
	  "write images through the page cache instead of with O_DIRECT (for devices "
	  "where direct writes are slow)", 0, 0 },
	{ "auth-file", CONFIG_T_STR, CONFIG_OFF(auth_file), "FILE",
	  "credentials file (users for HTTP Basic, tokens for Bearer); required when "
	  "listening off loopback", 0, 0 },
	{ "tls-cert", CONFIG_T_STR, CONFIG_OFF(tls_cert), "FILE",
	  "serve HTTPS with this PEM certificate (chain); needs --tls-key", 0, 0 },
	{ "tls-key", CONFIG_T_STR, CONFIG_OFF(tls_key), "FILE", "the PEM private key for --tls-cert", 0, 0 },
	{ "add-user", CONFIG_T_STR, CONFIG_OFF(add_user), "NAME",
	  "add or replace a user in --auth-file (password read from stdin), then exit", 0, 0 },
	{ "add-token", CONFIG_T_STR, CONFIG_OFF(add_token), "NAME",
	  "add or replace a bearer token in --auth-file, print it once, then exit", 0, 0 },
	{ "public-status", CONFIG_T_BOOL, CONFIG_OFF(public_status), NULL,
	  "let GET /status be read without credentials", 0, 0 },
	{ "insecure-no-auth", CONFIG_T_BOOL, CONFIG_OFF(insecure_no_auth), NULL,
	  "DANGEROUS: serve without authentication off loopback (anyone who reaches the "
	  "port can boot the attached computer from anything)", 0, 0 },
	{ "user", CONFIG_T_STR, CONFIG_OFF(user), "NAME",
	  "started as root: become this user before opening anything, keeping only "
	  "CAP_DAC_OVERRIDE and CAP_KILL (configfs) or nothing (sim)", 0, 0 },
	{ "allow-root", CONFIG_T_BOOL, CONFIG_OFF(allow_root), NULL,
	  "run as root with every capability (without it and without --user, "
	  "--backend configfs refuses root; sim warns)", 0, 0 },
	{ "auth-max-failures", CONFIG_T_INT, CONFIG_OFF(auth_max_failures), "N",
	  "failed logins per client address (IPv6: /64) and user name before 429", 1, 1000 },
	{ "auth-window", CONFIG_T_INT, CONFIG_OFF(auth_window), "SECONDS",
	  "the window those failures are counted in (and the lock-out)", 1, 86400 },
	{ "gadget", CONFIG_T_STR, CONFIG_OFF(gadget), "NAME", "configfs: gadget name", 0, 0 },
	{ "function", CONFIG_T_STR, CONFIG_OFF(function), "NAME",
	  "configfs: mass_storage function to use (with --adopt)", 0, 0 },
	{ "udc", CONFIG_T_STR, CONFIG_OFF(udc), "NAME", "configfs: UDC to bind (default: the first)", 0, 0 },
	{ "adopt", CONFIG_T_BOOL, CONFIG_OFF(adopt), NULL,
	  "configfs: use an existing gadget made by another tool", 0, 0 },
	{ "remove-gadget", CONFIG_T_BOOL, CONFIG_OFF(remove_gadget), NULL,
	  "configfs: unbind and remove the gadget (--gadget), then exit", 0, 0 },
	{ "no-break-io", CONFIG_T_BOOL, CONFIG_OFF(no_break_io), NULL,
	  "do not use the kernel's break_io even if present (tests the fallbacks)", 0, 0 },
	{ "eject-wait-ms", CONFIG_T_INT, CONFIG_OFF(eject_wait_ms), "MS",
	  "how long forced_eject may block before the SIGUSR1 fallback", 1, 60000 },
	{ "api-wait-ms", CONFIG_T_INT, CONFIG_OFF(api_wait_ms), "MS",
	  "how long a request waits for a LUN operation before answering 'ejecting'",
	  1, 60000 },
	{ "redfish-transfer-default", CONFIG_T_STR, CONFIG_OFF(redfish_transfer_default), "upload|stream",
	  "Redfish InsertMedia of a URL without TransferMethod: 'upload' downloads the image, "
	  "then inserts it; 'stream' inserts the URL without copying it", 0, 0 },
};

#define CONFIG_NOPTS (sizeof(_opts) / sizeof(_opts[0]))

static void _set_str(char **slot, const char *value)
{
	free(*slot);
	*slot = strdup(value);
	if (!*slot)
		abort();
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	_set_str(&cfg->listen, "127.0.0.1:8080");
	_set_str(&cfg->metrics_listen, "");
	_set_str(&cfg->storage, "/var/lib/vmedia/images");
	_set_str(&cfg->web, "");
	_set_str(&cfg->backend, "sim");
	_set_str(&cfg->sim_kernel, "patched");
	cfg->luns = 2;
	_set_str(&cfg->log_level, "info");
	cfg->max_image_size = (int64_t)128 << 30;
	cfg->max_json_body = 64 << 10;
	/* A browser profile keeps up to six connections to the box, one per
	 * open tab an event stream; two operators behind one NAT address with
	 * two browsers each, and a script, is some 25 from one address. */
	cfg->max_connections = 128;
	cfg->max_per_ip = 32;
	cfg->max_pending_per_ip = 4;
	cfg->timeout = 60;
	cfg->header_timeout = 10;
	_set_str(&cfg->server_names, "");
	_set_str(&cfg->trusted_proxy, "");
	cfg->max_uploads = 4;
	cfg->max_downloads = 2;
	cfg->download_timeout = 60;
	cfg->download_retries = 5;
	cfg->stream_cache = 64LL << 20;
	cfg->stream_retry_window = 20;
	cfg->stream_block = 512 << 10;
	_set_str(&cfg->ssh_known_hosts, "/etc/vmedia/ssh_known_hosts");
	_set_str(&cfg->ssh_identity, "");
	cfg->reserve = 16 << 20;
	_set_str(&cfg->gadget, "vmedia");
	_set_str(&cfg->auth_file, "");
	_set_str(&cfg->tls_cert, "");
	_set_str(&cfg->tls_key, "");
	_set_str(&cfg->add_user, "");
	_set_str(&cfg->add_token, "");
	_set_str(&cfg->user, "");
	cfg->auth_max_failures = 5;
	cfg->auth_window = 60;
	_set_str(&cfg->function, "mass_storage.usb0");
	_set_str(&cfg->udc, "");
	cfg->eject_wait_ms = 300;
	cfg->api_wait_ms = 2000;
	_set_str(&cfg->redfish_transfer_default, "upload");
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < CONFIG_NOPTS; i++)
		if (_opts[i].type == CONFIG_T_STR || _opts[i].type == CONFIG_T_LIST) {
			char **slot = (char **)((char *)cfg + _opts[i].offset);
			free(*slot);
			*slot = NULL;
		}
}

int config_parse_size(const char *s, int64_t *out)
{
	char *end;
	int shift = 0;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: return -1;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	if (*end)
		return -1;
	if (v > ((unsigned long long)INT64_MAX >> shift))
		return -1;
	*out = (int64_t)(v << shift);
	return 0;
}

static const struct config_opt *_find(const char *name)
{
	for (size_t i = 0; i < CONFIG_NOPTS; i++)
		if (strcmp(_opts[i].name, name) == 0)
			return &_opts[i];
	return NULL;
}

/* A repeatable option: each value is appended (comma-separated); in the
 * JSON file a string or an array of strings. Values hold no comma. */
static int _append_list(char **slot, const struct config_opt *o, const char *text, json_t *jv,
			struct err *err)
{
	if (jv && json_is_array(jv)) {
		size_t i;
		json_t *item;
		json_array_foreach(jv, i, item)
			if (_append_list(slot, o, NULL, item, err) < 0)
				return -1;
		return 0;
	}
	if (jv && !json_is_string(jv))
		return err_set(err, ERR_INVALID, "bad_config",
			       "'%s' must be a string or an array of strings", o->name);
	const char *v = jv ? json_string_value(jv) : text;
	if (!*v || strchr(v, ','))
		return err_set(err, ERR_INVALID, "bad_config",
			       "'%s': '%s' must be one non-empty name without a comma", o->name, v);
	size_t old = strlen(*slot), len = strlen(v);
	char *s = realloc(*slot, old + len + 2);
	if (!s)
		abort();
	snprintf(s + old, len + 2, "%s%s", old ? "," : "", v);
	*slot = s;
	return 0;
}

/* Sets one option from its text form (command line) or JSON value. */
static int _apply(struct config *cfg, const struct config_opt *o, const char *text,
		  json_t *jv, struct err *err)
{
	void *slot = (char *)cfg + o->offset;
	int64_t v;
	char buf[32];

	switch (o->type) {
	case CONFIG_T_STR:
		if (jv && !json_is_string(jv))
			return err_set(err, ERR_INVALID, "bad_config", "'%s' must be a string", o->name);
		_set_str(slot, jv ? json_string_value(jv) : text);
		return 0;
	case CONFIG_T_LIST:
		return _append_list(slot, o, text, jv, err);
	case CONFIG_T_BOOL:
		if (jv && !json_is_boolean(jv))
			return err_set(err, ERR_INVALID, "bad_config", "'%s' must be true or false",
				       o->name);
		*(bool *)slot = jv ? json_is_true(jv) : true;
		return 0;
	case CONFIG_T_INT:
	case CONFIG_T_SIZE:
		if (jv && json_is_integer(jv)) {
			snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(jv));
			text = buf;
		} else if (jv && json_is_string(jv) && o->type == CONFIG_T_SIZE) {
			text = json_string_value(jv);
		} else if (jv) {
			return err_set(err, ERR_INVALID, "bad_config", "'%s' must be a number", o->name);
		}
		if (o->type == CONFIG_T_SIZE) {
			if (config_parse_size(text, &v) < 0)
				return err_set(err, ERR_INVALID, "bad_config",
					       "'%s': '%s' is not a size (e.g. 512M, 4G)", o->name, text);
		} else {
			char *end;
			errno = 0;
			long long ll = strtoll(text, &end, 10);
			if (errno || end == text || *end)
				return err_set(err, ERR_INVALID, "bad_config",
					       "'%s': '%s' is not a number", o->name, text);
			v = ll;
		}
		if (v < o->min || v > o->max)
			return err_set(err, ERR_INVALID, "bad_config",
				       "'%s' must be between %lld and %lld", o->name,
				       (long long)o->min, (long long)o->max);
		*(int64_t *)slot = v;
		return 0;
	}
	return -1;
}

int config_load_json(struct config *cfg, const char *text, struct err *err)
{
	json_error_t jerr;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	const char *key;
	json_t *value;
	int rc = 0;

	if (!root)
		return err_set(err, ERR_INVALID, "bad_config", "line %d: %s", jerr.line, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return err_set(err, ERR_INVALID, "bad_config", "the configuration must be a JSON object");
	}
	json_object_foreach(root, key, value) {
		const struct config_opt *o = _find(key);
		if (!o) {
			rc = err_set(err, ERR_INVALID, "bad_config", "unknown setting '%s'", key);
			break;
		}
		if (_apply(cfg, o, NULL, value, err) < 0) {
			rc = -1;
			break;
		}
	}
	json_decref(root);
	return rc;
}

int config_load_file(struct config *cfg, const char *path, struct err *err)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	int rc;

	if (!root)
		return err_set(err, ERR_INVALID, "bad_config", "%s: %s (line %d)", path, jerr.text,
			       jerr.line);
	char *text = json_dumps(root, 0);
	json_decref(root);
	if (!text)
		abort();
	rc = config_load_json(cfg, text, err);
	free(text);
	if (rc < 0) {
		char msg[sizeof(err->message)];
		snprintf(msg, sizeof(msg), "%s", err->message);
		err_set(err, ERR_INVALID, "bad_config", "%s: %s", path, msg);
	}
	return rc;
}

void config_print_help(FILE *out, const char *prog)
{
	struct config d;

	config_defaults(&d);
	fprintf(out,
		"Usage: %s [OPTION]...\n"
		"vmediad serves virtual media for KVM-over-IP: it stores disk and CD-ROM images\n"
		"and inserts them into the LUNs of a USB mass-storage gadget, with an HTTP/JSON\n"
		"API and a web UI.\n\nOptions:\n", prog);
	for (size_t i = 0; i < CONFIG_NOPTS; i++) {
		const struct config_opt *o = &_opts[i];
		char head[64];
		void *slot = (char *)&d + o->offset;

		snprintf(head, sizeof(head), "--%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(out, "  %-28s %s", head, o->help);
		if ((o->type == CONFIG_T_STR || o->type == CONFIG_T_LIST) && **(char **)slot)
			fprintf(out, " (default: %s)", *(char **)slot);
		else if (o->type == CONFIG_T_INT || o->type == CONFIG_T_SIZE)
			fprintf(out, " (default: %lld)", (long long)*(int64_t *)slot);
		fputc('\n', out);
	}
	fprintf(out,
		"  %-28s read settings from a JSON object whose keys are the option\n"
		"  %-28s names above (\"listen\", \"max-image-size\", ...); the command\n"
		"  %-28s line overrides it\n"
		"  %-28s print this help\n  %-28s print the version\n",
		"--config FILE", "", "", "-h, --help", "--version");
	config_free(&d);
}

/* Text for roff: a backslash, a hyphen (not a minus), and a line that
 * would start with a control character are escaped. */
static void _roff(FILE *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

void config_print_man(FILE *out, const char *date)
{
	struct config d;

	config_defaults(&d);
	fprintf(out, ".\\\" Generated from vmediad's option table (server/core/config.c).\n"
		".TH VMEDIAD 8 \"%s\" \"vmedia %s\" \"System Administration\"\n"
		".SH NAME\nvmediad \\- virtual media for KVM\\-over\\-IP\n"
		".SH SYNOPSIS\n.B vmediad\n[\\fIOPTION\\fR]...\n"
		".SH DESCRIPTION\n"
		"vmediad stores disk and CD\\-ROM images and inserts them into the LUNs of a USB\n"
		"mass\\-storage gadget, with an HTTP/JSON API and a web UI built into the binary.\n"
		"A forced eject also wins when the host has locked the medium or hangs in the\n"
		"middle of a transfer.\n"
		".SH OPTIONS\n", date, VMEDIA_VERSION);
	for (size_t i = 0; i < CONFIG_NOPTS; i++) {
		const struct config_opt *o = &_opts[i];
		void *slot = (char *)&d + o->offset;

		fputs(".TP\n.B \\-\\-", out);
		_roff(out, o->name);
		if (o->arg) {
			fputs(" \\fI", out);
			_roff(out, o->arg);
			fputs("\\fR", out);
		}
		fputc('\n', out);
		_roff(out, o->help);
		if ((o->type == CONFIG_T_STR || o->type == CONFIG_T_LIST) && **(char **)slot) {
			fputs(" (default: ", out);
			_roff(out, *(char **)slot);
			fputc(')', out);
		} else if (o->type == CONFIG_T_INT || o->type == CONFIG_T_SIZE) {
			fprintf(out, " (default: %lld)", (long long)*(int64_t *)slot);
		}
		fputs(".\n", out);
	}
	fputs(".TP\n.B \\-\\-config \\fIFILE\\fR\n"
	      "Read settings from a JSON object whose keys are the option names above\n"
	      "(\\(dqlisten\\(dq, \\(dqmax\\-image\\-size\\(dq, ...); the command line overrides it.\n"
	      ".TP\n.BR \\-h \", \" \\-\\-help\nPrint the options and exit.\n"
	      ".TP\n.B \\-\\-version\nPrint the version and exit.\n"
	      ".SH SIGNALS\nSIGTERM and SIGINT stop vmediad: uploads in flight are removed,\n"
	      "downloads keep what they have and resume at the next start, and the gadget\n"
	      "stays bound with its media. SIGHUP is ignored.\n"
	      ".SH FILES\n.TP\n.I /etc/vmedia/vmediad.json\nThe configuration the systemd unit"
	      " starts vmediad with.\n"
	      ".TP\n.I /etc/vmedia/credentials\nUsers and tokens (salted hashes), mode 0600;"
	      " see \\-\\-add\\-user.\n"
	      ".TP\n.I /var/lib/vmedia/images\nThe images.\n"
	      ".SH SEE ALSO\n.BR systemd.service (5)\n", out);
	config_free(&d);
}

enum config_result config_parse_args(struct config *cfg, int argc, char **argv, FILE *out)
{
	struct err err;

	/* The file first, so that the command line overrides it. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 || strncmp(argv[i], "--config=", 9) == 0) {
			const char *path = argv[i][8] == '=' ? argv[i] + 9 : (i + 1 < argc ? argv[++i] : NULL);
			if (!path) {
				fprintf(stderr, "%s: --config needs a file name\n", argv[0]);
				return CONFIG_EXIT_ERROR;
			}
			if (config_load_file(cfg, path, &err) < 0) {
				fprintf(stderr, "%s: %s\n", argv[0], err.message);
				return CONFIG_EXIT_ERROR;
			}
		}
	}
	for (int i = 1; i < argc; i++) {
		char *arg = argv[i];
		char name[64];
		const char *value = NULL;

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			config_print_help(out, argv[0]);
			return CONFIG_EXIT_OK;
		}
		if (strcmp(arg, "--version") == 0) {
			fprintf(out, "vmediad %s\n", VMEDIA_VERSION);
			return CONFIG_EXIT_OK;
		}
		if (strncmp(arg, "--", 2) != 0) {
			fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", argv[0], arg);
			return CONFIG_EXIT_ERROR;
		}
		snprintf(name, sizeof(name), "%s", arg + 2);
		char *eq = strchr(name, '=');
		if (eq) {
			*eq = '\0';
			value = strchr(arg, '=') + 1;
		}
		if (strcmp(name, "config") == 0) {
			if (!value)
				i++;
			continue;
		}
		const struct config_opt *o = _find(name);
		if (!o) {
			fprintf(stderr, "%s: unknown option '--%s' (see --help)\n", argv[0], name);
			return CONFIG_EXIT_ERROR;
		}
		if (o->type != CONFIG_T_BOOL && !value) {
			if (i + 1 >= argc) {
				fprintf(stderr, "%s: --%s needs a value\n", argv[0], name);
				return CONFIG_EXIT_ERROR;
			}
			value = argv[++i];
		}
		if (o->type == CONFIG_T_BOOL && value) {
			fprintf(stderr, "%s: --%s takes no value\n", argv[0], name);
			return CONFIG_EXIT_ERROR;
		}
		if (_apply(cfg, o, value, NULL, &err) < 0) {
			fprintf(stderr, "%s: %s\n", argv[0], err.message);
			return CONFIG_EXIT_ERROR;
		}
	}
	if (config_validate(cfg, &err) < 0) {
		fprintf(stderr, "%s: %s\n", argv[0], err.message);
		return CONFIG_EXIT_ERROR;
	}
	return CONFIG_RUN;
}

int config_validate(const struct config *cfg, struct err *err)
{
	if (log_parse_level(cfg->log_level) < 0)
		return err_set(err, ERR_INVALID, "bad_config",
			       "--log-level must be error, warn, info or debug");
	if (strcmp(cfg->backend, "sim") != 0 && strcmp(cfg->backend, "configfs") != 0)
		return err_set(err, ERR_INVALID, "bad_config",
			       "--backend must be sim or configfs, not '%s'", cfg->backend);
	if (strcmp(cfg->sim_kernel, "patched") != 0 && strcmp(cfg->sim_kernel, "stock") != 0 &&
	    strcmp(cfg->sim_kernel, "old") != 0)
		return err_set(err, ERR_INVALID, "bad_config",
			       "--sim-kernel must be patched, stock or old");
	if (cfg->stream_block & (cfg->stream_block - 1))
		return err_set(err, ERR_INVALID, "bad_config",
			       "--stream-block must be a power of two (4K, 8K, ... 16M)");
	return 0;
}
