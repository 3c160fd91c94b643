/* pyrt.h - the plan the parent hands to the container's init, and the shim's entry points.
 *
 * This file is read twice: by the C compiler, and by cffi's cdef() parser, so it holds only
 * declarations cdef understands (no #include, no macros with expressions).
 *
 * The child (the container's init between clone and execve) reads nothing but this plan:
 * every string, array and number is prepared by the Python parent, so the child needs no
 * allocation and calls only async-signal-safe functions and raw syscalls.
 */

#define PYRT_ABI 1
#define PYRT_MAX_NS 8

/* Steps of the child's setup, in the order they run. A failure is reported to the
 * parent as struct pyrt_record {abi, errno, step, index}; pyruntime.shim.Step mirrors this. */
enum pyrt_step {
    PYRT_STEP_READY = 0,       /* not an error: setup done, init waits for start */
    PYRT_STEP_HOOKS = 1,       /* not an error: mounts done, parent runs create* hooks */
    PYRT_STEP_SYNC = 2,
    PYRT_STEP_SETNS = 3,
    PYRT_STEP_UNSHARE = 4,
    PYRT_STEP_TIMENS = 5,
    PYRT_STEP_AFFINITY = 6,
    PYRT_STEP_OOM_SCORE = 7,
    PYRT_STEP_ROOT_PROPAGATION = 8,
    PYRT_STEP_ROOTFS = 9,
    PYRT_STEP_OP = 10,         /* index = plan op index */
    PYRT_STEP_FIFO = 11,
    PYRT_STEP_HOSTNAME = 12,
    PYRT_STEP_DOMAINNAME = 13,
    PYRT_STEP_PIVOT = 14,
    PYRT_STEP_ROOT_READONLY = 15,
    PYRT_STEP_CONSOLE = 16,
    PYRT_STEP_RLIMIT = 17,     /* index = rlimit index */
    PYRT_STEP_PERSONALITY = 18,
    PYRT_STEP_SCHEDULER = 19,
    PYRT_STEP_IOPRIO = 20,
    PYRT_STEP_CAPBSET = 21,
    PYRT_STEP_SETGROUPS = 22,
    PYRT_STEP_SETGID = 23,
    PYRT_STEP_SETUID = 24,
    PYRT_STEP_CAPSET = 25,
    PYRT_STEP_AMBIENT = 26,
    PYRT_STEP_NO_NEW_PRIVS = 27,
    PYRT_STEP_CWD = 28,
    PYRT_STEP_EXEC_LOOKUP = 29, /* index = candidate index, or -1: not found in PATH */
    PYRT_STEP_SECCOMP = 30,
    PYRT_STEP_WAIT_START = 31,
    PYRT_STEP_FDS = 32,
    PYRT_STEP_EXEC = 33,
    PYRT_STEP_CLONE = 34,
    PYRT_STEP_CGROUP = 35,     /* index = tasks fd index */
    PYRT_STEP_LOOPBACK = 36,
    PYRT_STEP_LSM = 37
};

/* Filesystem operations, run in order inside the new mount namespace before pivot_root.
 * Every path is absolute *inside the rootfs* and is resolved with openat2(RESOLVE_IN_ROOT),
 * so a symlink in the rootfs can never send an operation outside of it. */
enum pyrt_op_kind {
    PYRT_OP_MKDIR = 1,      /* mkdir -p path (mode) */
    PYRT_OP_MKFILE = 2,     /* mkdir -p dirname, create empty file (bind target) */
    PYRT_OP_MOUNT = 3,      /* mount(source, path, fstype, mflags, data) */
    PYRT_OP_BIND = 4,       /* bind host path source on path; mflags & MS_REC for rbind */
    PYRT_OP_REMOUNT = 5,    /* mount(NULL, path, NULL, MS_REMOUNT|mflags) keeping locked flags */
    PYRT_OP_PROPAGATE = 6,  /* mount(NULL, path, NULL, mflags) with a propagation flag */
    PYRT_OP_SETATTR = 7,    /* mount_setattr(path, AT_RECURSIVE, attr_set, attr_clr) */
    PYRT_OP_MKNOD = 8,      /* mknod path mode dev, chown uid gid */
    PYRT_OP_SYMLINK = 9,    /* symlink source -> path */
    PYRT_OP_MASK = 10,      /* hide path: /dev/null over a file, read-only tmpfs over a dir */
    PYRT_OP_READONLY = 11,  /* bind path on itself read-only */
    PYRT_OP_SYSCTL = 12,    /* write source to the host-side /proc/sys path (our namespaces) */
    PYRT_OP_CHMOD = 13,     /* chmod path mode (e.g. the tmpfs at /dev) */
    PYRT_OP_IDMAP_BIND = 14 /* bind source on path through an idmapped mount (userns_fd) */
};

#define PYRT_OPT_OPTIONAL 1 /* a missing path is not an error */

struct pyrt_op {
    int kind;
    int options;
    const char *path;
    const char *source;
    const char *fstype;
    const char *data;
    unsigned long mflags;
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    unsigned int mode;
    uint64_t dev;
    unsigned int uid;
    unsigned int gid;
    int userns_fd;
};

struct pyrt_rlimit {
    int resource;
    uint64_t soft;
    uint64_t hard;
};

