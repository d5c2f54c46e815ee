/*
 * hunghost: play a USB host that hangs in the middle of a mass-storage
 * command.
 *
 * Runs inside the test VM, on the host side of dummy_hcd.  Through usbfs it
 * takes the gadget's mass-storage interface away from usb-storage, speaks
 * Bulk-Only Transport itself, sends a CBW for a large READ(10) to one LUN and
 * then never reads the data, which leaves f_mass_storage's thread asleep in
 * the data stage holding filesem.  With -w it hangs in a WRITE(10) instead,
 * after sending part (or all) of its data.  After SIGUSR1 it "wakes up" and
 * finishes the command as a well-behaved host would: it sends the rest of a
 * WRITE's data, reads the bulk-IN pipe (clearing a halt on either pipe, as
 * usb-storage does) and reports the CSW and the sense data, to show whether
 * the broken command was ended properly.  SIGTERM makes it exit without
 * reading.
 *
 * -b PATH writes "1\n" to PATH (break_io or forced_eject) itself, right after
 * the hang is set up, at real-time priority: on the VM's single CPU the
 * gadget's thread cannot run between the end of the host's data transfer
 * and the break.  -L COUNT loops: a command, a sleep of a few microseconds
 * (the only time the gadget's thread gets to run), the break, the end of the
 * command; the sleep grows with each round, so that the break falls at every
 * point of the command's early life.
 *
 * Output lines start with "hunghost:" and carry key=value pairs the scenario
 * scripts match on.  Exit status: 0 when every step it was asked for worked.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/usbdevice_fs.h>
#include <sys/ioctl.h>

#define HH_BLOCK	512
#define HH_CBW_LEN	31
#define HH_CSW_LEN	13
#define HH_IO_TIMEOUT	3000	/* ms, for every bulk transfer */
#define HH_CHUNK	16384	/* bytes per bulk transfer */

struct hh_dev {
	int		fd;
	unsigned int	intf;
	unsigned int	ep_in;
	unsigned int	ep_out;
	uint32_t	tag;
};

struct hh_csw {
	uint32_t	tag;
	uint32_t	residue;
	int		status;
};

static volatile sig_atomic_t _wake;
static volatile sig_atomic_t _quit;

static void _on_usr1(int sig)
{
	(void)sig;
	_wake = 1;
}

static void _on_term(int sig)
{
	(void)sig;
	_quit = 1;
}

static void _put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint32_t _get_le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static int _bulk(struct hh_dev *dev, unsigned int ep, void *buf, unsigned int len)
{
	struct usbdevfs_bulktransfer bt = {
		.ep = ep, .len = len, .timeout = HH_IO_TIMEOUT, .data = buf,
	};

	return ioctl(dev->fd, USBDEVFS_BULK, &bt);
}

/*
 * Find the interface of class 8 (mass storage) and its bulk endpoints in the
 * descriptors usbfs returns on read(): device descriptor, then the active
 * configuration.
 */
static int _parse_descriptors(struct hh_dev *dev)
{
	uint8_t buf[4096];
	ssize_t len = read(dev->fd, buf, sizeof(buf));
	int in_msc = 0;

	dev->ep_in = dev->ep_out = 0;
	for (ssize_t off = 0; off + 2 <= len && buf[off] >= 2; off += buf[off]) {
		const uint8_t *d = buf + off;

		if (d[1] == 4 && d[0] >= 9) {		/* interface */
			in_msc = (d[5] == 8 && d[7] == 0x50);
			if (in_msc)
				dev->intf = d[2];
		} else if (d[1] == 5 && d[0] >= 7 && in_msc && (d[3] & 3) == 2) {
			if (d[2] & 0x80)
				dev->ep_in = d[2];
			else
				dev->ep_out = d[2];
		}
	}
	return (dev->ep_in && dev->ep_out) ? 0 : -1;
}

