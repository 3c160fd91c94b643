/* pyrt.c - the C half of pyruntime: clone the container's init and set it up.
 *
 * What runs where:
 *   pyrt_spawn() runs in the Python parent. It clones a child with clone3() (fork-like: no
 *   stack, the child continues here with a copy of the parent's memory), reports the pid and
 *   a pidfd, and returns. The child runs child_main() and never returns to Python.
 *
 * Rules for everything reachable from child_main() (the model is CPython's _posixsubprocess):
 *   - no malloc, no stdio, no locks, no Python: only raw syscalls and async-signal-safe libc;
 *   - every input comes from the plan the parent built; strings are already C strings;
 *   - a failure sends one 16-byte record {abi, errno, step, index} on the sync socket and
 *     _exit(127)s; the parent turns it into one error line and cleans up.
 *
 * The sync protocol on the SOCK_SEQPACKET pair (both ends close-on-exec):
 *
 *   parent                                  child
 *   clone3 ------------------------------>  (blocked in recv, only if await_go)
 *   uid/gid maps, GO -------------------->  cgroup join, setns, unshare, mounts
 *   (if hooks) <------------------------- record HOOKS
 *   createRuntime/createContainer, GO --->  pivot_root, ids, caps, ..., seccomp
 *            <--------------------------- record READY, then block on exec.fifo
 *   write state, exit                       ... `start` writes exec.fifo ... execve
 *
 * After READY nobody reads the socket in `create`; in `run` the parent keeps reading:
 * EOF means execve succeeded (the socket is close-on-exec), a record means it failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <linux/fs.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "pyrt.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

/* ------------------------------------------------------------------ small safe helpers */