/* One message the child sends: 16 bytes, written atomically. */
struct pyrt_record {
    uint32_t abi;
    int32_t err;
    uint32_t step;
    int32_t index;
};

struct pyrt_plan {
    /* namespaces */
    uint64_t clone_flags;          /* CLONE_NEW* created by clone3 */
    uint64_t unshare_flags;        /* CLONE_NEWCGROUP / CLONE_NEWTIME, after the cgroup join */
    int join_fds[8];               /* namespaces to setns, in order (user first) */
    int join_types[8];
    int n_join;
    int pidns_fd;                  /* pid namespace to join, -1: none (done around clone) */
    const char *timens_offsets;    /* "monotonic 10 0\nboottime ..." or NULL */

    /* sync */
    int sync_fd;                   /* child's end of the SEQPACKET pair */
    int want_hooks;                /* stop after the mounts for createRuntime/createContainer */

    /* filesystem */
    const char *rootfs;            /* absolute host path */
    const char *rootfs_parent_mount; /* mount point holding rootfs: made private for pivot_root */
    unsigned long root_propagation;  /* mount flags on "/" before anything else */
    unsigned long rootfs_propagation; /* linux.rootfsPropagation applied after pivot, 0: none */
    int root_readonly;
    int no_pivot;
    struct pyrt_op *ops;
    int n_ops;
    const char *fifo_path;         /* exec.fifo in the state dir, NULL: no wait (run) */

    /* identity and host-visible settings */
    const char *hostname;
    const char *domainname;
    const char *oom_score_adj;     /* decimal string or NULL */
    unsigned char *cpu_initial;    /* cpu_set_t bytes or NULL */
    unsigned char *cpu_final;
    int cpu_set_size;

    /* process */
    struct pyrt_rlimit *rlimits;
    int n_rlimits;
    long personality;              /* -1: none */
    unsigned char *sched_attr;     /* struct sched_attr bytes or NULL */
    int sched_attr_size;
    int ioprio;                    /* -1: none */
    int set_user;                  /* 0: keep ids (rootless without mapping) */
    unsigned int uid;
    unsigned int gid;
    unsigned int *groups;
    int n_groups;
    int set_groups;                /* setgroups() allowed */
    int umask;
    uint64_t cap_bounding;
    uint64_t cap_effective;
    uint64_t cap_permitted;
    uint64_t cap_inheritable;
    uint64_t cap_ambient;
    int set_caps;
    int last_cap;
    int no_new_privs;
    unsigned char *seccomp_bpf;    /* struct sock_filter[] bytes, NULL: none */
    int seccomp_len;               /* number of instructions */
    unsigned int seccomp_flags;
    int seccomp_early;             /* load before dropping privileges (no no_new_privs: needs CAP_SYS_ADMIN) */
    const char *cwd;
    const char **exec_candidates;  /* absolute paths inside the container, tried in order */
    int n_candidates;
    char **argv;
    char **envp;
    int keep_fds;                  /* fds 0 .. keep_fds-1 survive into the container */
    int console_socket;            /* -1, or a connected socket to send the pty master to */
    unsigned short console_rows;
    unsigned short console_cols;
    int mount_console;             /* bind the pty slave on /dev/console */
    int join_only;                 /* exec: join the namespaces of a running container, no rootfs work */
    int stdio[3];                  /* fds to become 0, 1, 2 (-1: keep the inherited one) */
    int become_root;               /* in a new or joined user namespace: setresuid/gid(0) */
    int await_go;                  /* wait for GO first: the parent writes our uid/gid maps */
    int cgroup_fd;                 /* cgroup2 dir for CLONE_INTO_CGROUP, -1: none */
    int loopback_up;               /* a new network namespace: bring `lo` up (runc does) */
    const char *lsm_attr_path;     /* /proc/self/attr/... for the LSM exec label, or NULL */
    const char *lsm_attr_value;
    int nondumpable;               /* the waiting init hides /proc/PID/exe (root runtimes) */
    int *tasks_fds;                /* cgroup v1 `tasks` files: the child writes "0" to each */
    int n_tasks_fds;
};

int pyrt_abi(void);
int pyrt_spawn(const struct pyrt_plan *plan, int *pidfd_out);
int pyrt_spawn_in_ns(int pid, int nstypes, const char *path, char **argv, char **envp,
                     int stdin_fd, int stdout_fd, int stderr_fd, int *pidfd_out);
int pyrt_set_dumpable(int on);
int pyrt_socketpair(int *fds);
int pyrt_rename_exchange(const char *a, const char *b);
int pyrt_recv_record(int sock, struct pyrt_record *rec, int *fd_out);
int pyrt_make_userns(const char *uid_map, const char *gid_map);

/* cgroup v2 device filter (csrc/bpfdev.c): where pyrt_bpf_set_device_program failed */
enum pyrt_bpf_stage { PYRT_BPF_LOAD = 1, PYRT_BPF_QUERY, PYRT_BPF_ATTACH, PYRT_BPF_DETACH };
int pyrt_bpf_set_device_program(int dirfd, const void *insns, uint32_t insn_cnt, char *log,
                                uint32_t log_size, int *stage);
int pyrt_bpf_device_programs(int dirfd, uint32_t *ids, uint32_t max_ids);
