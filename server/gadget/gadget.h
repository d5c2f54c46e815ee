/* gadget: the LUNs of the USB mass-storage gadget, and the only code that
 * makes kernel calls for them.
 *
 * Each LUN has a worker thread that owns every call into the backend:
 * writes to configfs can sleep uninterruptibly behind a stalled host (the
 * HTTP thread that asked must not), and one worker per LUN serialises the
 * operations on that LUN. A caller queues an operation and waits at most a
 * bound; if the kernel has not returned by then, the caller is told the
 * operation is still running, and the worker finishes it later and
 * announces the new state through the listener.
 *
 * Backends: "sim" models the kernel in-process (embedded default, tests);
 * "configfs" drives a real gadget through libusbgx. */
#ifndef VMEDIA_GADGET_H
#define VMEDIA_GADGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../core/err.h"
#include "../core/names.h"

#define GADGET_MAX_LUNS 8

enum gadget_lun_state { GADGET_LUN_EMPTY = 0, GADGET_LUN_INSERTED, GADGET_LUN_EJECTING, GADGET_LUN_INSERTING };

/* How the last eject went. */
struct gadget_eject {
	bool valid;
	char method[40];
	bool forced;
	bool ok;
	double elapsed_ms;
	bool other_luns_affected;
	char error[384];
	int64_t at;		/* epoch ms */
};

/* A snapshot of one LUN, copied out under the gadget's lock. */
struct gadget_lun {
	unsigned id;
	char image[NAMES_MAX + 1];	/* "" when empty */
	bool cdrom, ro, removable;
	enum gadget_lun_state state;
	int locked;			/* 1, 0, or -1 when the backend cannot tell */
	struct gadget_eject last_eject;
	char warning[384];		/* "" when none; for a person */
	char warning_code[32];		/* for a program: "type_change_pending" */
	bool streamed;			/* a medium of its own, not a stored image */
	struct err insert_error;	/* why the last insert failed (kind
					 * ERR_NONE: it did not), for a client that
					 * was told 202 */
};

/* What the running kernel offers, detected at start-up and after a rebind. */
struct gadget_features {
	bool break_io;
	bool forced_eject;
	/* A cdrom LUN serves an image past the CD limit whole (as a DVD-ROM);
	 * without it the kernel truncates it to GADGET_CD_MAX_BYTES. */
	bool large_cdrom;
	/* The largest image a cdrom LUN serves whole (0 when not detected:
	 * GADGET_CD_MAX_BYTES applies). */
	long long cdrom_max_bytes;
};

/* The most a stock f_mass_storage serves of a cdrom LUN's image: READ TOC
 * describes at most 1,151,999 blocks of 2048 bytes (the MSF minutes byte),
 * and fsg_lun_open() cuts a larger image to that. */
#define GADGET_CD_MAX_BLOCKS 1151999LL
#define GADGET_CD_MAX_BYTES (GADGET_CD_MAX_BLOCKS * 2048)

/* The operations a backend provides. Every call may block (they are kernel
 * calls) and runs only on a LUN worker, or on the caller of
 * gadget_reconnect. Errors: ERR_CONFLICT with code "medium_locked" for
 * EBUSY from `file`; ERR_TIMEOUT for ETIMEDOUT. */
struct gadget_backend {
	const char *name;
	bool simulated;
	void (*features)(void *be, struct gadget_features *out);
	int (*set_flags)(void *be, unsigned lun, bool cdrom, bool ro, struct err *err);
	int (*set_file)(void *be, unsigned lun, const char *path, struct err *err);
	int (*forced_eject)(void *be, unsigned lun, struct err *err);
	/* ERR_NOT_FOUND "nothing_to_break" when the LUN had no command in
	 * progress (idle, or the command is another LUN's). */
	int (*break_io)(void *be, unsigned lun, struct err *err);
	/* SIGUSR1 to every file-storage kernel thread; *count says how many. */
	int (*signal_io)(void *be, int *count, struct err *err);
	/* 1 locked, 0 not, -1 unknown. May be NULL. */
	int (*locked)(void *be, unsigned lun);
	int (*reconnect)(void *be, struct err *err);
	const char *(*gadget_name)(void *be);
	const char *(*udc_name)(void *be);
	/* Waits up to timeout_ms for the UDC to announce a USB device state
	 * change, then gives the state ("configured", "not attached",
	 * "default", "suspended" ...) in buf and whether anything was
	 * announced. 0, or -1 if unknown (it has then not waited). May be
	 * NULL. Only the gadget's watcher thread calls it. */
	int (*usb_state)(void *be, unsigned timeout_ms, char *buf, size_t size, bool *changed);
	/* Ends a usb_state wait now, and every later one (shutdown). */
	void (*usb_state_wake)(void *be);
	void (*destroy)(void *be);
};

