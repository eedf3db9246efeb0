/*
 * Thin wrappers over Linux facilities that Swift cannot call as they are
 * (variadic functions, function-like macros, glibc extensions that need
 * _GNU_SOURCE). Declarations only: the definitions live in taskhost_shims.c,
 * so that this header does not change how system headers look to Swift.
 */
#ifndef TASKHOST_SHIMS_H
#define TASKHOST_SHIMS_H

#include <spawn.h>

/* Asks the kernel to send `signal` to this process when its parent thread exits. */
int th_set_parent_death_signal(int signal);

/* Forbids gaining privileges through execve (setuid binaries, file capabilities). */
int th_set_no_new_privs(void);

/* Closes every descriptor >= lowest. Returns 0, or -1 with errno. */
int th_close_from(unsigned int lowest);

/* A connected AF_UNIX stream pair, both ends close-on-exec. */
int th_socketpair_cloexec(int fds[2]);

/* A pipe, both ends close-on-exec. */
int th_pipe_cloexec(int fds[2]);

/* A descriptor that becomes readable when process `pid` exits, or -1 (kernel < 5.3). */
int th_pidfd_open(int pid);

/* 1 when process `pid` (a child) has exited but is not yet reaped, 0 when it
   runs, -1 on error. Leaves the zombie in place, so its pid (and process group
   id) cannot be reused while the caller cleans up its group. */
int th_child_has_exited(int pid);

/* Bounds how long a blocking send on `fd` may wait for the peer to read. */
int th_set_send_timeout(int fd, int milliseconds);

/* Sets or clears O_NONBLOCK. */
int th_set_nonblocking(int fd, int on);

/* Makes standard output line-buffered (plugin print() reaches the host promptly). */
void th_line_buffer_stdout(void);

/* posix_spawn file action: close every descriptor >= lowest in the child. */
int th_spawn_file_actions_closefrom(posix_spawn_file_actions_t *actions, int lowest);

/* waitpid status decoding (function-like macros in C). */
int th_wait_exited(int status);
int th_wait_exit_code(int status);
int th_wait_signaled(int status);
int th_wait_term_signal(int status);

#endif /* TASKHOST_SHIMS_H */
