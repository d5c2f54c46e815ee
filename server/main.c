/* vmediad: virtual media for KVM-over-IP.
 *
 * main wires the layers together in a visible order (config, log, storage,
 * gadget, events, http) and tears them down in reverse. Signals are
 * blocked in every thread and taken synchronously here with sigwait, so no
 * handler ever runs in the middle of a library call. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/config.h"
#include "core/log.h"
#include "core/version.h"
#include "auth/auth.h"
#include "download/download.h"
#include "gadget/gadget.h"
#include "redfish/redfish.h"
#include "service/service.h"
#include "storage/storage.h"
#include "stream/stream.h"

#define MAIN_MOD "MAIN"

/* The LUN backend --backend names: 0 with ops and be set; 1 when
 * --remove-gadget has done its work (nothing more to run); -1 on error. */
static int _open_backend(const struct config *cfg, struct app *app,
			 const struct gadget_backend **ops, void **be, struct err *err)
{
	if (strcmp(cfg->backend, "sim") == 0) {
		*ops = &gadget_sim_ops;
		*be = app->sim = gadget_sim_new((unsigned)cfg->luns, cfg->sim_kernel);
		log_warn(MAIN_MOD, "the LUN backend is SIMULATED (%s kernel): no USB device is "
			 "offered to any host", cfg->sim_kernel);
		return 0;
	}
	/* "configfs": config_validate() allows no other */
	struct gadget_configfs_options co = {
		.gadget = cfg->gadget, .function = cfg->function, .udc = cfg->udc,
		.luns = (unsigned)cfg->luns, .adopt = cfg->adopt,
	};
	if (cfg->remove_gadget) {
		if (gadget_configfs_remove(&co, err) < 0)
			return -1;
		log_info(MAIN_MOD, "gadget %s removed", cfg->gadget);
		return 1;
	}
	*ops = &gadget_configfs_ops;
	*be = gadget_configfs_new(&co, err);
	return *be ? 0 : -1;
}

/* The streamed media (nbdkit, and the kernel's NBD with a real gadget), or
 * NULL with --no-stream or when they cannot run here (said in the log). */
static struct streams *_open_streams(const struct config *cfg, bool kernel)
{
	char sdir[4200];
	struct streams *st = NULL;
	struct err err = { 0 };

	if (cfg->no_stream)
		return NULL;
	snprintf(sdir, sizeof(sdir), "%s/.streams", cfg->storage);
	struct stream_options sto = {
		.dir = sdir, .kernel = kernel,
		.allow_local = cfg->allow_local_downloads, .open_timeout_s = 30,
		.retries = (unsigned)cfg->stream_retry_window, .cache_max = cfg->stream_cache,
		.block = (unsigned)cfg->stream_block, .delay_ms = (unsigned)cfg->stream_delay_ms,
		.known_hosts = cfg->ssh_known_hosts, .identity = cfg->ssh_identity,
	};
	if (streams_create(&sto, &st, &err) < 0) {
		log_warn(MAIN_MOD, "streaming is unavailable: %s", err.message);
		return NULL;
	}
	return st;
}

/* The API's listener, and --metrics-listen's if given: Prometheus scrapes
 * without credentials, GET /metrics alone, no web UI, on an address of its
 * own (loopback or a management network). */
