"""config.md root and mounts, Linux mount options; config-linux.md default
filesystems and rootfs propagation.

Owns mount-related requirement tests.  Each option gets its own container so
one unsupported option cannot hide the others.  Recursive options need a host
bind source with submounts: the fixture mounts two small tmpfs on the host
under pytest's tmp dir and always unmounts them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance import harness
from conformance.conftest import Probe, ProbeFn
from conformance.harness import Bundle, MountEntry, Runtime
from conformance.marks import req, runc_bug

MNT = "/mnt/t"


def _mountinfo_probe(probe: ProbeFn, setup, extra: dict[str, str] | None = None,  # type: ignore[no-untyped-def]
                     key: str | None = None) -> Probe:
    items = {"mountinfo": "cat /proc/$$/mountinfo"}
    items.update(extra or {})
    return probe(items, setup, key=key)


def _entry(p: Probe, point: str = MNT) -> MountEntry:
    entry = harness.mount_at(p.mounts(), point)
    assert entry is not None, f"{point} not mounted:\n{p['mountinfo']}"
    return entry


def _flags(e: MountEntry) -> set[str]:
    return e.options | e.super_options


# --- root ---------------------------------------------------------------------------

@req("config.md#root", "readonly true: the root filesystem MUST be read-only inside the container")
def test_root_readonly_true_mounted_ro(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.config["root"]["readonly"] = True
    p = _mountinfo_probe(probe, setup, {"write": "touch /newfile && echo written"}, key="ro")
    assert "ro" in _entry(p, "/").options


@req("config.md#root", "readonly true: writes to the root filesystem fail")
def test_root_readonly_true_write_fails(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.config["root"]["readonly"] = True
    p = _mountinfo_probe(probe, setup, {"write": "touch /newfile && echo written"}, key="ro")
    assert "written" not in p["write"] and "Read-only" in p["write"], p["write"]


@req("config.md#root", "readonly defaults to false: the root filesystem is writable")
def test_root_readonly_false_writable(probe: ProbeFn) -> None:
    p = _mountinfo_probe(probe, None, {"write": "touch /newfile && echo written"})
    assert p["write"].strip() == "written"
    assert "rw" in _entry(p, "/").options


@req("config.md#root", "root.path MAY be an absolute path to the root filesystem")
def test_root_path_absolute(rt: Runtime, bundle: Bundle, cid: str, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "rootfs"
    harness.build_rootfs(other)
    (other / "marker").write_text("absolute")
    bundle.config["root"]["path"] = str(other)
    bundle.shell("cat /marker")
    bundle.write()
    res = rt.run(cid, bundle)
    assert res.ok and res.out.strip() == "absolute", str(res)


# --- mounts -----------------------------------------------------------------------

@req("config.md#mounts", "the runtime MUST mount entries in the listed order")
def test_mounts_in_listed_order(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.add_mount("/mnt/a", "tmpfs", "tmpfs", ["size=1m"])
        b.add_mount("/mnt/a/b", "tmpfs", "tmpfs", ["size=2m"])
        b.add_mount("/mnt/a/b/c", "tmpfs", "tmpfs", ["size=3m"])
    p = _mountinfo_probe(probe, setup)
    a, b, c = (_entry(p, x) for x in ("/mnt/a", "/mnt/a/b", "/mnt/a/b/c"))
    assert b.parent_id == a.mount_id and c.parent_id == b.mount_id


@req("config.md#mounts", "listed order: a later entry on the same destination covers the earlier")
def test_mounts_same_destination_last_wins(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.add_mount(MNT, "tmpfs", "tmpfs", ["size=1m"])
        b.add_mount(MNT, "tmpfs", "tmpfs", ["size=2m"])
    p = _mountinfo_probe(probe, setup)
    assert "size=2048k" in _entry(p).super_options


@req("config.md#mounts", "Linux: a relative destination MUST be interpreted as relative to /")
def test_mount_relative_destination(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.add_mount("mnt/rel", "tmpfs", "tmpfs", ["size=1m"])
    p = _mountinfo_probe(probe, setup)
    assert _entry(p, "/mnt/rel").fstype == "tmpfs"


@req("config.md#mounts", "destination: the mount point; type and source are mounted there")
def test_mount_tmpfs_type_and_source(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.add_mount(MNT, "tmpfs", "mysource", ["size=1m"])
    p = _mountinfo_probe(probe, setup)
    e = _entry(p)
    assert e.fstype == "tmpfs" and e.source == "mysource"


@req("config.md#linux-mount-options", "runtimes SHOULD pass unknown options as filesystem-specific")
@pytest.mark.parametrize("option,expect", [("size=3m", "size=3072k"), ("mode=711", "mode=711")])
def test_mount_filesystem_specific_option(probe: ProbeFn, option: str, expect: str) -> None:
    def setup(b: Bundle) -> None:
        b.add_mount(MNT, "tmpfs", "tmpfs", [option])
    p = _mountinfo_probe(probe, setup)
    assert expect in _entry(p).super_options


@req("config.md#linux-mount-options", "bind: MUST implement bind mounts")
def test_mount_bind_host_directory(probe: ProbeFn, tmp_path: Path) -> None:
    src = tmp_path / "bindsrc"
    src.mkdir()
    (src / "hello").write_text("from host")

    def setup(b: Bundle) -> None:
        b.add_mount(MNT, "none", str(src), ["bind"])
    p = _mountinfo_probe(probe, setup, {"read": f"cat {MNT}/hello"})
    assert p["read"].strip() == "from host"


@req("config.md#linux-mount-options", "bind mounts work for a single file source")
def test_mount_bind_host_file(probe: ProbeFn, tmp_path: Path) -> None:
    src = tmp_path / "file.txt"
    src.write_text("a file")

    def setup(b: Bundle) -> None:
        b.add_mount("/etc/bound.txt", "bind", str(src), ["bind", "ro"])
    p = _mountinfo_probe(probe, setup, {"read": "cat /etc/bound.txt"})
    assert p["read"].strip() == "a file"


# Options whose effect is a flag in mountinfo; (option, must contain, must not contain).
FLAG_OPTIONS: list[Any] = [
    ("ro", {"ro"}, {"rw"}),
    ("rw", {"rw"}, {"ro"}),
    ("nosuid", {"nosuid"}, set()),
    ("suid", set(), {"nosuid"}),
    ("nodev", {"nodev"}, set()),
    ("dev", set(), {"nodev"}),
    ("noexec", {"noexec"}, set()),
    ("exec", set(), {"noexec"}),
    ("noatime", {"noatime"}, {"relatime"}),
    ("atime", set(), {"noatime"}),
    ("relatime", {"relatime"}, {"noatime"}),
    ("strictatime", set(), {"noatime", "relatime"}),
    ("nodiratime", {"nodiratime"}, set()),
    ("diratime", set(), {"nodiratime"}),
    ("sync", {"sync"}, set()),
    ("async", set(), {"sync"}),
    ("dirsync", {"dirsync"}, set()),
    ("lazytime", {"lazytime"}, set()),
    ("nolazytime", set(), {"lazytime"}),
    pytest.param("defaults", {"rw"}, {"ro", "nosuid", "nodev", "noexec"},
                 marks=runc_bug("`defaults` is passed to mount(2) as data: EINVAL"),
                 id="defaults"),
    ("norelatime", set(), set()),
    ("nostrictatime", set(), set()),
    ("iversion", set(), set()),
    ("noiversion", set(), set()),
    ("loud", set(), set()),
    ("silent", set(), set()),
]


@req("config.md#linux-mount-options", "runtimes MUST implement the mount(8) option strings")
@pytest.mark.parametrize("option,present,absent",
                         [pytest.param(*o, id=o[0]) if type(o) is tuple else o
                          for o in FLAG_OPTIONS])
def test_mount_option(probe: ProbeFn, option: str, present: set[str], absent: set[str]) -> None:
    def setup(b: Bundle) -> None:
        b.add_mount(MNT, "tmpfs", "tmpfs", [option])
    e = _entry(_mountinfo_probe(probe, setup))
    assert present <= _flags(e), (option, _flags(e))
    assert not (absent & e.options), (option, e.options)


@req("config.md#linux-mount-options", "nosymfollow SHOULD be implemented (kernel 5.10+)")
def test_mount_option_nosymfollow(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.add_mount(MNT, "tmpfs", "tmpfs", ["nosymfollow"])
    e = _entry(_mountinfo_probe(probe, setup))
    assert "nosymfollow" in e.options


@req("config.md#linux-mount-options", "symfollow SHOULD be implemented (opposite of nosymfollow)")
def test_mount_option_symfollow(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.add_mount(MNT, "tmpfs", "tmpfs", ["symfollow"])
    e = _entry(_mountinfo_probe(probe, setup))
    assert "nosymfollow" not in e.options


@req("config.md#linux-mount-options", "remount: MUST implement remount (change flags of a mount)")
def test_mount_option_remount(probe: ProbeFn) -> None:
    def setup(b: Bundle) -> None:
        b.add_mount(MNT, "tmpfs", "tmpfs", ["size=1m"])
        b.add_mount(MNT, "tmpfs", "tmpfs", ["remount", "ro", "size=1m"])
    p = _mountinfo_probe(probe, setup)
    found = [e for e in p.mounts() if e.mountpoint == MNT]
    assert len(found) == 1 and "ro" in found[0].options, p["mountinfo"]


# --- propagation ----------------------------------------------------------------------

def _tags(e: MountEntry) -> set[str]:
    return {t.split(":")[0] for t in e.optional}


PROPAGATION = [
    ("shared", {"shared"}, set()),
    ("rshared", {"shared"}, set()),
    ("private", set(), {"shared", "master", "unbindable"}),
    ("rprivate", set(), {"shared", "master", "unbindable"}),
    ("slave", set(), {"shared", "unbindable"}),
    ("rslave", set(), {"shared", "unbindable"}),
    ("unbindable", {"unbindable"}, {"shared"}),
    ("runbindable", {"unbindable"}, {"shared"}),
]


@req("config.md#linux-mount-options", "bind mount propagation options MUST be implemented")
@pytest.mark.parametrize("option,present,absent", PROPAGATION, ids=[o[0] for o in PROPAGATION])
def test_mount_propagation_option(probe: ProbeFn, tmp_path: Path, option: str,
                                  present: set[str], absent: set[str]) -> None:
    src = tmp_path / "propsrc"
    src.mkdir()

    def setup(b: Bundle) -> None:
        b.add_mount(MNT, "bind", str(src), ["rbind", option])
    e = _entry(_mountinfo_probe(probe, setup))
    assert present <= _tags(e) and not (absent & _tags(e)), (option, e.optional)


@req("config-linux.md#rootfs-mount-propagation", "rootfsPropagation sets the rootfs mount propagation")
@pytest.mark.parametrize("mode,present,absent", [
    pytest.param("shared", {"shared"}, set(), id="shared",
                 marks=runc_bug("rootfs bind of a plain directory stays private")),
    pytest.param("slave", {"master"}, {"shared"}, id="slave",
                 marks=runc_bug("rootfs bind of a plain directory stays private")),
    pytest.param("private", set(), {"shared", "master"}, id="private"),
    pytest.param("unbindable", {"unbindable"}, {"shared"}, id="unbindable",
                 marks=runc_bug("create fails: EINVAL binding the rootfs of an unbindable /")),
])
def test_rootfs_propagation(probe: ProbeFn, mode: str, present: set[str],
                            absent: set[str]) -> None:
    if mode == "slave":
        host_root = harness.mount_at(
            harness.parse_mountinfo(harness.read_text("/proc/self/mountinfo")), "/")
        if host_root is None or not any(t.startswith("shared:") for t in host_root.optional):
            pytest.skip("the host / is not shared, so a slave rootfs has no master to follow")
    def setup(b: Bundle) -> None:
        b.linux["rootfsPropagation"] = mode
    e = _entry(_mountinfo_probe(probe, setup), "/")
    assert present <= _tags(e) and not (absent & _tags(e)), (mode, e.optional)


# --- recursive options ----------------------------------------------------------------

@pytest.fixture
def submounts(tmp_path: Path) -> Iterator[Path]:
    """Host dir with a plain tmpfs and a flagged tmpfs submount (unmounted after)."""
    src = tmp_path / "rsrc"
    plain, flagged = src / "plain", src / "flagged"
    plain.mkdir(parents=True)
    flagged.mkdir()
    mounted = []
    try:
        for d, opts in ((plain, "size=1m"),
                        (flagged, "size=1m,ro,nosuid,nodev,noexec,noatime,nodiratime,nosymfollow")):
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "cfsub", str(d)],
                               capture_output=True, text=True, check=False)
            if r.returncode != 0:
                pytest.skip(f"cannot mount a host tmpfs: {r.stderr.strip()}")
            mounted.append(d)
            subprocess.run(["mount", "--make-private", str(d)], capture_output=True, check=False)
        yield src
    finally:
        for d in reversed(mounted):
            subprocess.run(["umount", "-l", str(d)], capture_output=True, check=False)


# (option, submount it acts on, flag expected present, flag expected absent)
RECURSIVE = [
    ("rro", "plain", "ro", None),
    ("rrw", "flagged", "rw", "ro"),
    ("rnosuid", "plain", "nosuid", None),
    ("rsuid", "flagged", None, "nosuid"),
    ("rnodev", "plain", "nodev", None),
    ("rdev", "flagged", None, "nodev"),
    ("rnoexec", "plain", "noexec", None),
    ("rexec", "flagged", None, "noexec"),
    ("rnoatime", "plain", "noatime", None),
    ("ratime", "flagged", None, "noatime"),
    ("rnodiratime", "plain", "nodiratime", None),
    ("rdiratime", "flagged", None, "nodiratime"),
    ("rrelatime", "flagged", "relatime", "noatime"),
    ("rstrictatime", "flagged", None, "noatime"),
    ("rnosymfollow", "plain", "nosymfollow", None),
    ("rsymfollow", "flagged", None, "nosymfollow"),
]

_RUNC_NO_RATTR = {"ratime"}


def _recursive_params() -> list[Any]:
    out: list[Any] = []
    for opt, sub, present, absent in RECURSIVE:
        marks = []
        if opt in _RUNC_NO_RATTR:
            marks.append(runc_bug(f"recursive option {opt} is not supported"))
        out.append(pytest.param(opt, sub, present, absent, id=opt, marks=marks))
    return out


@req("config.md#linux-mount-options", "recursive r* options SHOULD apply to every submount")
@pytest.mark.parametrize("option,sub,present,absent", _recursive_params())
def test_mount_recursive_option(probe: ProbeFn, submounts: Path, option: str, sub: str,
                                present: str | None, absent: str | None) -> None:
    def setup(b: Bundle) -> None:
        b.add_mount(MNT, "bind", str(submounts), ["rbind", option])
    p = _mountinfo_probe(probe, setup)
    e = _entry(p, f"{MNT}/{sub}")
    if present:
        assert present in e.options, (option, e.options)
    if absent:
        assert absent not in e.options, (option, e.options)


@req("config.md#linux-mount-options", "rbind: MUST implement recursive bind mounts")
def test_mount_rbind_includes_submounts(probe: ProbeFn, submounts: Path) -> None:
    def setup(b: Bundle) -> None:
        b.add_mount(MNT, "bind", str(submounts), ["rbind"])
    p = _mountinfo_probe(probe, setup)
    assert _entry(p, f"{MNT}/plain").fstype == "tmpfs"


@req("config.md#linux-mount-options", "bind (non-recursive) does not carry submounts")
def test_mount_bind_excludes_submounts(probe: ProbeFn, submounts: Path) -> None:
    def setup(b: Bundle) -> None:
        b.add_mount(MNT, "bind", str(submounts), ["bind"])
    p = _mountinfo_probe(probe, setup)
    assert harness.mount_at(p.mounts(), f"{MNT}/plain") is None


# --- idmapped mounts ------------------------------------------------------------------

@runc_bug("the idmap option is not recognised and is silently ignored for bind mounts")
@req("config.md#linux-mount-options", "idmap without mappings and without a user namespace: an "
     "error MUST be returned")
def test_mount_idmap_without_userns_fails(rt: Runtime, bundle: Bundle, cid: str,
                                          tmp_path: Path) -> None:
    src = tmp_path / "idsrc"
    src.mkdir()
    bundle.add_mount(MNT, "bind", str(src), ["rbind", "idmap"])
    bundle.shell("true")
    bundle.write()
    assert not rt.create(cid, bundle).ok
    assert harness.leftovers(rt, cid, bundle) == []


# --- default filesystems ----------------------------------------------------------------

@req("config-linux.md#default-filesystems", "/proc, /sys, /dev/pts, /dev/shm SHOULD be available")
@pytest.mark.parametrize("point,fstype", [("/proc", "proc"), ("/sys", "sysfs"),
                                          ("/dev/pts", "devpts"), ("/dev/shm", "tmpfs")])
def test_default_filesystem_mounted(probe: ProbeFn, point: str, fstype: str) -> None:
    p = probe(key="std")
    assert _entry(p, point).fstype == fstype