struct gadget;
struct gadget_medium_ops;

/* Called after a LUN changed, on the worker's thread, outside the lock.
 * released is the image the LUN let go of (ejected, or an insert that
 * failed), or NULL. */
typedef void (*gadget_listener_fn)(void *ctx, const struct gadget_lun *lun, const char *released);

struct gadget_options {
	unsigned luns;
	unsigned api_wait_ms;		/* how long a caller waits for the worker */
	unsigned eject_wait_ms;		/* forced_eject bound before SIGUSR1 */
	bool hide_break_io;		/* --no-break-io */
};

int gadget_create(const struct gadget_options *opts, const struct gadget_backend *ops, void *be,
		  struct gadget **out, struct err *err);
void gadget_destroy(struct gadget *g);
/* At start-up, before any operation: records what the kernel already holds
 * in a LUN (a medium inserted before vmediad restarted). image "" = empty. */
void gadget_restore(struct gadget *g, unsigned lun, const char *image, bool cdrom, bool ro);
/* The same for a medium of its own that survived the restart (a stream). */
void gadget_restore_medium(struct gadget *g, unsigned lun, const char *image, bool cdrom, bool ro,
			   const struct gadget_medium_ops *ops, void *medium);
void gadget_set_listener(struct gadget *g, gadget_listener_fn fn, void *ctx);

unsigned gadget_lun_count(const struct gadget *g);
int gadget_get(struct gadget *g, unsigned lun, struct gadget_lun *out, struct err *err);

/* Pins an image for a LUN (so it cannot be deleted) and gives its path. */
typedef int (*gadget_pin_fn)(void *ctx, const char *image, unsigned lun, char *path,
			     size_t path_size, struct err *err);

/* A medium that is not a stored image (a streamed one): the gadget opens
 * it on the LUN's worker, asks it to end its stalled reads when a forced
 * eject waits for them (from the breaker: it must not block), and closes
 * it on the worker once the LUN has let go of it, or the insert failed. */
struct gadget_medium_ops {
	int (*open)(void *medium, char *path, size_t path_size, struct err *err);
	void (*interrupt)(void *medium);
	void (*close)(void *medium);
	/* What GET /luns/{id} shows of it; called with the gadget's lock
	 * held, so it must be quick and must not call the gadget. */
	json_t *(*json)(void *medium);
};

struct gadget_insert_req {
	const char *image;	/* the name shown for the LUN's medium */
	bool cdrom, ro;
	bool reconnect;		/* unbind and rebind after, so the host sees a new type */
	gadget_pin_fn pin;	/* a stored image: pinned, and released by name */
	void *pin_ctx;
	const struct gadget_medium_ops *medium_ops;	/* or else this medium */
	void *medium;
};

/* The results of the operations below: 0 done, -1 failed (err), or 1 when
 * the bound passed and the worker goes on (out has the current state). */
int gadget_insert(struct gadget *g, unsigned lun, const struct gadget_insert_req *req,
		  struct gadget_lun *out, struct err *err);
int gadget_eject(struct gadget *g, unsigned lun, bool force, struct gadget_lun *out,
		 struct err *err);
int gadget_reconnect(struct gadget *g, double *elapsed_ms, struct err *err);

/* streamed.c: a remote image read where it lies (stream/) as a LUN's
 * medium. The image is shown as name (NULL: the URL's file name); an ISO
 * is a CD-ROM unless cdrom says (0, 1; -1: by the name). Always read-only.
 * Credentials in the URL reach the server, never a reply or the log. */
