/*
 * cgroup v2 device filter: load a BPF_PROG_TYPE_CGROUP_DEVICE program and make it the only
 * device program of a cgroup. The program's instructions are generated in Python
 * (pyruntime/cgroups/bpfprog.py); this file only speaks bpf(2).
 *
 * The new program is attached (BPF_F_ALLOW_MULTI) before the programs it replaces are
 * detached, so the cgroup is never without a filter. Called by the runtime process, never by
 * the container's child.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pyrt.h"

static int sys_bpf(int cmd, union bpf_attr *attr)
{
    long r = syscall(SYS_bpf, cmd, attr, sizeof(*attr));
    return r < 0 ? -errno : (int)r;
}

int pyrt_bpf_device_programs(int dirfd, uint32_t *ids, uint32_t max_ids)
{
    union bpf_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = (uint32_t)dirfd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
    attr.query.prog_cnt = max_ids;
    int r = sys_bpf(BPF_PROG_QUERY, &attr);
    if (r == -EINVAL || r == -ENOENT)
        return 0; /* nothing attached (or a kernel without device programs here) */
    if (r < 0)
        return r;
    return attr.query.prog_cnt < max_ids ? (int)attr.query.prog_cnt : (int)max_ids;
}

static int load_program(const void *insns, uint32_t insn_cnt, char *log, uint32_t log_size)
{
    static const char license[] = "Apache";
    union bpf_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insn_cnt = insn_cnt;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.license = (uint64_t)(uintptr_t)license;
    attr.log_level = log_size ? 1 : 0; /* the verifier explains a rejection */
    attr.log_size = log_size;
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.expected_attach_type = BPF_CGROUP_DEVICE;
    memcpy(attr.prog_name, "pyrt_devices", sizeof("pyrt_devices"));
    return sys_bpf(BPF_PROG_LOAD, &attr);
}

static int attach_op(int cmd, int dirfd, int prog_fd, uint32_t flags)
{
    union bpf_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)dirfd;
    attr.attach_bpf_fd = (uint32_t)prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = flags;
    return sys_bpf(cmd, &attr);
}

static int prog_fd_by_id(uint32_t id)
{
    union bpf_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.prog_id = id;
    return sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
}

#define PYRT_MAX_DEVICE_PROGS 64

int pyrt_bpf_set_device_program(int dirfd, const void *insns, uint32_t insn_cnt, char *log,
                                uint32_t log_size, int *stage)
{
    uint32_t old[PYRT_MAX_DEVICE_PROGS];
    int n_old, prog, r = 0;

    *stage = PYRT_BPF_LOAD;
    prog = load_program(insns, insn_cnt, log, log_size);
    if (prog < 0)
        return prog;
    *stage = PYRT_BPF_QUERY;
    n_old = pyrt_bpf_device_programs(dirfd, old, PYRT_MAX_DEVICE_PROGS);
    if (n_old < 0) {
        r = n_old;
        goto out;
    }
    *stage = PYRT_BPF_ATTACH;
    r = attach_op(BPF_PROG_ATTACH, dirfd, prog, BPF_F_ALLOW_MULTI);
    if (r < 0)
        goto out;
    *stage = PYRT_BPF_DETACH;
    for (int i = 0; i < n_old; i++) {
        int old_fd = prog_fd_by_id(old[i]);
        if (old_fd < 0)
            continue; /* already gone */
        r = attach_op(BPF_PROG_DETACH, dirfd, old_fd, 0);
        close(old_fd);
        if (r == -ENOENT)
            r = 0;
        if (r < 0)
            goto out;
    }
out:
    close(prog);
    return r;
}
