"""cffi build script for pyruntime._libseccomp (out-of-line API mode, links libseccomp).

Owns: which parts of libseccomp (and of <linux/seccomp.h>) Python can call to compile an OCI
seccomp profile into classic BPF in the parent process.
Must not touch: policy (pyruntime/seccomp.py decides what to build) and the child, which only
loads the exported program with seccomp(2) and never links libseccomp.
"""

from __future__ import annotations

from cffi import FFI

# Only the libseccomp entry points pyruntime.seccomp uses. Enum values and macros are filled in
# by the compiler (the "..." forms), so nothing here restates a kernel or libseccomp number.
CDEF = """
typedef void *scmp_filter_ctx;
typedef uint64_t scmp_datum_t;

struct scmp_version { unsigned int major; unsigned int minor; unsigned int micro; };

enum scmp_filter_attr {
    SCMP_FLTATR_ACT_DEFAULT, SCMP_FLTATR_ACT_BADARCH, SCMP_FLTATR_CTL_NNP,
    SCMP_FLTATR_CTL_TSYNC, SCMP_FLTATR_API_TSKIP, SCMP_FLTATR_CTL_LOG, SCMP_FLTATR_CTL_SSB,
    SCMP_FLTATR_CTL_OPTIMIZE, SCMP_FLTATR_API_SYSRAWRC, ...
};

enum scmp_compare {
    SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT,
    SCMP_CMP_MASKED_EQ, ...
};

struct scmp_arg_cmp {
    unsigned int arg;
    enum scmp_compare op;
    scmp_datum_t datum_a;
    scmp_datum_t datum_b;
};

#define SCMP_ACT_KILL_PROCESS ...
#define SCMP_ACT_KILL_THREAD ...
#define SCMP_ACT_KILL ...
#define SCMP_ACT_TRAP ...
#define SCMP_ACT_NOTIFY ...
#define SCMP_ACT_LOG ...
#define SCMP_ACT_ALLOW ...
#define __NR_SCMP_ERROR ...

#define SECCOMP_FILTER_FLAG_TSYNC ...
#define SECCOMP_FILTER_FLAG_LOG ...
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW ...
#define SECCOMP_FILTER_FLAG_NEW_LISTENER ...
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ...
#define BPF_MAXINSNS ...

const struct scmp_version *seccomp_version(void);
unsigned int seccomp_api_get(void);
scmp_filter_ctx seccomp_init(uint32_t def_action);
void seccomp_release(scmp_filter_ctx ctx);
int seccomp_attr_set(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value);
uint32_t seccomp_arch_resolve_name(const char *arch_name);
uint32_t seccomp_arch_native(void);
int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_syscall_resolve_name(const char *name);
int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                           unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array);
int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);

uint32_t pyrt_scmp_act_errno(uint16_t code);
uint32_t pyrt_scmp_act_trace(uint16_t code);
int pyrt_seccomp_flags_probe(unsigned int flags);
"""

# SCMP_ACT_ERRNO/TRACE are function-like macros, so they get tiny wrappers. The probe asks the
# kernel whether it knows a set of filter flags without installing anything: with a NULL program
# the kernel checks the flags first (EINVAL if unknown) and only then faults copying the program
# (EFAULT), so EFAULT means "supported".
SOURCE = r"""
#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>

static uint32_t pyrt_scmp_act_errno(uint16_t code) { return SCMP_ACT_ERRNO(code); }
static uint32_t pyrt_scmp_act_trace(uint16_t code) { return SCMP_ACT_TRACE(code); }

static int pyrt_seccomp_flags_probe(unsigned int flags)
{
    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, NULL);
    if (rc < 0)
        return errno;
    return 0;
}
"""


def make_ffi() -> FFI:
    """Return the FFI builder for pyruntime._libseccomp."""
    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source(
        "pyruntime._libseccomp",
        SOURCE,
        libraries=["seccomp"],
        extra_compile_args=["-Wall", "-Wextra", "-Werror", "-O2", "-std=gnu11"],
    )
    return ffi


ffibuilder = make_ffi()

if __name__ == "__main__":
    import pathlib

    ffibuilder.compile(tmpdir=str(pathlib.Path(__file__).resolve().parent.parent), verbose=False)
