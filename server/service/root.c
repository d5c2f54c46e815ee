/* service/root: vmediad started as root gives root up before it opens
 * anything for clients (core/privs.c does the work), keeping only the
 * capabilities the LUN backend and the listen ports need. */
#include "service.h"

#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/config.h"
#include "../core/log.h"
#include "../core/privs.h"

#define SERVICE_MOD "SERVICE"

/* Root is given up before storage, the gadget or the socket is opened:
 * then vmediad has one thread, and every thread it makes later inherits
 * the reduced capabilities (they are per thread; setuid is not). What is
 * kept is what the systemd unit grants: CAP_DAC_OVERRIDE for configfs
 * attributes (root's), CAP_KILL for the SIGUSR1 fallback, which signals a
 * kernel thread; with the sim backend nothing. */
int service_drop_root(const struct config *cfg, struct err *err)
{
	bool configfs = strcmp(cfg->backend, "configfs") == 0;
	const char *colon = strrchr(cfg->listen, ':');
	int port = colon ? atoi(colon + 1) : 0;
	const char *mcolon = strrchr(cfg->metrics_listen, ':');
	int mport = mcolon ? atoi(mcolon + 1) : 0;
	int caps[4];
	size_t n = 0;

	if (cfg->user[0]) {
		if (configfs) {
			caps[n++] = CAP_DAC_OVERRIDE;
			caps[n++] = CAP_KILL;
			/* nbd-client needs it to connect a streamed image's
			 * /dev/nbdN; --no-stream does without. */
			if (!cfg->no_stream)
				caps[n++] = CAP_SYS_ADMIN;
		}
		if ((port > 0 && port < 1024) || (mport > 0 && mport < 1024))
			caps[n++] = CAP_NET_BIND_SERVICE;
		bool was_root = geteuid() == 0;
		if (privs_drop(cfg->user, caps, n, err) < 0)
			return -1;
		if (!was_root) {
			log_info(SERVICE_MOD, "--user %s: already running as that user", cfg->user);
			return 0;
		}
		log_info(SERVICE_MOD, "running as user %s (uid %u, gid %u) with %s", cfg->user,
			 (unsigned)getuid(), (unsigned)getgid(),
			 n == 0 ? "no capabilities" : !configfs ? "only CAP_NET_BIND_SERVICE" :
			 cfg->no_stream ? "only CAP_DAC_OVERRIDE and CAP_KILL (configfs)" :
			 "only CAP_DAC_OVERRIDE and CAP_KILL (configfs) and CAP_SYS_ADMIN (NBD "
			 "devices of streamed images; --no-stream drops it)");
		return 0;
	}
	if (geteuid() != 0)
		return 0;
	if (cfg->allow_root) {
		log_warn(SERVICE_MOD, "--allow-root: running as root with every capability");
		return 0;
	}
	/* --remove-gadget serves nothing: it does its one write and exits. */
	if (configfs && !cfg->remove_gadget)
		return err_set(err, ERR_INVALID, "bad_config",
			       "refusing to run as root with every capability: give --user NAME "
			       "(vmediad keeps only CAP_DAC_OVERRIDE and CAP_KILL), start it from "
			       "the systemd unit, or say --allow-root");
	log_warn(SERVICE_MOD, "running as ROOT with every capability; give --user NAME to drop them "
		 "(with --backend configfs vmediad refuses root without --user or --allow-root)");
	return 0;
}