struct streams;
struct stream;
struct gadget_stream_req {
	const char *url;
	const char *name;
	int cdrom;
	bool reconnect;
};
int gadget_insert_stream(struct gadget *g, struct streams *ss, unsigned lun,
			 const struct gadget_stream_req *sr, struct gadget_lun *out,
			 struct err *err);
/* A stream already open (adopted after a restart) as a medium, for
 * gadget_restore_medium; NULL when out of memory. */
void *gadget_streamed_medium(struct gadget *g, struct stream *st, bool cdrom,
			     const struct gadget_medium_ops **ops);

/* One LUN worker as the watchdog and /status see it. A worker inside one
 * kernel call for GADGET_STUCK_MS or more is reported as stuck. */
#define GADGET_STUCK_MS 5000
struct gadget_worker {
	unsigned lun;
	double busy_ms;		/* inside its current kernel call this long; 0 idle */
	char what[16];		/* "insert", "eject", "forced eject"; "" when idle */
};

/* Fills out[] for up to n LUNs and returns how many; -1 if the gadget's
 * lock could not be taken within lock_timeout_ms (a deadlock in vmediad,
 * which a restart would cure; a call stuck in the kernel is not one). */
int gadget_health(struct gadget *g, unsigned lock_timeout_ms, struct gadget_worker *out,
		  unsigned n);

/* One line for a person (systemd's STATUS=, /status): "LUN 0: debian.iso
 * (cdrom, ro); LUN 1: empty", naming each worker stuck in the kernel. */
void gadget_summary(struct gadget *g, char *buf, size_t size);
/* {"summary": ..., "workers": [{"lun", "state", "operation", "in_kernel_ms"}]} */
json_t *gadget_health_json(struct gadget *g);

json_t *gadget_lun_json(const struct gadget_lun *lun);
/* What the LUN's medium of its own says of itself (gadget_medium_ops.json),
 * or NULL for a stored image or none. */
json_t *gadget_medium_json(struct gadget *g, unsigned lun);
json_t *gadget_backend_json(struct gadget *g);
/* Which eject strategy a forced eject uses with the features detected. */
const char *gadget_strategy(struct gadget *g);
/* What the running kernel offers, as last detected. */
struct gadget_features gadget_features(struct gadget *g);
/* The largest image a cdrom LUN serves whole with these features. */
long long gadget_cd_max_bytes(const struct gadget_features *f);
/* 0 if an image of size bytes (what: its name, for the message) fits a
 * cdrom LUN of the running kernel; else ERR_UNPROCESSABLE, code
 * "too_large_for_cd": never a silent truncation, where the host would see
 * only the first 2.36 GB of a larger image. */
int gadget_cd_fits(struct gadget *g, const char *what, long long size, struct err *err);

/* The configfs backend (libusbgx): creates the gadget, or adopts one made
 * by another tool. configfs_root is normally /sys/kernel/config. */
struct gadget_configfs_options {
	const char *configfs_root;
	const char *gadget;	/* gadget directory name, e.g. "vmedia" */
	const char *function;	/* with adopt: e.g. "mass_storage.usb0" */
	const char *udc;	/* "" or NULL: the first UDC */
	unsigned luns;
	bool adopt;
};

void *gadget_configfs_new(const struct gadget_configfs_options *opts, struct err *err);
extern const struct gadget_backend gadget_configfs_ops;
/* What the kernel has in a LUN now (file path, "" when empty). Reading
 * `file` can block behind a stalled host: only at start-up or on a worker. */
int gadget_configfs_current(void *be, unsigned lun, char *file, size_t n, bool *cdrom, bool *ro);
/* Unbinds and removes the gadget (--remove-gadget). */
int gadget_configfs_remove(const struct gadget_configfs_options *opts, struct err *err);

/* The sim backend; the controls exist only there. */
void *gadget_sim_new(unsigned luns, const char *kernel /* patched|stock|old */);
extern const struct gadget_backend gadget_sim_ops;
int gadget_sim_host(void *be, unsigned lun, int lock, int hang, bool *locked, bool *hung,
		    struct err *err);
/* The simulated host goes away for ms (its USB state "not attached"), as a
 * target that powers off and on, then enumerates the device again. */
void gadget_sim_replug(void *be, unsigned ms);

#endif