static int _start_http(const struct config *cfg, struct app *app, struct http_server **http,
		       struct http_server **metrics_http, struct err *err)
{
	struct http_options ho = {
		.authorize = api_authorize, .authorize_ctx = app,
		.loopback_only = !app->auth && !cfg->insecure_no_auth,
		.tls_cert = cfg->tls_cert[0] ? cfg->tls_cert : NULL,
		.tls_key = cfg->tls_key[0] ? cfg->tls_key : NULL,
		.listen = cfg->listen, .web_dir = cfg->web[0] ? cfg->web : NULL,
		.max_connections = (unsigned)cfg->max_connections,
		.max_per_ip = (unsigned)cfg->max_per_ip,
		.timeout_s = (unsigned)cfg->timeout,
		.header_timeout_s = (unsigned)cfg->header_timeout,
		.max_pending_per_ip = (unsigned)cfg->max_pending_per_ip,
		.max_json_body = (size_t)cfg->max_json_body,
		.server_names = cfg->server_names,
		.trusted_proxy = cfg->trusted_proxy[0] ? cfg->trusted_proxy : NULL,
	};
	if (http_start(&ho, api_routes, api_nroutes, app, http, err) < 0)
		return -1;
	if (!cfg->metrics_listen[0])
		return 0;
	struct http_options mo = {
		.listen = cfg->metrics_listen, .no_web = true,
		.what = "GET /metrics without authentication",
		.max_connections = 8, .max_per_ip = 4,
		.timeout_s = (unsigned)cfg->timeout,
		.header_timeout_s = (unsigned)cfg->header_timeout,
		.max_pending_per_ip = (unsigned)cfg->max_pending_per_ip,
		.max_json_body = 64, .server_names = cfg->server_names,
	};
	if (http_start(&mo, api_metrics_routes, api_metrics_nroutes, app, metrics_http, err) < 0) {
		http_stop(*http);
		*http = NULL;
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct app app = { 0 };
	struct http_server *http = NULL, *metrics_http = NULL;
	struct err err = { 0 };
	sigset_t sigs;
	int sig, rc = EXIT_FAILURE;

	config_defaults(&cfg);
	switch (config_parse_args(&cfg, argc, argv, stdout)) {
	case CONFIG_EXIT_OK:
		config_free(&cfg);
		return EXIT_SUCCESS;
	case CONFIG_EXIT_ERROR:
		config_free(&cfg);
		return 2;
	case CONFIG_RUN:
		break;
	}
	log_current_level = (enum log_level)log_parse_level(cfg.log_level);
	if (cfg.add_user[0] || cfg.add_token[0]) {
		rc = auth_edit(cfg.auth_file, cfg.add_user, cfg.add_token);
		config_free(&cfg);
		return rc;
	}

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	log_info(MAIN_MOD, "vmediad %s starting", VMEDIA_VERSION);
	if (cfg.auth_file[0]) {
		struct auth_options ao = { .max_failures = (unsigned)cfg.auth_max_failures,
					   .window_s = (unsigned)cfg.auth_window };
		if (auth_load(cfg.auth_file, &ao, &app.auth, &err) < 0)
			goto out_fail;
		log_info(MAIN_MOD, "authentication on: %u credential(s) from %s", auth_count(app.auth),
			 cfg.auth_file);
	} else if (cfg.insecure_no_auth) {
		log_warn(MAIN_MOD, "--insecure-no-auth: NO AUTHENTICATION. Anyone who reaches this port "
			 "can boot the attached computer from any image.");
	}
	if (service_drop_root(&cfg, &err) < 0)
		goto out_fail;
	clock_gettime(CLOCK_MONOTONIC, &app.started);
	app.cfg = &cfg;

	struct storage_options so = {
		.dir = cfg.storage, .reserve = cfg.reserve,
		.max_image_size = cfg.max_image_size, .max_uploads = (int)cfg.max_uploads,
		.buffered_io = cfg.buffered_io,
	};
	if (storage_open(&so, &app.storage, &err) < 0)
		goto out_fail;

	const struct gadget_backend *ops;
	void *be;
	int b = _open_backend(&cfg, &app, &ops, &be, &err);
	if (b != 0) {
		rc = b > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
		goto out_storage;
	}
	struct gadget_options go = {
		.luns = (unsigned)cfg.luns, .api_wait_ms = (unsigned)cfg.api_wait_ms,
		.eject_wait_ms = (unsigned)cfg.eject_wait_ms, .hide_break_io = cfg.no_break_io,
	};
	if (gadget_create(&go, ops, be, &app.gadget, &err) < 0) {
		ops->destroy(be);
		goto out_storage;
	}
	app.streams = _open_streams(&cfg, ops == &gadget_configfs_ops);
	if (ops == &gadget_configfs_ops)
		api_restore_luns(&app, be);
	if (app.streams)
		streams_clean(app.streams);
	api_events_create(&app);
	struct redfish_options ro = {
		.gadget = app.gadget, .storage = app.storage, .streams = app.streams,
		.api_wait_ms = (unsigned)cfg.api_wait_ms,
		.transfer_default = cfg.redfish_transfer_default,
	};
	if (redfish_create(&ro, &app.redfish, &err) < 0)
		goto out_gadget;

	struct download_options dopts = {
		.workers = (unsigned)cfg.max_downloads, .max_size = cfg.max_image_size,
		.connect_timeout_s = 30, .low_speed_time_s = (unsigned)cfg.download_timeout,
		.max_redirects = 10, .retries = (unsigned)cfg.download_retries,
		.retry_delay_ms = 1000,
		.allow_local = cfg.allow_local_downloads,
	};
	if (downloads_create(&dopts, app.storage, api_downloads_listener, &app, &app.downloads,
			     &err) < 0)
		goto out_gadget;
	redfish_use_downloads(app.redfish, app.downloads);

	if (_start_http(&cfg, &app, &http, &metrics_http, &err) < 0)
		goto out_gadget;
	struct service_watch *watch = service_ready(app.gadget);	/* the socket listens */

	do {
		if (sigwait(&sigs, &sig) != 0)
			break;
		if (sig == SIGHUP)
			log_info(MAIN_MOD, "SIGHUP ignored (restart vmediad to reload the configuration)");
	} while (sig == SIGHUP);
	log_info(MAIN_MOD, "signal %d (%s): stopping", sig, strsignal(sig));
	service_stopping(watch);
	events_shutdown(app.events);	/* ends the SSE streams, so http_stop can join */
	http_stop(metrics_http);
	http_stop(http);
	rc = EXIT_SUCCESS;

out_gadget:
	/* Downloads keep their partial data and resume at the next start. */
	downloads_destroy(app.downloads);
	/* Its worker may still be inserting into a LUN. */
	redfish_destroy(app.redfish);
	/* LUNs stay as they are: a restart must not eject a booting host. */
	gadget_destroy(app.gadget);
	/* After the gadget: its LUNs' streams go on serving (see stream.h). */
	streams_destroy(app.streams);
	/* The storage's verifier may still publish: not into freed events. */
	storage_set_listener(app.storage, NULL, NULL);
	events_destroy(app.events);
out_storage:
	storage_close(app.storage);
out_fail:
	auth_free(app.auth);
	if (rc != EXIT_SUCCESS)
		log_error(MAIN_MOD, "%s", err.message);
	else
		log_info(MAIN_MOD, "stopped");
	config_free(&cfg);
	return rc;
}