/* Open the usbfs node of the device with this vendor:product ID. */
static int _open_device(struct hh_dev *dev, unsigned int vid, unsigned int pid)
{
	char path[600];
	DIR *bus_dir = opendir("/dev/bus/usb");
	struct dirent *bus;

	if (bus_dir == NULL)
		return -1;
	dev->fd = -1;
	while (dev->fd < 0 && (bus = readdir(bus_dir)) != NULL) {
		DIR *dev_dir;
		struct dirent *node;

		if (bus->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/dev/bus/usb/%s", bus->d_name);
		if ((dev_dir = opendir(path)) == NULL)
			continue;
		while (dev->fd < 0 && (node = readdir(dev_dir)) != NULL) {
			uint8_t desc[18];
			int fd;

			if (node->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/dev/bus/usb/%s/%s", bus->d_name, node->d_name);
			if ((fd = open(path, O_RDWR)) < 0)
				continue;
			if (read(fd, desc, sizeof(desc)) == sizeof(desc)
					&& (unsigned int)(desc[8] | desc[9] << 8) == vid
					&& (unsigned int)(desc[10] | desc[11] << 8) == pid) {
				lseek(fd, 0, SEEK_SET);
				dev->fd = fd;
			} else {
				close(fd);
			}
		}
		closedir(dev_dir);
	}
	closedir(bus_dir);
	return dev->fd < 0 ? -1 : 0;
}

/* Take the interface away from usb-storage so that we speak BOT ourselves. */
static int _claim(struct hh_dev *dev)
{
	struct usbdevfs_ioctl cmd = {
		.ifno = dev->intf, .ioctl_code = USBDEVFS_DISCONNECT, .data = NULL,
	};

	if (ioctl(dev->fd, USBDEVFS_IOCTL, &cmd) < 0 && errno != ENODATA) {
		fprintf(stderr, "hunghost: detach usb-storage: %s\n", strerror(errno));
		return -1;
	}
	if (ioctl(dev->fd, USBDEVFS_CLAIMINTERFACE, &dev->intf) < 0) {
		fprintf(stderr, "hunghost: claim interface %u: %s\n", dev->intf, strerror(errno));
		return -1;
	}
	return 0;
}

/* Give the interface back to usb-storage, as a host recovering would. */
static int _release(struct hh_dev *dev)
{
	struct usbdevfs_ioctl cmd = {
		.ifno = dev->intf, .ioctl_code = USBDEVFS_CONNECT, .data = NULL,
	};

	if (ioctl(dev->fd, USBDEVFS_RELEASEINTERFACE, &dev->intf) < 0
			|| ioctl(dev->fd, USBDEVFS_IOCTL, &cmd) < 0) {
		fprintf(stderr, "hunghost: give interface back: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int _send_cbw(struct hh_dev *dev, unsigned int lun, uint32_t data_len, int dir_in,
		const uint8_t *cdb, unsigned int cdb_len)
{
	uint8_t cbw[HH_CBW_LEN] = {'U', 'S', 'B', 'C'};

	_put_le32(cbw + 4, ++dev->tag);
	_put_le32(cbw + 8, data_len);
	cbw[12] = dir_in ? 0x80 : 0;
	cbw[13] = lun;
	cbw[14] = cdb_len;
	memcpy(cbw + 15, cdb, cdb_len);
	if (_bulk(dev, dev->ep_out, cbw, sizeof(cbw)) != sizeof(cbw)) {
		fprintf(stderr, "hunghost: send CBW to LUN %u: %s\n", lun, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Read the rest of a command's data stage into buf (up to max bytes; the
 * excess is discarded), then its CSW, as usb-storage does: at most expect
 * bytes of data, the host's transfer length, in transfers that a short
 * packet ends; a halted bulk-IN pipe ends the data stage too (BOT 6.7.2):
 * clear it and read the CSW.  A 13-byte "USBS" packet is taken for the CSW
 * wherever it comes.  Returns the number of data bytes, or -1 if no valid
 * CSW came.
 */
static long _finish_command(struct hh_dev *dev, uint8_t *buf, size_t max, size_t expect,
		struct hh_csw *csw, int *stalled)
{
	static uint8_t chunk[HH_CHUNK];
	long got = 0;
	int n;

	*stalled = 0;
	for (;;) {
		size_t left = (size_t)got < expect ? expect - got : 0;
		size_t want = left == 0 ? 512 : left < sizeof(chunk) ? left : sizeof(chunk);

		n = _bulk(dev, dev->ep_in, chunk, want);
		if (n < 0 && errno == EPIPE) {
			*stalled = 1;
			if (ioctl(dev->fd, USBDEVFS_CLEAR_HALT, &dev->ep_in) < 0) {
				fprintf(stderr, "hunghost: clear halt: %s\n", strerror(errno));
				return -1;
			}
			expect = got;		/* the data stage is over */
			continue;
		}
		if (n < 0) {
			printf("hunghost: no-csw errno=%s data=%ld\n", strerrorname_np(errno), got);
			return -1;
		}
		if (n == HH_CSW_LEN && memcmp(chunk, "USBS", 4) == 0)
			break;
		if (buf != NULL && (size_t)got < max)
			memcpy(buf + got, chunk, (size_t)n < max - got ? (size_t)n : max - got);
		got += n;
		if (left > 0 && (size_t)n < want)
			expect = got;		/* a short packet ended it */
	}
	csw->tag = _get_le32(chunk + 4);
	csw->residue = _get_le32(chunk + 8);
	csw->status = chunk[12];
	if (csw->tag != dev->tag) {
		printf("hunghost: csw-tag-mismatch got=%u want=%u\n", csw->tag, dev->tag);
		return -1;
	}
	return got;
}

static int _request_sense(struct hh_dev *dev, unsigned int lun)
{
	uint8_t cdb[6] = {0x03, 0, 0, 0, 18, 0};
	uint8_t sense[18] = {0};
	struct hh_csw csw;
	int stalled;

	if (_send_cbw(dev, lun, sizeof(sense), 1, cdb, sizeof(cdb)) < 0
			|| _finish_command(dev, sense, sizeof(sense), sizeof(sense), &csw, &stalled) < 0)
		return -1;
	printf("hunghost: sense lun=%u key=%02x asc=%02x ascq=%02x\n",
			lun, sense[2] & 0x0f, sense[12], sense[13]);
	return 0;
}

static int _simple_command(struct hh_dev *dev, unsigned int lun, const uint8_t *cdb,
		unsigned int cdb_len, const char *what)
{
	struct hh_csw csw;
	int stalled;

	if (_send_cbw(dev, lun, 0, 0, cdb, cdb_len) < 0
			|| _finish_command(dev, NULL, 0, 0, &csw, &stalled) < 0)
		return -1;
	printf("hunghost: %s lun=%u status=%d\n", what, lun, csw.status);
	return 0;
}

/* READ(10) blocks [0, count) of a LUN and write them to a file. */
static int _read_to_file(struct hh_dev *dev, unsigned int lun, unsigned int count,
		const char *path)
{
	uint8_t cdb[10] = {0x28, 0, 0, 0, 0, 0, 0, count >> 8, count & 0xff, 0};
	size_t len = (size_t)count * HH_BLOCK;
	uint8_t *buf = calloc(1, len);
	struct hh_csw csw;
	int stalled, rc = -1;
	long got;
	FILE *out;

	if (buf == NULL)
		return -1;
	if (_send_cbw(dev, lun, len, 1, cdb, sizeof(cdb)) < 0)
		goto out_free;
	if ((got = _finish_command(dev, buf, len, len, &csw, &stalled)) < 0)
		goto out_free;
	printf("hunghost: read lun=%u bytes=%ld status=%d\n", lun, got, csw.status);
	if ((out = fopen(path, "w")) == NULL)
		goto out_free;
	if (fwrite(buf, 1, got, out) == (size_t)got && csw.status == 0)
		rc = 0;
	fclose(out);
out_free:
	free(buf);
	return rc;
}

/*
 * Send len bytes of a WRITE's data.  A halted bulk-OUT pipe ends the data
 * stage (BOT 6.7.3): clear the halt and stop, as usb-storage does.  Returns
 * the number of bytes the device took, or -1 on any other error.
 */
static long _send_data(struct hh_dev *dev, size_t len, int *stalled_out)
{
	static uint8_t chunk[HH_CHUNK];
	long sent = 0;

	memset(chunk, 0xa5, sizeof(chunk));
	while ((size_t)sent < len) {
		size_t n = len - sent < sizeof(chunk) ? len - sent : sizeof(chunk);
		int rc = _bulk(dev, dev->ep_out, chunk, n);

		if (rc < 0 && errno == EPIPE) {
			*stalled_out = 1;
			if (ioctl(dev->fd, USBDEVFS_CLEAR_HALT, &dev->ep_out) < 0) {
				fprintf(stderr, "hunghost: clear halt: %s\n", strerror(errno));
				return -1;
			}
			break;
		}
		if (rc < 0) {
			printf("hunghost: send-data errno=%s sent=%ld\n", strerrorname_np(errno), sent);
			return -1;
		}
		sent += rc;
	}
	return sent;
}

/* Write "1\n" to a configfs file; returns 0 or the errno, and the time. */
static int _write_attr(const char *path, double *ms)
{
	struct timespec t0, t1;
	int fd, err = 0;

	if ((fd = open(path, O_WRONLY)) < 0)
		return errno;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (write(fd, "1\n", 2) < 0)
		err = errno;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	*ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	return err;
}

static int _realtime(void)
{
	struct sched_param sp = {.sched_priority = 50};

	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) {
		fprintf(stderr, "hunghost: SCHED_FIFO: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* A READ(10) past the end: the LUN keeps sense 05/21/00 until asked. */
static int _leave_sense(struct hh_dev *dev, unsigned int lun)
{
	const uint8_t cdb[10] = {0x28, 0, 0xff, 0xff, 0xff, 0x00, 0, 0, 1, 0};
	struct hh_csw csw;
	int stalled;

	if (_send_cbw(dev, lun, HH_BLOCK, 1, cdb, sizeof(cdb)) < 0
			|| _finish_command(dev, NULL, 0, HH_BLOCK, &csw, &stalled) < 0)
		return -1;
	printf("hunghost: error lun=%u status=%d\n", lun, csw.status);
	return csw.status == 1 ? 0 : -1;
}

/* The sense data of a LUN, without printing it. */
static int _get_sense(struct hh_dev *dev, unsigned int lun, unsigned int *sense)
{
	uint8_t cdb[6] = {0x03, 0, 0, 0, 18, 0};
	uint8_t data[18] = {0};
	struct hh_csw csw;
	int stalled;

	if (_send_cbw(dev, lun, sizeof(data), 1, cdb, sizeof(cdb)) < 0
			|| _finish_command(dev, data, sizeof(data), sizeof(data), &csw, &stalled) < 0)
		return -1;
	*sense = (data[2] & 0x0f) << 16 | data[12] << 8 | data[13];
	return csw.status == 0 ? 0 : -1;
}

/*
 * -L: COUNT rounds of command, sleep, break, end of the command.  The
 * commands cycle through READ(10) of 64 and 8 blocks, WRITE(10) of 64
 * blocks and TEST UNIT READY; the sleep is 0 to max_us microseconds, a
 * different one each round.  Every round must end with a valid CSW: status
 * 1 with sense 0b/00/06 when the break said it ended the command, status 0
 * and no residue when it said there was nothing to end, never a phase
 * error, and no pipe may be left halted.
 */
static int _loop(struct hh_dev *dev, unsigned int lun, unsigned int count, const char *path,
		unsigned int max_us)
{
	unsigned int broken = 0, nodata = 0, failed = 0, stalled_in = 0, stalled_out = 0;
	unsigned int round = 0, us_now = 0;
	double max_ms = 0;
	int err = 0;

	for (unsigned int i = 0; i < count; i++) {
		static const uint8_t tur[6] = {0};
		unsigned int kind = i % 4, blocks = kind == 1 ? 8 : 64, sense = 0;
		uint8_t rw[10] = {kind == 2 ? 0x2a : 0x28, 0, 0, 0, 0, i % 64, 0, 0, blocks, 0};
		unsigned int us = max_us ? (i * 37) % (max_us + 1) : 0;
		struct timespec delay = {.tv_sec = 0, .tv_nsec = us * 1000L};
		uint32_t len = kind == 3 ? 0 : blocks * HH_BLOCK;
		struct hh_csw csw;
		int stalled = 0, so = 0;
		double ms;

		round = i;
		us_now = us;

		err = 0;
		if (_send_cbw(dev, lun, len, kind != 2, kind == 3 ? tur : rw,
				kind == 3 ? sizeof(tur) : sizeof(rw)) < 0)
			goto fail;
		nanosleep(&delay, NULL);
		err = _write_attr(path, &ms);
		if (ms > max_ms)
			max_ms = ms;
		if (err != 0 && err != ENODATA) {
			printf("hunghost: loop-fail round=%u kind=%u us=%u why=break-%s\n",
					i, kind, us, strerrorname_np(err));
			return -1;
		}
		if (kind == 2 && _send_data(dev, len, &so) < 0)
			goto fail;
		if (_finish_command(dev, NULL, 0, kind == 2 ? 0 : len, &csw, &stalled) < 0)
			goto fail;
		stalled_in += stalled;
		stalled_out += so;
		if (csw.status == 2 || csw.residue > len
				|| (err == 0 && csw.status != 1)
				|| (err == ENODATA && (csw.status != 0 || csw.residue != 0))) {
			printf("hunghost: loop-fail round=%u kind=%u us=%u break=%s why=csw "
					"status=%d residue=%u len=%u\n", i, kind, us,
					err ? strerrorname_np(err) : "ok", csw.status, csw.residue, len);
			return -1;
		}
		if (csw.status == 1) {
			failed++;
			if (_get_sense(dev, lun, &sense) < 0 || sense != 0x0b0006) {
				printf("hunghost: loop-fail round=%u kind=%u us=%u why=sense "
						"%06x\n", i, kind, us, sense);
				return -1;
			}
		}
		if (err == 0)
			broken++;
		else
			nodata++;
	}
	printf("hunghost: loop rounds=%u broken=%u nodata=%u failed=%u stalled_in=%u "
			"stalled_out=%u max_us=%u max_break_ms=%.3f\n", count, broken, nodata,
			failed, stalled_in, stalled_out, max_us, max_ms);
	return 0;
fail:
	printf("hunghost: loop-fail round=%u kind=%u us=%u break=%s why=transport errno=%s\n",
			round, round % 4, us_now, err ? strerrorname_np(err) : "ok",
			strerrorname_np(errno));
	return -1;
}

static void _usage(void)
{
	fprintf(stderr,
		"usage: hunghost -i VID:PID [-t LUN] [-p LUN] [-E LUN] -l LUN [-n BLOCKS] [-w BYTES]\n"
		"                [-b PATH | -L COUNT [-D US] -b PATH] [-r LUN:BLOCKS:FILE] [-a]\n"
		"  -t LUN   send TEST UNIT READY to LUN first (may repeat): takes a new\n"
		"           medium's unit attention without locking it\n"
		"  -p LUN   send PREVENT MEDIUM REMOVAL to LUN first (may repeat)\n"
		"  -E LUN   leave a pending sense (05/21/00) on LUN; it is asked for last\n"
		"  -l LUN   hang in a READ(10) of BLOCKS (default 2048) on LUN\n"
		"  -w BYTES hang in a WRITE(10) instead, after sending BYTES of its data\n"
		"  -b PATH  write 1 to PATH at once (SCHED_FIFO) instead of waiting\n"
		"  -L COUNT loop of command, sleep (0..US, default 400 us), break\n"
		"  then wait: SIGTERM exits; SIGUSR1 ends the command, REQUEST SENSE,\n"
		"  -r       READ(10) BLOCKS of LUN into FILE, -a give the device back\n"
		"  to usb-storage.\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct hh_dev dev = {.fd = -1};
	unsigned int vid = 0, pid = 0, hang_lun = 0, blocks = 2048;
	unsigned int prevent[8], n_prevent = 0, read_lun = 0, read_blocks = 0;
	unsigned int tur[8], n_tur = 0;
	unsigned int loops = 0, max_us = 400, sense_lun = 0, sense;
	char read_path[256] = "";
	const char *break_path = NULL;
	int have_lun = 0, give_back = 0, have_sense_lun = 0, opt;
	long write_bytes = -1;
	struct sigaction sa = {0};
	struct hh_csw csw;
	int stalled, stalled_out = 0;
	long got;

	while ((opt = getopt(argc, argv, "i:t:p:E:l:n:w:b:L:D:r:a")) != -1) {
		switch (opt) {
		case 'i':
			if (sscanf(optarg, "%x:%x", &vid, &pid) != 2)
				_usage();
			break;
		case 't':
			if (n_tur < 8)
				tur[n_tur++] = atoi(optarg);
			break;
		case 'p':
			if (n_prevent < 8)
				prevent[n_prevent++] = atoi(optarg);
			break;
		case 'l':
			hang_lun = atoi(optarg);
			have_lun = 1;
			break;
		case 'n':
			blocks = atoi(optarg);
			break;
		case 'E':
			sense_lun = atoi(optarg);
			have_sense_lun = 1;
			break;
		case 'w':
			write_bytes = atol(optarg);
			break;
		case 'b':
			break_path = optarg;
			break;
		case 'L':
			loops = atoi(optarg);
			break;
		case 'D':
			max_us = atoi(optarg);
			break;
		case 'r':
			if (sscanf(optarg, "%u:%u:%255s", &read_lun, &read_blocks, read_path) != 3)
				_usage();
			break;
		case 'a':
			give_back = 1;
			break;
		default:
			_usage();
		}
	}
	if (!vid || !have_lun || blocks == 0 || blocks > 0xffff
			|| write_bytes > (long)blocks * HH_BLOCK || (loops && !break_path))
		_usage();

	sa.sa_handler = _on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = _on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (_open_device(&dev, vid, pid) < 0) {
		fprintf(stderr, "hunghost: no usbfs device %04x:%04x\n", vid, pid);
		return 1;
	}
	if (_parse_descriptors(&dev) < 0) {
		fprintf(stderr, "hunghost: no Bulk-Only mass-storage interface\n");
		return 1;
	}
	if (_claim(&dev) < 0)
		return 1;
	if (break_path != NULL && _realtime() < 0)
		return 1;

	for (unsigned int i = 0; i < n_tur; i++) {
		const uint8_t cdb[6] = {0x00, 0, 0, 0, 0, 0};

		if (_simple_command(&dev, tur[i], cdb, sizeof(cdb), "tur") < 0)
			return 1;
	}

	for (unsigned int i = 0; i < n_prevent; i++) {
		const uint8_t cdb[6] = {0x1e, 0, 0, 0, 1, 0};

		if (_simple_command(&dev, prevent[i], cdb, sizeof(cdb), "prevent") < 0)
			return 1;
	}

	if (have_sense_lun && _leave_sense(&dev, sense_lun) < 0)
		return 1;

	if (loops) {
		if (_loop(&dev, hang_lun, loops, break_path, max_us) < 0)
			return 1;
		goto finish;
	}

	/*
	 * The hang: ask for the data, then do not read it; or, for a WRITE,
	 * send part of it and stop.
	 */
	{
		uint8_t cdb[10] = {0x28, 0, 0, 0, 0, 0, 0, blocks >> 8, blocks & 0xff, 0};

		if (write_bytes >= 0)
			cdb[0] = 0x2a;
		if (_send_cbw(&dev, hang_lun, blocks * HH_BLOCK, write_bytes < 0, cdb,
				sizeof(cdb)) < 0)
			return 1;
		if (write_bytes > 0 && _send_data(&dev, write_bytes, &stalled_out) < 0)
			return 1;
	}
	if (write_bytes >= 0)
		printf("hunghost: hung lun=%u blocks=%u write sent=%ld stalled_out=%d\n",
				hang_lun, blocks, write_bytes, stalled_out);
	else
		printf("hunghost: hung lun=%u blocks=%u\n", hang_lun, blocks);

	if (break_path != NULL) {
		double ms;
		int err = _write_attr(break_path, &ms);

		printf("hunghost: break path=%s result=%s ms=%.3f\n", break_path,
				err ? strerrorname_np(err) : "ok", ms);
	} else {
		fflush(stdout);
		while (!_wake && !_quit)
			pause();
		if (_quit)
			return 0;
	}

	if (write_bytes >= 0 && !stalled_out
			&& _send_data(&dev, (long)blocks * HH_BLOCK - write_bytes, &stalled_out) < 0)
		return 1;
	got = _finish_command(&dev, NULL, 0, write_bytes >= 0 ? 0 : (size_t)blocks * HH_BLOCK,
			&csw, &stalled);
	if (got < 0)
		return 1;
	printf("hunghost: csw lun=%u status=%d residue=%u data=%ld stalled=%d stalled_out=%d\n",
			hang_lun, csw.status, csw.residue, got, stalled, stalled_out);
	if (_request_sense(&dev, hang_lun) < 0)
		return 1;
finish:
	/* Before -r: any other command on that LUN would clear its sense */
	if (have_sense_lun) {
		if (_get_sense(&dev, sense_lun, &sense) < 0)
			return 1;
		printf("hunghost: kept-sense lun=%u sense=%06x\n", sense_lun, sense);
	}
	if (read_blocks > 0 && _read_to_file(&dev, read_lun, read_blocks, read_path) < 0)
		return 1;
	if (give_back && _release(&dev) < 0)
		return 1;
	fflush(stdout);
	return 0;
}