static long sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = flags;
    how.resolve = resolve;
    return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static size_t str_len(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* "/proc/self/fd/<fd>" into buf (at least 32 bytes) without snprintf. */
static const char *fd_path(char *buf, int fd)
{
    static const char prefix[] = "/proc/self/fd/";
    char digits[12];
    int n = 0, i = 0;
    memcpy(buf, prefix, sizeof(prefix) - 1);
    i = sizeof(prefix) - 1;
    do {
        digits[n++] = (char)('0' + fd % 10);
        fd /= 10;
    } while (fd > 0 && n < 11);
    while (n > 0)
        buf[i++] = digits[--n];
    buf[i] = '\0';
    return buf;
}

static void close_quietly(int fd)
{
    if (fd >= 0)
        close(fd);
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* ------------------------------------------------------------------ reporting */

/* One sendmsg of `data`, with `fd` attached as SCM_RIGHTS when fd >= 0. MSG_NOSIGNAL: a
 * peer that is gone must not kill us with SIGPIPE. */
static int send_with_fd(int sock, const void *data, size_t len, int fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov;
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    iov.iov_base = (void *)data;
    iov.iov_len = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (fd >= 0) {
        struct cmsghdr *cmsg;
        memset(&ctl, 0, sizeof(ctl));
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    }
    while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

/* One record, with an fd attached when fd >= 0 (the seccomp listener). */
static void send_record_fd(int sock, int err, int step, int index, int fd)
{
    struct pyrt_record rec;
    rec.abi = PYRT_ABI;
    rec.err = err;
    rec.step = (uint32_t)step;
    rec.index = index;
    send_with_fd(sock, &rec, sizeof(rec), fd);
}

static void send_record(int sock, int err, int step, int index)
{
    send_record_fd(sock, err, step, index, -1);
}

static __attribute__((noreturn)) void fail(const struct pyrt_plan *p, int step, int index)
{
    send_record(p->sync_fd, errno ? errno : EINVAL, step, index);
    _exit(127);
}

/* Without a GO to wait for: give up quietly if the parent died before PR_SET_PDEATHSIG was
 * set (its end of the socket is then closed: EOF, where a live parent gives EAGAIN). */
static void check_parent(const struct pyrt_plan *p)
{
    char c;
    if (recv(p->sync_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
        _exit(127);
}

/* Wait for the parent's go-ahead byte; EOF means the parent died: give up quietly. */
static void wait_parent(const struct pyrt_plan *p)
{
    char c;
    ssize_t r;
    do {
        r = recv(p->sync_fd, &c, 1, 0);
    } while (r < 0 && errno == EINTR);
    if (r <= 0)
        _exit(127);
    if (c != 'G') {
        errno = EPROTO;
        fail(p, PYRT_STEP_SYNC, 0);
    }
}

/* ------------------------------------------------------------------ path resolution in the rootfs */

/* Resolve path (absolute inside the root) to an O_PATH fd, never leaving root_fd. */
static int resolve_in_root(int root_fd, const char *path, int extra_flags)
{
    long fd;
    while (*path == '/')
        path++;
    if (*path == '\0')
        return (int)fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
    fd = sys_openat2(root_fd, path, O_PATH | O_CLOEXEC | extra_flags,
                     RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    return (int)fd;
}

/* Copy path into buf and split off the last component: buf holds the parent, *name the leaf. */
static int split_path(const char *path, char *buf, size_t size, const char **name)
{
    size_t len = str_len(path);
    size_t i;
    if (len + 1 > size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    for (i = len; i > 0 && buf[i - 1] != '/'; i--)
        ;
    *name = buf + i;
    if (i == 0) {
        errno = EINVAL;
        return -1;
    }
    buf[i - 1] = '\0';
    if (i == 1) {
        /* parent is the root: keep the leaf, make the parent "" */
        buf[0] = '\0';
        *name = path + 1;
        while (**name == '/')
            (*name)++;
    }
    return 0;
}

static size_t join_path(char *out, size_t size, const char *dir, const char *name)
{
    size_t a = str_len(dir), b = str_len(name);
    if (a + b + 2 > size)
        return 0;
    memcpy(out, dir, a);
    out[a] = '/';
    memcpy(out + a + 1, name, b + 1);
    return a + b + 1;
}

/* mkdir -p inside the root. Each prefix is resolved with RESOLVE_IN_ROOT, so a symlinked
 * component is followed only within the rootfs (runc CVE-2021-30465 / CVE-2023-27561).
 * A dangling symlink gets its target created, inside the root, as runc does. */
static int mkdir_in_root_depth(int root_fd, const char *path, unsigned int mode, int depth)
{
    char buf[4096];
    size_t len = str_len(path), i;
    int fd;
    if (len + 1 > sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        if (buf[i - 1] == '/')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        fd = resolve_in_root(root_fd, buf, 0);
        if (fd < 0 && errno == ENOENT) {
            char parent[4096], link[4096], next[4096];
            const char *leaf;
            ssize_t n;
            int pfd;
            if (split_path(buf, parent, sizeof(parent), &leaf) < 0)
                return -1;
            pfd = resolve_in_root(root_fd, parent, O_DIRECTORY);
            if (pfd < 0)
                return -1;
            if (mkdirat(pfd, leaf, mode) < 0 && errno != EEXIST) {
                close(pfd);
                return -1;
            }
            fd = resolve_in_root(root_fd, buf, 0);
            if (fd < 0 && errno == ENOENT && depth > 0 &&
                (n = readlinkat(pfd, leaf, link, sizeof(link) - 1)) > 0) {
                link[n] = '\0';
                if (link[0] == '/' ? (str_len(link) < sizeof(next) &&
                                      (memcpy(next, link, str_len(link) + 1), 1))
                                   : join_path(next, sizeof(next), parent[0] ? parent : "/",
                                               link) > 0) {
                    if (mkdir_in_root_depth(root_fd, next, mode, depth - 1) == 0)
                        fd = resolve_in_root(root_fd, buf, 0);
                }
            }
            close(pfd);
        }
        if (fd < 0)
            return -1;
        close(fd);
        buf[i] = saved;
    }
    return 0;
}

/* The usual cases in two or three system calls instead of one open and close per
 * component: the path is there already, or only its last component is missing under a
 * parent that resolves. 1: done; 0: anything else (errors too), for the careful walk,
 * which gives the same result and reports the same errors. */
static int mkdir_in_root_quick(int root_fd, const char *path, unsigned int mode)
{
    char parent[4096];
    const char *leaf;
    int fd = resolve_in_root(root_fd, path, 0);
    if (fd >= 0) {
        close(fd);
        return 1;
    }
    if (errno != ENOENT || split_path(path, parent, sizeof(parent), &leaf) < 0)
        return 0;
    fd = resolve_in_root(root_fd, parent, O_DIRECTORY);
    if (fd < 0)
        return 0;
    if (mkdirat(fd, leaf, mode) == 0) {
        close(fd);
        return 1;
    }
    close(fd); /* EEXIST: a dangling symlink, whose target the walk creates */
    return 0;
}

static int mkdir_in_root(int root_fd, const char *path, unsigned int mode)
{
    if (mkdir_in_root_quick(root_fd, path, mode) == 1)
        return 0;
    return mkdir_in_root_depth(root_fd, path, mode, 8);
}

/* Open the parent directory of path inside the root (creating it), return its fd and leaf. */
static int parent_in_root(int root_fd, const char *path, char *buf, size_t size,
                          const char **leaf)
{
    int fd;
    if (split_path(path, buf, size, leaf) < 0)
        return -1;
    fd = resolve_in_root(root_fd, buf, O_DIRECTORY); /* usually there already */
    if (fd >= 0 || errno != ENOENT)
        return fd;
    if (mkdir_in_root(root_fd, buf, 0755) < 0)
        return -1;
    return resolve_in_root(root_fd, buf, O_DIRECTORY);
}

static int mkfile_in_root(int root_fd, const char *path, unsigned int mode)
{
    char buf[4096];
    const char *leaf;
    int pfd, fd;
    fd = resolve_in_root(root_fd, path, 0);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    pfd = parent_in_root(root_fd, path, buf, sizeof(buf), &leaf);
    if (pfd < 0)
        return -1;
    fd = openat(pfd, leaf, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode);
    close(pfd);
    if (fd < 0 && errno != EEXIST)
        return -1;
    close_quietly(fd);
    return 0;
}

/* ------------------------------------------------------------------ mount operations */

/* Flags of an existing mount that a remount must keep: the kernel refuses to clear
 * nosuid/nodev/noexec/ro/atime flags locked by a less privileged user namespace. */
static unsigned long locked_flags(const char *target)
{
    static const unsigned long map[][2] = {
        {ST_NOSUID, MS_NOSUID},     {ST_NODEV, MS_NODEV},         {ST_NOEXEC, MS_NOEXEC},
        {ST_RDONLY, MS_RDONLY},     {ST_NOATIME, MS_NOATIME},     {ST_NODIRATIME, MS_NODIRATIME},
        {ST_RELATIME, MS_RELATIME},
    };
    struct statvfs sv;
    unsigned long f = 0;
    unsigned i;
    if (statvfs(target, &sv) < 0)
        return 0;
    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (sv.f_flag & map[i][0])
            f |= map[i][1];
    return f;
}

static int remount(const char *target, unsigned long flags)
{
    if (mount(NULL, target, NULL, MS_REMOUNT | flags, NULL) == 0)
        return 0;
    if (errno != EPERM)
        return -1;
    return mount(NULL, target, NULL, MS_REMOUNT | flags | locked_flags(target), NULL);
}

static int is_dir_fd(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

static int run_op(int root_fd, int devnull_fd, const struct pyrt_op *op)
{
    char tpath[32], spath[32], buf[4096];
    const char *leaf;
    int fd = -1, sfd = -1, pfd = -1, rc = -1;

    /* ops on an existing target: resolve it inside the root first (after any earlier op
     * mounted on that path, so a remount sees the new mount, not the directory below) */
    switch (op->kind) {
    case PYRT_OP_MOUNT:
    case PYRT_OP_REMOUNT:
    case PYRT_OP_PROPAGATE:
    case PYRT_OP_SETATTR:
    case PYRT_OP_CHMOD:
        fd = resolve_in_root(root_fd, op->path, 0);
        if (fd < 0)
            return -1;
        break;
    default:
        break;
    }

    switch (op->kind) {
    case PYRT_OP_MKDIR:
        return mkdir_in_root(root_fd, op->path, op->mode);

    case PYRT_OP_MKFILE:
        return mkfile_in_root(root_fd, op->path, op->mode);

    case PYRT_OP_MOUNT:
        rc = mount(op->source, fd_path(tpath, fd), op->fstype, op->mflags, op->data);
        break;

    case PYRT_OP_BIND:
        sfd = (int)open(op->source, O_PATH | O_CLOEXEC);
        if (sfd < 0)
            return -1;
        fd = resolve_in_root(root_fd, op->path, 0);
        if (fd < 0)
            break;
        rc = mount(fd_path(spath, sfd), fd_path(tpath, fd), NULL,
                   MS_BIND | (op->mflags & MS_REC), NULL);
        break;

    case PYRT_OP_REMOUNT:
        rc = remount(fd_path(tpath, fd), op->mflags);
        break;

    case PYRT_OP_PROPAGATE:
        rc = mount(NULL, fd_path(tpath, fd), NULL, op->mflags, NULL);
        break;

    case PYRT_OP_SETATTR: {
        struct mount_attr attr;
        memset(&attr, 0, sizeof(attr));
        attr.attr_set = op->attr_set;
        attr.attr_clr = op->attr_clr;
        attr.propagation = op->propagation;
        rc = (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                          sizeof(attr));
        break;
    }

    case PYRT_OP_MKNOD:
        pfd = parent_in_root(root_fd, op->path, buf, sizeof(buf), &leaf);
        if (pfd < 0)
            return -1;
        rc = mknodat(pfd, leaf, op->mode, (dev_t)op->dev);
        if (rc < 0 && errno == EEXIST) {
            /* Something is already there: fine only if it is this very device. */
            struct stat st;
            rc = fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW);
            if (rc == 0 && ((st.st_mode & S_IFMT) != (op->mode & S_IFMT) ||
                            ((op->mode & S_IFMT) != S_IFIFO && st.st_rdev != (dev_t)op->dev))) {
                errno = EEXIST;
                rc = -1;
            }
        } else if (rc == 0) {
            rc = fchownat(pfd, leaf, op->uid, op->gid, AT_SYMLINK_NOFOLLOW);
        }
        break;

    case PYRT_OP_SYMLINK:
        pfd = parent_in_root(root_fd, op->path, buf, sizeof(buf), &leaf);
        if (pfd < 0)
            return -1;
        rc = symlinkat(op->source, pfd, leaf);
        if (rc < 0 && errno == EEXIST)
            rc = 0;
        break;

    case PYRT_OP_MASK:
        /* Never follow a symlink here: a masked path replaced by a link must not make us
         * cover something else (runc CVE-2025-31133). */
        fd = resolve_in_root(root_fd, op->path, O_NOFOLLOW);
        if (fd < 0)
            return -1;
        if (is_dir_fd(fd))
            rc = mount("tmpfs", fd_path(tpath, fd), "tmpfs", MS_RDONLY, "size=0k");
        else
            rc = mount(fd_path(spath, devnull_fd), fd_path(tpath, fd), NULL, MS_BIND, NULL);
        break;

    case PYRT_OP_READONLY:
        fd = resolve_in_root(root_fd, op->path, O_NOFOLLOW);
        if (fd < 0)
            return -1;
        rc = mount(fd_path(tpath, fd), fd_path(tpath, fd), NULL, MS_BIND | MS_REC, NULL);
        if (rc == 0) {
            close(fd);
            fd = resolve_in_root(root_fd, op->path, O_NOFOLLOW);
            if (fd < 0)
                return -1;
            rc = remount(fd_path(tpath, fd), MS_BIND | MS_RDONLY);
        }
        break;

    case PYRT_OP_SYSCTL: {
        /* The host's procfs, opened before pivot_root: /proc/sys/net and the ipc/uts
         * sysctls show the namespaces of the opening task, which are the container's. */
        struct statfs sf;
        fd = (int)open(op->path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return -1;
        if (fstatfs(fd, &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC) {
            errno = EXDEV;
            break;
        }
        rc = write_all(fd, op->source, str_len(op->source));
        break;
    }

    case PYRT_OP_IDMAP_BIND: {
        /* A detached copy of the source, idmapped with the userns the parent made for the
         * mount's mappings, then moved on the target: all through fds. */
        struct mount_attr attr;
        unsigned rec = (op->mflags & MS_REC) ? AT_RECURSIVE : 0;
        sfd = (int)syscall(SYS_open_tree, AT_FDCWD, op->source,
                           OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
        if (sfd < 0)
            return -1;
        memset(&attr, 0, sizeof(attr));
        attr.attr_set = MOUNT_ATTR_IDMAP;
        attr.userns_fd = (uint64_t)op->userns_fd;
        if (syscall(SYS_mount_setattr, sfd, "", AT_EMPTY_PATH | rec, &attr, sizeof(attr)) < 0)
            break;
        fd = resolve_in_root(root_fd, op->path, 0);
        if (fd < 0)
            break;
        rc = (int)syscall(SYS_move_mount, sfd, "", fd, "",
                          MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
        break;
    }

    case PYRT_OP_CHMOD:
        rc = chmod(fd_path(tpath, fd), op->mode);
        break;

    default:
        errno = EINVAL;
        return -1;
    }
    {
        int saved = errno;
        close_quietly(fd);
        close_quietly(sfd);
        close_quietly(pfd);
        errno = saved;
    }
    return rc;
}

/* ------------------------------------------------------------------ the child */

static void reset_signals(void)
{
    struct sigaction sa;
    sigset_t all;
    int sig;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    /* Python ignores SIGPIPE (and more); ignored signals survive execve. */
    for (sig = 1; sig < _NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        sigaction(sig, &sa, NULL);
    }
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

/* Close every inherited fd the child does not need. The parent's fds are close-on-exec,
 * but until execve the child shares their open file descriptions: an flock held by the
 * parent (the state lock) must not stay held by the waiting init. */
static void close_inherited_fds(const struct pyrt_plan *p)
{
    int keep[PYRT_MAX_NS + 64], n = 0, i, j, lo;
    keep[n++] = p->sync_fd;
    for (i = 0; i < p->n_ops && n < PYRT_MAX_NS + 24; i++)
        if (p->ops[i].kind == PYRT_OP_IDMAP_BIND && p->ops[i].userns_fd >= 0)
            keep[n++] = p->ops[i].userns_fd;
    for (i = 0; i < p->n_tasks_fds && i < 32; i++)
        keep[n++] = p->tasks_fds[i];
    for (i = 0; i < 3; i++)
        if (p->stdio[i] >= 0)
            keep[n++] = p->stdio[i];
    if (p->console_socket >= 0)
        keep[n++] = p->console_socket;
    for (i = 0; i < p->n_join && i < PYRT_MAX_NS; i++)
        keep[n++] = p->join_fds[i];
    for (i = 1; i < n; i++) /* insertion sort: n is tiny */
        for (j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    lo = p->keep_fds;
    for (i = 0; i < n; i++) {
        if (keep[i] < lo)
            continue;
        if (keep[i] > lo)
            syscall(SYS_close_range, (unsigned)lo, (unsigned)(keep[i] - 1), 0);
        lo = keep[i] + 1;
    }
    syscall(SYS_close_range, (unsigned)lo, ~0U, 0);
}

/* Put the requested fds on 0, 1, 2 (the Python API's stdin/stdout/stderr). A source that
 * is itself one of 0-2 is first copied out of the way so no dup2 clobbers another. */
static void setup_stdio(const struct pyrt_plan *p)
{
    int src[3], i;
    for (i = 0; i < 3; i++) {
        src[i] = p->stdio[i];
        if (src[i] >= 0 && src[i] < 3 && src[i] != i) {
            src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3);
            if (src[i] < 0)
                fail(p, PYRT_STEP_FDS, i);
        }
    }
    for (i = 0; i < 3; i++)
        if (src[i] >= 0 && src[i] != i && dup2(src[i], i) < 0)
            fail(p, PYRT_STEP_FDS, i);
}

/* Join the v1 cgroups by writing "0" to each `tasks` file: moving only the calling thread
 * (we are single-threaded) skips the global threadgroup lock that writing a pid to
 * cgroup.procs takes, and with it a whole RCU grace period (~10 ms) per container. The
 * files were opened by the parent, whose credentials the kernel checks. */
static void join_cgroups(const struct pyrt_plan *p)
{
    int i;
    for (i = 0; i < p->n_tasks_fds; i++) {
        if (write_all(p->tasks_fds[i], "0", 1) < 0)
            fail(p, PYRT_STEP_CGROUP, i);
        close(p->tasks_fds[i]);
    }
}

/* The AppArmor profile / SELinux label for the next execve, written through the host's
 * procfs before we join any namespace the container controls (runc CVE-2019-16884). */
static void set_exec_label(const struct pyrt_plan *p)
{
    struct statfs sf;
    int fd;
    if (!p->lsm_attr_path)
        return;
    fd = (int)open(p->lsm_attr_path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        fail(p, PYRT_STEP_LSM, 0);
    if (fstatfs(fd, &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC) {
        errno = EXDEV;
        fail(p, PYRT_STEP_LSM, 1);
    }
    if (write_all(fd, p->lsm_attr_value, str_len(p->lsm_attr_value)) < 0)
        fail(p, PYRT_STEP_LSM, 2);
    close(fd);
}

static void setup_namespaces(const struct pyrt_plan *p)
{
    int i;
    for (i = 0; i < p->n_join; i++)
        if (setns(p->join_fds[i], p->join_types[i]) < 0)
            fail(p, PYRT_STEP_SETNS, i);
    for (i = 0; i < p->n_join; i++)
        close(p->join_fds[i]);
    if (p->unshare_flags && unshare((int)p->unshare_flags) < 0)
        fail(p, PYRT_STEP_UNSHARE, 0);
    if (p->timens_offsets) {
        int fd = (int)open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write_all(fd, p->timens_offsets, str_len(p->timens_offsets)) < 0)
            fail(p, PYRT_STEP_TIMENS, 0);
        close(fd);
    }
}

/* A new network namespace starts with `lo` down; containers expect 127.0.0.1 to work. */
static void bring_loopback_up(const struct pyrt_plan *p)
{
    struct ifreq ifr;
    int sock;
    if (!p->loopback_up)
        return;
    sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        fail(p, PYRT_STEP_LOOPBACK, 0);
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
        fail(p, PYRT_STEP_LOOPBACK, 1);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
        fail(p, PYRT_STEP_LOOPBACK, 2);
    close(sock);
}

static void setup_host_side(const struct pyrt_plan *p)
{
    if (p->cpu_initial &&
        sched_setaffinity(0, (size_t)p->cpu_set_size, (cpu_set_t *)p->cpu_initial) < 0)
        fail(p, PYRT_STEP_AFFINITY, 0);
    if (p->oom_score_adj) {
        int fd = (int)open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write_all(fd, p->oom_score_adj, str_len(p->oom_score_adj)) < 0)
            fail(p, PYRT_STEP_OOM_SCORE, 0);
        close(fd);
    }
    if (p->hostname && sethostname(p->hostname, str_len(p->hostname)) < 0)
        fail(p, PYRT_STEP_HOSTNAME, 0);
    if (p->domainname && setdomainname(p->domainname, str_len(p->domainname)) < 0)
        fail(p, PYRT_STEP_DOMAINNAME, 0);
}

/* Returns the fd of the new root (the rootfs bind-mounted on itself). */
static int setup_rootfs(const struct pyrt_plan *p)
{
    int root_fd, devnull_fd, i;
    struct stat st;

    /* First of all, before any other mount: cut propagation towards the host. */
    if (mount(NULL, "/", NULL, p->root_propagation, NULL) < 0)
        fail(p, PYRT_STEP_ROOT_PROPAGATION, 0);
    if (p->rootfs_parent_mount && mount(NULL, p->rootfs_parent_mount, NULL, MS_PRIVATE, NULL) < 0)
        fail(p, PYRT_STEP_ROOT_PROPAGATION, 1);
    if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        fail(p, PYRT_STEP_ROOTFS, 0);
    root_fd = (int)open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0)
        fail(p, PYRT_STEP_ROOTFS, 1);

    /* The host's /dev/null, checked to be the real device (runc CVE-2025-31133). */
    devnull_fd = (int)open("/dev/null", O_PATH | O_CLOEXEC);
    if (devnull_fd < 0 || fstat(devnull_fd, &st) < 0 || !S_ISCHR(st.st_mode) ||
        st.st_rdev != makedev(1, 3)) {
        errno = EXDEV;
        fail(p, PYRT_STEP_ROOTFS, 2);
    }
    for (i = 0; i < p->n_ops; i++) {
        const struct pyrt_op *op = &p->ops[i];
        errno = 0;
        if (run_op(root_fd, devnull_fd, op) < 0) {
            if ((op->options & PYRT_OPT_OPTIONAL) && errno == ENOENT)
                continue;
            fail(p, PYRT_STEP_OP, i);
        }
    }
    close(devnull_fd);
    return root_fd;
}

static void enter_root(const struct pyrt_plan *p, int root_fd)
{
    if (p->no_pivot) {
        if (fchdir(root_fd) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0)
            fail(p, PYRT_STEP_PIVOT, 1);
    } else {
        int old_root = (int)open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        if (old_root < 0 || fchdir(root_fd) < 0)
            fail(p, PYRT_STEP_PIVOT, 0);
        /* pivot_root(".", "."): the old root ends up stacked under the new one at "/", where
         * we detach it; no put_old directory is needed inside the rootfs. */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
            fail(p, PYRT_STEP_PIVOT, 2);
        if (fchdir(old_root) < 0)
            fail(p, PYRT_STEP_PIVOT, 3);
        if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
            fail(p, PYRT_STEP_PIVOT, 4);
        if (umount2(".", MNT_DETACH) < 0)
            fail(p, PYRT_STEP_PIVOT, 5);
        close(old_root);
    }
    close(root_fd);
    if (chdir("/") < 0)
        fail(p, PYRT_STEP_PIVOT, 6);
}

/* After the console: set the root's propagation and make it read-only if asked. */
static void finalize_root(const struct pyrt_plan *p)
{
    if (p->rootfs_propagation && mount(NULL, "/", NULL, p->rootfs_propagation, NULL) < 0)
        fail(p, PYRT_STEP_ROOT_PROPAGATION, 2);
    if (p->root_readonly && remount("/", MS_BIND | MS_RDONLY) < 0)
        fail(p, PYRT_STEP_ROOT_READONLY, 0);
}

/* Send the pty master over the console socket as runc does: one message, the data
 * "/dev/ptmx", one SCM_RIGHTS fd. The peer may accept only after we are gone: the
 * connection is already in its backlog, so this never waits for it. */
static int send_master(int sock, int master)
{
    static const char name[] = "/dev/ptmx";
    return send_with_fd(sock, name, sizeof(name) - 1, master);
}

/* Bind the pty slave on /dev/console through fds only (open_tree + move_mount): no path
 * that the container controls is followed (runc CVE-2025-52565). */
static int mount_console(int slave)
{
    int dev, cons, tree, rc;
    dev = (int)open("/dev", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dev < 0)
        return -1;
    cons = openat(dev, "console", O_CREAT | O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    close(dev);
    if (cons < 0)
        return -1;
    tree = (int)syscall(SYS_open_tree, slave, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (tree < 0) {
        close(cons);
        return -1;
    }
    rc = (int)syscall(SYS_move_mount, tree, "", cons, "",
                      MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
    close(tree);
    close(cons);
    return rc;
}

static void setup_console(const struct pyrt_plan *p)
{
    int master, slave, unlock = 0, i;
    if (p->console_socket < 0)
        return;
    master = (int)open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0)
        fail(p, PYRT_STEP_CONSOLE, 0);
    if (p->console_rows || p->console_cols) {
        struct winsize ws;
        memset(&ws, 0, sizeof(ws));
        ws.ws_row = p->console_rows;
        ws.ws_col = p->console_cols;
        if (ioctl(master, TIOCSWINSZ, &ws) < 0)
            fail(p, PYRT_STEP_CONSOLE, 1);
    }
    slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        fail(p, PYRT_STEP_CONSOLE, 2);
    if (p->mount_console && mount_console(slave) < 0)
        fail(p, PYRT_STEP_CONSOLE, 3);
    if (send_master(p->console_socket, master) < 0)
        fail(p, PYRT_STEP_CONSOLE, 4);
    close(master);
    close(p->console_socket);
    if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
        fail(p, PYRT_STEP_CONSOLE, 5);
    for (i = 0; i < 3; i++)
        if (dup2(slave, i) < 0)
            fail(p, PYRT_STEP_CONSOLE, 6);
    if (slave > 2)
        close(slave);
}

static void setup_limits(const struct pyrt_plan *p)
{
    int i;
    for (i = 0; i < p->n_rlimits; i++) {
        struct rlimit rl;
        rl.rlim_cur = p->rlimits[i].soft;
        rl.rlim_max = p->rlimits[i].hard;
        if (setrlimit(p->rlimits[i].resource, &rl) < 0)
            fail(p, PYRT_STEP_RLIMIT, i);
    }
    if (p->personality >= 0 && personality((unsigned long)p->personality) < 0)
        fail(p, PYRT_STEP_PERSONALITY, 0);
    if (p->sched_attr && syscall(SYS_sched_setattr, 0, p->sched_attr, 0) < 0)
        fail(p, PYRT_STEP_SCHEDULER, 0);
    if (p->ioprio >= 0 && syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, p->ioprio) < 0)
        fail(p, PYRT_STEP_IOPRIO, 0);
}

static void setup_identity(const struct pyrt_plan *p)
{
    int cap;
    if (p->set_caps) {
        for (cap = 0; cap <= p->last_cap; cap++) {
            if (p->cap_bounding & (1ULL << cap))
                continue;
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                fail(p, PYRT_STEP_CAPBSET, cap);
        }
        /* keep the permitted set across setuid so capset below can pick from it */
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
            fail(p, PYRT_STEP_CAPSET, 0);
    }
    if (p->set_user) {
        if (p->set_groups && setgroups((size_t)p->n_groups, p->groups) < 0)
            fail(p, PYRT_STEP_SETGROUPS, 0);
        if (setresgid(p->gid, p->gid, p->gid) < 0)
            fail(p, PYRT_STEP_SETGID, 0);
        if (setresuid(p->uid, p->uid, p->uid) < 0)
            fail(p, PYRT_STEP_SETUID, 0);
    }
    if (p->set_caps) {
        struct __user_cap_header_struct hdr;
        struct __user_cap_data_struct data[2];
        hdr.version = _LINUX_CAPABILITY_VERSION_3;
        hdr.pid = 0;
        data[0].effective = (uint32_t)p->cap_effective;
        data[1].effective = (uint32_t)(p->cap_effective >> 32);
        data[0].permitted = (uint32_t)p->cap_permitted;
        data[1].permitted = (uint32_t)(p->cap_permitted >> 32);
        data[0].inheritable = (uint32_t)p->cap_inheritable;
        data[1].inheritable = (uint32_t)(p->cap_inheritable >> 32);
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
            fail(p, PYRT_STEP_CAPSET, 1);
        if (syscall(SYS_capset, &hdr, data) < 0)
            fail(p, PYRT_STEP_CAPSET, 2);
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
            fail(p, PYRT_STEP_AMBIENT, -1);
        for (cap = 0; cap <= p->last_cap; cap++) {
            if (!(p->cap_ambient & (1ULL << cap)))
                continue;
            /* runc ignores a failed raise: the cap may be absent from permitted/inheritable */
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
        }
    }
}

/* Find the program: candidates are absolute paths inside the container, checked as the
 * container's user, so a failure is reported by `create` as runc does. */
static const char *find_program(const struct pyrt_plan *p)
{
    int i, first_err = 0;
    for (i = 0; i < p->n_candidates; i++) {
        struct stat st;
        if (stat(p->exec_candidates[i], &st) < 0) {
            if (!first_err && errno != ENOENT && errno != ENOTDIR)
                first_err = errno;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (p->n_candidates == 1) {
                errno = EISDIR;
                fail(p, PYRT_STEP_EXEC_LOOKUP, i);
            }
            continue;
        }
        if (access(p->exec_candidates[i], X_OK) < 0) {
            if (p->n_candidates == 1)
                fail(p, PYRT_STEP_EXEC_LOOKUP, i);
            if (!first_err)
                first_err = errno;
            continue;
        }
        return p->exec_candidates[i];
    }
    if (p->n_candidates == 1) {
        errno = ENOENT;
        fail(p, PYRT_STEP_EXEC_LOOKUP, 0);
    }
    errno = first_err ? first_err : ENOENT;
    fail(p, PYRT_STEP_EXEC_LOOKUP, -1);
}

/* Load the filter; returns the notify listener fd when the filter has one, else -1. */
static int load_seccomp(const struct pyrt_plan *p)
{
    struct sock_fprog prog;
    long rc;
    if (!p->seccomp_bpf)
        return -1;
    prog.len = (unsigned short)p->seccomp_len;
    prog.filter = (struct sock_filter *)p->seccomp_bpf;
    rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->seccomp_flags, &prog);
    if (rc < 0)
        fail(p, PYRT_STEP_SECCOMP, 0);
    return (p->seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) ? (int)rc : -1;
}

static void exit_on_signal(int sig)
{
    _exit(128 + sig);
}

/* While it waits for `start`, the init of a new pid namespace would ignore every signal
 * without a handler (pid_namespaces(7)); give the terminating ones a handler that exits,
 * so `kill` of a created container works. execve resets them to the default. */
static void catch_terminating_signals(void)
{
    static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM,
                               SIGPIPE, SIGABRT, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSYS,
                               SIGXCPU, SIGXFSZ, SIGTRAP};
    struct sigaction sa;
    unsigned i;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = exit_on_signal;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

static __attribute__((noreturn)) void child_main(const struct pyrt_plan *p)
{
    const char *program;
    int root_fd, fifo_fd = -1, listener = -1;

    reset_signals();
    close_inherited_fds(p);
    setup_stdio(p);
    if (p->join_only) {
        /* exec: nothing in the container may reach this copy of the host's interpreter
         * through /proc/PID/exe or ptrace while we join it (runc CVE-2019-5736). */
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    /* If `create` dies during setup, so do we: nothing half-made stays running. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (p->await_go)
        wait_parent(p);
    else
        check_parent(p); /* nothing to wait for: set up while the parent does its part */
    /* Before anything of the container is set up (and before a new cgroup namespace takes
     * its root from where we are); memory touched so far stays charged to the caller. */
    join_cgroups(p);
    set_exec_label(p);
    if (p->fifo_path) {
        /* Opened with our host credentials, before any namespace: the state dir is the
         * host root's. O_RDWR never blocks on a fifo; read() blocks until `start` writes. */
        fifo_fd = (int)open(p->fifo_path, O_RDWR | O_CLOEXEC);
        if (fifo_fd < 0)
            fail(p, PYRT_STEP_FIFO, 0);
    }

    setup_namespaces(p);
    if (p->become_root) {
        /* Our host ids mean nothing in the new user namespace: become its root, so that
         * mounts and the files they create (devpts' ptmx) have mapped owners (runc). */
        if (setresgid(0, 0, 0) < 0)
            fail(p, PYRT_STEP_SETGID, -1);
        if (setresuid(0, 0, 0) < 0)
            fail(p, PYRT_STEP_SETUID, -1);
        if (p->set_groups)
            setgroups(0, NULL);
    }
    bring_loopback_up(p);
    setup_host_side(p);
    if (!p->join_only) {
        umask(0);
        root_fd = setup_rootfs(p);
        if (p->want_hooks) {
            send_record(p->sync_fd, 0, PYRT_STEP_HOOKS, 0);
            wait_parent(p);
        }
        enter_root(p, root_fd);
    }
    setup_console(p);
    if (!p->join_only)
        finalize_root(p);
    setup_limits(p);
    /* Before any seccomp filter (older profiles know no close_range).
     * Every fd past stdio and --preserve-fds: close-on-exec (runc CVE-2024-21626);
     * the kept ones lose the close-on-exec flag Python gives every fd it opens. */
    if (syscall(SYS_close_range, (unsigned)p->keep_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        fail(p, PYRT_STEP_FDS, 0);
    for (int fd = 0; fd < p->keep_fds; fd++)
        if (fcntl(fd, F_SETFD, 0) < 0 && errno != EBADF)
            fail(p, PYRT_STEP_FDS, fd);
    if (p->seccomp_early) {
        /* Without no_new_privs the kernel wants CAP_SYS_ADMIN to install a filter: do it
         * while we still have it (runc's order); the profile must allow what follows. */
        prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
        catch_terminating_signals();
        listener = load_seccomp(p);
    }
    setup_identity(p);
    if (p->cwd && chdir(p->cwd) < 0)
        fail(p, PYRT_STEP_CWD, 0);
    program = find_program(p);
    if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail(p, PYRT_STEP_NO_NEW_PRIVS, 0);
    umask((mode_t)p->umask);
    if (p->cpu_final &&
        sched_setaffinity(0, (size_t)p->cpu_set_size, (cpu_set_t *)p->cpu_final) < 0)
        fail(p, PYRT_STEP_AFFINITY, 1);
    if (!p->seccomp_early) {
        prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
        catch_terminating_signals();
        listener = load_seccomp(p);
    }
    /* Until it execs, the init is a copy of the host's interpreter: nothing in the container
     * (an `exec` between create and start) may open it through /proc/1/exe (runc
     * CVE-2019-5736). execve makes the container's own program dumpable again. Rootless
     * runtimes skip this: their init could not write a root-owned interpreter anyway. */
    if (p->nondumpable)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* READY carries the seccomp listener (if any): the parent hands it to listenerPath. */
    send_record_fd(p->sync_fd, 0, PYRT_STEP_READY, 0, listener);
    if (listener >= 0)
        close(listener);
    if (fifo_fd >= 0) {
        char c;
        ssize_t r;
        do {
            r = read(fifo_fd, &c, 1);
        } while (r < 0 && errno == EINTR);
        if (r != 1)
            fail(p, PYRT_STEP_WAIT_START, 0);
        close(fifo_fd);
    }
    execve(program, p->argv, p->envp);
    fail(p, PYRT_STEP_EXEC, 0);
}

/* ------------------------------------------------------------------ parent entry points */

int pyrt_abi(void)
{
    return PYRT_ABI;
}

/* clone3 without a stack (fork-like). With cgroup_fd >= 0 the child is born in that
 * cgroup2 directory (CLONE_INTO_CGROUP): no migration, no global lock. */
static long clone3_fork(uint64_t flags, int *pidfd_out, int cgroup_fd)
{
    struct clone_args args;
    memset(&args, 0, sizeof(args));
    args.flags = flags | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)pidfd_out;
    args.exit_signal = SIGCHLD;
    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cgroup_fd;
    }
    return syscall(SYS_clone3, &args, sizeof(args));
}

/* Returns the child's pid, or -errno. */
int pyrt_spawn(const struct pyrt_plan *plan, int *pidfd_out)
{
    long pid;
    int own_pidns = -1;

    if (plan->pidns_fd >= 0) {
        /* Joining a pid namespace only affects children: enter it around clone. */
        own_pidns = (int)open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (own_pidns < 0)
            return -errno;
        if (setns(plan->pidns_fd, CLONE_NEWPID) < 0) {
            int e = errno;
            close(own_pidns);
            return -e;
        }
    }
    pid = clone3_fork(plan->clone_flags, pidfd_out, plan->cgroup_fd);
    if (pid == 0)
        child_main(plan);
    if (own_pidns >= 0) {
        int e = errno;
        setns(own_pidns, CLONE_NEWPID);
        close(own_pidns);
        errno = e;
    }
    return pid < 0 ? -errno : (int)pid;
}

/* Run a program inside some namespaces of process `pid` (hooks that the spec runs in the
 * container's namespaces). The child is non-dumpable before it joins anything. */
int pyrt_spawn_in_ns(int pid, int nstypes, const char *path, char **argv, char **envp,
                     int stdin_fd, int stdout_fd, int stderr_fd, int *pidfd_out)
{
    int target = (int)syscall(SYS_pidfd_open, pid, 0);
    long child;
    if (target < 0)
        return -errno;
    child = clone3_fork(0, pidfd_out, -1);
    if (child == 0) {
        reset_signals();
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (nstypes && setns(target, nstypes) < 0)
            _exit(126);
        if ((stdin_fd >= 0 && dup2(stdin_fd, 0) < 0) || (stdout_fd >= 0 && dup2(stdout_fd, 1) < 0) ||
            (stderr_fd >= 0 && dup2(stderr_fd, 2) < 0))
            _exit(126);
        syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
        execve(path, argv, envp);
        _exit(127);
    }
    close(target);
    return child < 0 ? -errno : (int)child;
}

int pyrt_set_dumpable(int on)
{
    return prctl(PR_SET_DUMPABLE, on ? 1 : 0, 0, 0, 0) < 0 ? -errno : 0;
}

/* A SOCK_SEQPACKET pair, both ends close-on-exec (cheaper than importing `socket`). */
int pyrt_socketpair(int *fds)
{
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0 ? -errno : 0;
}

/* Swap two paths atomically (renameat2 RENAME_EXCHANGE): 0 or -errno. */
int pyrt_rename_exchange(const char *a, const char *b)
{
    return syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) < 0 ? -errno : 0;
}

/* Receive one record (and an fd passed with it, else *fd_out = -1). Returns 1, 0 at EOF,
 * or -errno. */
int pyrt_recv_record(int sock, struct pyrt_record *rec, int *fd_out)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov;
    struct msghdr msg;
    struct cmsghdr *cmsg;
    ssize_t n;
    *fd_out = -1;
    memset(&msg, 0, sizeof(msg));
    iov.iov_base = rec;
    iov.iov_len = sizeof(*rec);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof(ctl.buf);
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg))
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
            memcpy(fd_out, CMSG_DATA(cmsg), sizeof(int));
    if (n == 0)
        return 0;
    return n == (ssize_t)sizeof(*rec) ? 1 : -EPROTO;
}

static int write_file(const char *path, const char *text)
{
    int fd = (int)open(path, O_WRONLY | O_CLOEXEC), rc;
    if (fd < 0)
        return -1;
    rc = write_all(fd, text, str_len(text));
    close(fd);
    return rc;
}

/* A user namespace with the given mappings, as an fd (for idmapped mounts). A child is
 * cloned into a new user namespace, waits while we write its maps and open its namespace,
 * then exits. Returns the fd or -errno. */
int pyrt_make_userns(const char *uid_map, const char *gid_map)
{
    char path[64], num[16];
    int pipefd[2], pidfd = -1, nsfd = -1, err = 0, i = 0, n = 0, pid_copy;
    long pid;
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -errno;
    pid = clone3_fork(CLONE_NEWUSER, &pidfd, -1);
    if (pid == 0) {
        char c;
        close(pipefd[1]);
        while (read(pipefd[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(pipefd[0]);
    if (pid < 0) {
        err = errno;
        close(pipefd[1]);
        return -err;
    }
    /* "/proc/<pid>/" without snprintf */
    pid_copy = (int)pid;
    do {
        num[n++] = (char)('0' + pid_copy % 10);
        pid_copy /= 10;
    } while (pid_copy > 0);
    memcpy(path, "/proc/", 6);
    i = 6;
    while (n > 0)
        path[i++] = num[--n];
    memcpy(path + i, "/gid_map", 9);
    if (write_file(path, gid_map) < 0)
        err = errno;
    memcpy(path + i, "/uid_map", 9);
    if (!err && write_file(path, uid_map) < 0)
        err = errno;
    memcpy(path + i, "/ns/user", 9);
    if (!err && (nsfd = (int)open(path, O_RDONLY | O_CLOEXEC)) < 0)
        err = errno;
    close(pipefd[1]);
    while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (pidfd >= 0)
        close(pidfd);
    return err ? -err : nsfd;
}
