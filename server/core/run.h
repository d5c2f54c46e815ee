/* run: another program run to its end (mkfs, mtools), with the environment
 * given rather than vmediad's, stdin from /dev/null, its stdout to a file
 * or, with its stderr, into a buffer for the caller's message. */
#ifndef VMEDIA_CORE_RUN_H
#define VMEDIA_CORE_RUN_H

#include <stddef.h>

/* argv[0] is the program's absolute path. out_fd < 0: stdout goes into
 * msg with stderr. msg keeps the first msg_size - 1 bytes, NUL-terminated.
 * Returns 0 if it exited with status 0, 1 if it failed, -1 (and errno) if
 * it could not be started. */
int run_program(char *const argv[], char *const envp[], int out_fd, char *msg, size_t msg_size);
/* The first of paths that is executable, or NULL. */
const char *run_find(const char *const *paths);

#endif
