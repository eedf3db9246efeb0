#define _GNU_SOURCE
#include "taskhost_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/resource.h>
#include <sched.h>
#include <stddef.h>
#include <grp.h>
#include <pwd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>
#include <string.h>
#include <sys/uio.h>
#include <pthread.h>

int th_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0, 0, 0);
}

int th_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

int th_set_no_new_privs(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

int th_close_from(unsigned int lowest) {
    return (int)syscall(SYS_close_range, lowest, ~0u, 0u);
}

int th_socketpair_cloexec(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}

int th_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int th_pidfd_open(int pid) {
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

int th_child_has_exited(int pid) {
    siginfo_t info;
    info.si_pid = 0;
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return -1;
    return info.si_pid == pid ? 1 : 0;
}

int th_set_send_timeout(int fd, int milliseconds) {
    struct timeval tv = { .tv_sec = milliseconds / 1000, .tv_usec = (milliseconds % 1000) * 1000 };
    return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int th_set_nonblocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}

void th_line_buffer_stdout(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
}

int th_spawn_file_actions_closefrom(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

int th_spawn_file_actions_chdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

int th_wait_exited(int status) { return WIFEXITED(status); }
int th_wait_exit_code(int status) { return WEXITSTATUS(status); }
int th_wait_signaled(int status) { return WIFSIGNALED(status); }
int th_wait_term_signal(int status) { return WTERMSIG(status); }

#if defined(__x86_64__)
#define TH_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TH_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

int th_install_seccomp_denylist(void) {
#ifdef TH_AUDIT_ARCH
    static const int denied[] = {
#ifdef __NR_ptrace
        __NR_ptrace,
#endif
#ifdef __NR_mount
        __NR_mount,
#endif
#ifdef __NR_umount2
        __NR_umount2,
#endif
#ifdef __NR_pivot_root
        __NR_pivot_root,
#endif
#ifdef __NR_chroot
        __NR_chroot,
#endif
#ifdef __NR_swapon
        __NR_swapon,
#endif
#ifdef __NR_swapoff
        __NR_swapoff,
#endif
#ifdef __NR_reboot
        __NR_reboot,
#endif
#ifdef __NR_kexec_load
        __NR_kexec_load,
#endif
#ifdef __NR_kexec_file_load
        __NR_kexec_file_load,
#endif
#ifdef __NR_init_module
        __NR_init_module,
#endif
#ifdef __NR_finit_module
        __NR_finit_module,
#endif
#ifdef __NR_delete_module
        __NR_delete_module,
#endif
#ifdef __NR_bpf
        __NR_bpf,
#endif
#ifdef __NR_perf_event_open
        __NR_perf_event_open,
#endif
#ifdef __NR_setns
        __NR_setns,
#endif
#ifdef __NR_unshare
        __NR_unshare,
#endif
#ifdef __NR_keyctl
        __NR_keyctl,
#endif
#ifdef __NR_add_key
        __NR_add_key,
#endif
#ifdef __NR_request_key
        __NR_request_key,
#endif
#ifdef __NR_acct
        __NR_acct,
#endif
#ifdef __NR_settimeofday
        __NR_settimeofday,
#endif
#ifdef __NR_clock_settime
        __NR_clock_settime,
#endif
#ifdef __NR_adjtimex
        __NR_adjtimex,
#endif
#ifdef __NR_quotactl
        __NR_quotactl,
#endif
    };
    enum { count = sizeof denied / sizeof denied[0] };
    struct sock_filter filter[4 + 2 * count + 1];
    size_t n = 0;
    /* Refuse calls made for another architecture (e.g. 32-bit ABI): kill. */
    filter[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TH_AUDIT_ARCH, 1, 0);
    filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    filter[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (size_t i = 0; i < count; i++) {
        filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)denied[i], 0, 1);
        filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
    }
    filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog program = { .len = (unsigned short)n, .filter = filter };
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int th_unshare_network(int with_user_namespace) {
    return unshare(CLONE_NEWNET | (with_user_namespace ? CLONE_NEWUSER : 0));
}

int th_drop_privileges(unsigned int uid, unsigned int gid) {
    if (setgroups(0, NULL) != 0) return -1;
    if (setresgid(gid, gid, gid) != 0) return -1;
    if (setresuid(uid, uid, uid) != 0) return -1;
    if (geteuid() != uid || getegid() != gid) { errno = EPERM; return -1; }
    return 0;
}

int th_set_rlimit(int resource, unsigned long long soft, unsigned long long hard) {
    struct rlimit limit = { .rlim_cur = (rlim_t)soft, .rlim_max = (rlim_t)hard };
    return setrlimit(resource, &limit);
}

int th_lookup_user(const char *name, unsigned int *uid, unsigned int *gid) {
    struct passwd *entry = getpwnam(name);
    if (entry == NULL) return -1;
    *uid = entry->pw_uid;
    *gid = entry->pw_gid;
    return 0;
}

int th_send_fds(int fd, unsigned char op, const int *fds, int count) {
    if (count < 0 || count > 8) { errno = EINVAL; return -1; }
    union { char buffer[CMSG_SPACE(8 * sizeof(int))]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct iovec io = { .iov_base = &op, .iov_len = 1 };
    struct msghdr message = { .msg_iov = &io, .msg_iovlen = 1 };
    if (count > 0) {
        message.msg_control = control.buffer;
        message.msg_controllen = CMSG_SPACE(count * sizeof(int));
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(count * sizeof(int));
        memcpy(CMSG_DATA(header), fds, count * sizeof(int));
    }
    ssize_t sent;
    do { sent = sendmsg(fd, &message, MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    return sent == 1 ? 0 : -1;
}

int th_recv_fds(int fd, unsigned char *op, int *fds, int max) {
    if (max < 0 || max > 8) { errno = EINVAL; return -1; }
    union { char buffer[CMSG_SPACE(8 * sizeof(int))]; struct cmsghdr align; } control;
    struct iovec io = { .iov_base = op, .iov_len = 1 };
    struct msghdr message = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof control.buffer };
    ssize_t received;
    do { received = recvmsg(fd, &message, MSG_CMSG_CLOEXEC); } while (received < 0 && errno == EINTR);
    if (received == 0) return -2;
    if (received < 0) return -1;
    int count = 0;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *received_fds = (int *)CMSG_DATA(header);
        for (int i = 0; i < n; i++) {
            if (count < max) fds[count++] = received_fds[i]; else close(received_fds[i]);
        }
    }
    return count;
}

int th_thread_count(void) {
    DIR *tasks = opendir("/proc/self/task");
    if (!tasks) return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(tasks)) != NULL) {
        if (entry->d_name[0] != '.') count++;
    }
    closedir(tasks);
    return count;
}

int th_fork_detached(void) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    pid_t middle = fork();
    if (middle < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (middle == 0) {
        close(fds[0]);
        pid_t child = fork();
        if (child == 0) {
            close(fds[1]);
            return 0;
        }
        ssize_t ignored = write(fds[1], &child, sizeof child);
        (void)ignored;
        _exit(child < 0 ? 1 : 0);
    }
    close(fds[1]);
    pid_t child = -1;
    ssize_t n;
    do { n = read(fds[0], &child, sizeof child); } while (n < 0 && errno == EINTR);
    close(fds[0]);
    int status;
    while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {}
    if (n != (ssize_t)sizeof child || child <= 0) { errno = EAGAIN; return -1; }
    return child;
}

/* Where glibc keeps the calling thread's id in its thread control block
   (struct pthread, private: 0x2d0 in glibc 2.36 on x86_64). Found by looking
   for the one 4-byte field of the first 4 KiB that holds gettid(); NULL when
   there is not exactly one. */
static pid_t *th_tcb_tid_field(void) {
    pid_t tid = (pid_t)syscall(SYS_gettid);
    char *base = (char *)pthread_self();
    pid_t *found = NULL;
    for (size_t offset = 0; offset < 4096; offset += sizeof(pid_t)) {
        pid_t *candidate = (pid_t *)(base + offset);
        if (*candidate != tid) continue;
        if (found) return NULL;
        found = candidate;
    }
    return found;
}

int th_fork_sibling(void) {
    pid_t *tid = th_tcb_tid_field();
    if (!tid) {
        errno = ENOTSUP;
        return -1;
    }
    return (int)syscall(SYS_clone, CLONE_PARENT | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD, 0, NULL, tid, 0);
}

int th_become_worker(int ipc, int out, int err) {
    int moved[3] = { ipc, out, err };
    /* Move every source above 10 first, so that the dup2s below cannot clobber one. */
    for (int i = 0; i < 3; i++) {
        int high = fcntl(moved[i], F_DUPFD_CLOEXEC, 10);
        if (high < 0) return -1;
        moved[i] = high;
    }
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0) return -1;
    if (dup2(null, 0) < 0 || dup2(moved[1], 1) < 0 || dup2(moved[2], 2) < 0 || dup2(moved[0], 3) < 0) return -1;
    if (th_close_from(4) != 0) {
        for (int fd = 4; fd < 1024; fd++) close(fd);
    }
    if (setpgid(0, 0) != 0) return -1;
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    int defaults[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2 };
    for (unsigned i = 0; i < sizeof defaults / sizeof defaults[0]; i++) signal(defaults[i], SIG_DFL);
    return 0;
}
