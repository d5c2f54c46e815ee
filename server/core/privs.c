/* privs: dropping root (see privs.h). capset(2) and prctl(2) are called
 * directly: no library is needed for two capabilities. */
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int privs_threads(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	int n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

static int _last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = CAP_LAST_CAP;

	if (f) {
		if (fscanf(f, "%d", &last) != 1)
			last = CAP_LAST_CAP;
		fclose(f);
	}
	return last;
}

static int _capset(const int *caps, size_t ncaps)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	for (size_t i = 0; i < ncaps; i++) {
		data[CAP_TO_INDEX(caps[i])].permitted |= CAP_TO_MASK(caps[i]);
		data[CAP_TO_INDEX(caps[i])].effective |= CAP_TO_MASK(caps[i]);
		/* Inheritable too, so that privs_ambient can hand one to a
		 * program it runs; nothing is inherited without that. */
		data[CAP_TO_INDEX(caps[i])].inheritable |= CAP_TO_MASK(caps[i]);
	}
	return (int)syscall(SYS_capset, &hdr, data);
}

int privs_ambient(int cap, bool on)
{
	if (!on)
		return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, cap, 0, 0);
	/* As root with every capability, children are root anyway. */
	if (geteuid() == 0)
		return 0;
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
}

static int _fail(struct err *err, const char *user, const char *what)
{
	return err_set(err, ERR_UNAVAILABLE, "bad_config", "--user %s: %s failed: %s", user, what,
		       strerror(errno));
}

int privs_drop(const char *user, const int *caps, size_t ncaps, struct err *err)
{
	struct passwd *pw = getpwnam(user);

	if (!pw)
		return err_set(err, ERR_INVALID, "bad_config",
			       "--user %s: no such user (create one, e.g. useradd --system %s)",
			       user, user);
	/* Already that user (the unit's User=, with the same configuration
	 * file): nothing to give up here. */
	if (geteuid() == pw->pw_uid && getuid() == pw->pw_uid && pw->pw_uid != 0)
		return 0;
	if (geteuid() != 0)
		return err_set(err, ERR_INVALID, "bad_config",
			       "--user %s: only root can change to another user (this is uid %u)",
			       user, (unsigned)geteuid());
	if (pw->pw_uid == 0)
		return err_set(err, ERR_INVALID, "bad_config",
			       "--user %s: that is root; give an unprivileged user", user);
	int threads = privs_threads();
	if (threads != 1)
		return err_set(err, ERR_UNAVAILABLE, "bad_config",
			       "--user %s: %d threads already run; the drop must come first", user,
			       threads);
	/* While still root (CAP_SETPCAP): nothing else can come back, even
	 * through a file with capabilities. */
	for (int c = 0; c <= _last_cap(); c++) {
		bool keep = false;
		for (size_t i = 0; i < ncaps; i++)
			keep = keep || caps[i] == c;
		if (!keep && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return _fail(err, user, "dropping a capability from the bounding set");
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return _fail(err, user, "PR_SET_KEEPCAPS");
	if (initgroups(user, pw->pw_gid) < 0)
		return _fail(err, user, "setting its groups");
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0)
		return _fail(err, user, "setresgid");
	if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
		return _fail(err, user, "setresuid");
	/* The uid change emptied the effective set; permitted kept (KEEPCAPS)
	 * everything not dropped above. Keep exactly caps. */
	if (_capset(caps, ncaps) < 0)
		return _fail(err, user, "capset");
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return _fail(err, user, "prctl");
	if (setuid(0) == 0 || seteuid(0) == 0)
		return err_set(err, ERR_UNAVAILABLE, "bad_config",
			       "--user %s: root could be regained; refusing to run", user);
	return 0;
}
