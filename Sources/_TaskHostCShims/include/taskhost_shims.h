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

/* Makes orphaned descendants of this process its children (not init's), so
   that the host can reap what a plugin forked. */
int th_set_child_subreaper(void);

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

/* posix_spawn file action: change to directory `path` in the child (glibc's _np action). */
int th_spawn_file_actions_chdir(posix_spawn_file_actions_t *actions, const char *path);

/* waitpid status decoding (function-like macros in C). */
int th_wait_exited(int status);
int th_wait_exit_code(int status);
int th_wait_signaled(int status);
int th_wait_term_signal(int status);

/* Installs a seccomp filter that makes the system calls a background task has
   no business making fail with EPERM: ptrace, mount, umount2, pivot_root,
   chroot, swapon, swapoff, reboot, kexec_load, kexec_file_load, init_module,
   finit_module, delete_module, bpf, perf_event_open, setns, unshare, keyctl,
   add_key, request_key, acct, settimeofday, clock_settime, adjtimex, quotactl.
   Requires no_new_privs (or CAP_SYS_ADMIN). Returns 0, or -1 with errno. */
int th_install_seccomp_denylist(void);

/* Moves the calling process into a new network namespace (only loopback, down).
   `with_user_namespace` first creates a user namespace, which lets an
   unprivileged process do it where the kernel allows. Returns 0, or -1 with errno. */
int th_unshare_network(int with_user_namespace);

/* Drops to `uid`/`gid` with no supplementary groups. Returns 0, or -1 with errno. */
int th_drop_privileges(unsigned int uid, unsigned int gid);

/* Sets soft and hard limits of `resource` (RLIMIT_*). Returns 0, or -1 with errno. */
int th_set_rlimit(int resource, unsigned long long soft, unsigned long long hard);

/* The uid and gid of a user name; returns 0, or -1 when unknown. */
int th_lookup_user(const char *name, unsigned int *uid, unsigned int *gid);

/* Pre-forked workers ("zygotes"). */

/* Sends the byte `op` and `count` (at most 8) descriptors over the AF_UNIX
   socket `fd` (SCM_RIGHTS). Returns 0, or -1 with errno. */
int th_send_fds(int fd, unsigned char op, const int *fds, int count);

/* Receives one byte into *op and up to `max` (at most 8) descriptors into fds
   (close-on-exec). Returns how many descriptors arrived, -2 at end of stream,
   or -1 with errno. */
int th_recv_fds(int fd, unsigned char *op, int *fds, int max);

/* The number of threads of this process (entries of /proc/self/task), or -1. */
int th_thread_count(void);

/* Forks a grandchild and lets the intermediate child exit, so that the
   grandchild is reparented to the nearest child subreaper (the host) and the
   host can wait for it as for a process it spawned. Only safe in a
   single-threaded process. Returns the grandchild's pid in the caller, 0 in
   the grandchild, -1 with errno on failure. */
int th_fork_detached(void);

/* Forks a child whose parent is the caller's parent (clone with CLONE_PARENT),
   so that the host, not the zygote, waits for it, in one fork. glibc's fork()
   cannot do that, and a raw clone leaves the thread id that glibc caches in
   the thread control block stale, so the child's id is written there by the
   kernel (CLONE_CHILD_SETTID), as fork() does; where that field cannot be
   found and verified, returns -1 with errno ENOTSUP (use th_fork_detached).
   Only safe in a single-threaded process. Returns the child's pid in the
   caller, 0 in the child, -1 with errno on failure. */
int th_fork_sibling(void);

/* In a freshly forked worker: makes `ipc` descriptor 3, `out` 1 and `err` 2,
   standard input /dev/null; closes every other descriptor; leads a new
   process group; restores default signal dispositions and an empty signal
   mask. Returns 0, or -1 with errno. */
int th_become_worker(int ipc, int out, int err);

#endif /* TASKHOST_SHIMS_H */
