/* mkman: prints the manual page vmediad(8) from vmediad's option table.
 * Built for the build machine (HOST_CC), also in a cross build, since
 * make runs it there. Usage: mkman DATE >vmediad.8 */
#include <stdio.h>

#include "core/config.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s YYYY-MM-DD\n", argv[0]);
		return 2;
	}
	config_print_man(stdout, argv[1]);
	return ferror(stdout) ? 1 : 0;
}
