/* configfs backend, private: the state both halves share (configfs.c, the
 * run-time operations on the LUN workers; configfs_setup.c, finding or
 * making the gadget at start-up and removing it). */
#ifndef VMEDIA_GADGET_CONFIGFS_H
#define VMEDIA_GADGET_CONFIGFS_H

#include <limits.h>
#include <pthread.h>

#include <usbg/usbg.h>
#include <usbg/function/ms.h>

#include "gadget.h"

#define CONFIGFS_MOD "CONFIGFS"
/* Directory names of the kernel's gadget configfs ABI; libusbgx keeps its
 * own copies private, so the function directory is rebuilt from these and
 * libusbgx's getters. */
#define CONFIGFS_GADGETS_DIR "usb_gadget"
#define CONFIGFS_FUNCTIONS_DIR "functions"
#define CONFIGFS_DEFAULT_ROOT "/sys/kernel/config"
#define CONFIGFS_DEFAULT_GADGET "vmedia"
#define CONFIGFS_INSTANCE "usb0"
#define CONFIGFS_PF_KTHREAD 0x00200000u	/* include/linux/sched.h */

struct configfs {
	usbg_state *state;
	usbg_gadget *gadget;
	usbg_function *func;
	pthread_mutex_t lock;		/* libusbgx calls after start-up */
	unsigned nluns;
	char name[USBG_MAX_NAME_LENGTH + 1];
	char udc[USBG_MAX_STR_LENGTH];	/* "" when unbound */
	int state_fd;			/* /sys/class/udc/UDC/state, watched */
	int wake_fd;			/* eventfd: ends the watcher's poll */
	char gadget_dir[PATH_MAX];
	char lun_dir[GADGET_MAX_LUNS][PATH_MAX];
};

/* Writes val to path with one write(2). Returns 0 or an errno value. */
int configfs_write_path(const char *path, const char *val);
/* Reads path into buf without the trailing newline. 0 or an errno value. */
int configfs_read_path(const char *path, char *buf, size_t n);
void configfs_lun_attr(struct configfs *s, unsigned lun, const char *attr, char *out, size_t n);
/* Writes a LUN attribute; on failure fills err as ERR_IO and returns the
 * errno value, so the caller can refine the kind for the errnos it knows. */
int configfs_lun_write(struct configfs *s, unsigned lun, const char *attr, const char *val,
		       struct err *err);
/* The backend's destroy: leaves the gadget as it is (bound, media in). */
void configfs_destroy(void *be);

#endif
