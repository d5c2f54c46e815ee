/* auth/edit: vmediad --add-user and --add-token, which edit the credentials
 * file and exit. A password is read from standard input: not echoed on a
 * terminal, read the same from a pipe (scripts). */
#include "auth.h"

#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* A line of standard input; a terminal does not show it as it is typed. */
static bool _read_password(const char *user, char *buf, size_t size)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	bool ok;

	if (tty) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		fprintf(stderr, "Password for %s (at least 8 characters): ", user);
	}
	ok = fgets(buf, (int)size, stdin) != NULL;
	if (tty)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	if (ok)
		buf[strcspn(buf, "\r\n")] = '\0';
	return ok;
}

int auth_edit(const char *path, const char *add_user, const char *add_token)
{
	struct err err;
	char token[65], password[512];

	if (!path[0]) {
		fprintf(stderr, "vmediad: --add-user and --add-token need --auth-file FILE\n");
		return 2;
	}
	if (add_user[0]) {
		if (!_read_password(add_user, password, sizeof(password))) {
			fprintf(stderr, "vmediad: no password on standard input\n");
			return 2;
		}
		int rc = auth_add_user(path, add_user, password, &err);
		memset(password, 0, sizeof(password));
		if (rc < 0) {
			fprintf(stderr, "vmediad: %s\n", err.message);
			return 2;
		}
		fprintf(stderr, "user %s saved in %s\n", add_user, path);
	}
	if (add_token[0]) {
		if (auth_add_token(path, add_token, token, &err) < 0) {
			fprintf(stderr, "vmediad: %s\n", err.message);
			return 2;
		}
		fprintf(stderr, "token %s saved in %s; it is shown only now:\n", add_token, path);
		printf("%s\n", token);
	}
	return 0;
}
