"""Post-install tuning of the `pyruntime` launcher (run once by `.ci/setup`, never by the CLI).

`python3 -m pyruntime.install` with the interpreter pyruntime was installed for:

* the launcher gets a direct `#!<python> -IS` first line instead of pip's portable `/bin/sh`
  re-exec (one exec fewer on every call);
* the directory holding the installed package is written into the launcher, so that no
  path is computed or searched at start-up (and the launcher works from a venv, whose
  prefix isolated mode ignores), and so is the path of the module bundle;
* every module is compiled into that bundle (pyruntime.bundler; pyruntime.preload serves
  it), which also indexes the extension modules the hot paths load, and so is the
  launcher's code: the installed launcher is a stub that runs it from there (launcher_stub);
* the launcher runs this interpreter under another name, `pyruntime-python`, whose `._pth`
  file gives it a small start-up path (see make_start_interpreter).

Owns: those steps. Must not touch: anything at run time.
"""

from __future__ import annotations

import os
import sys
import sysconfig

from pyruntime import bundler, preload

PATH_LINE = "sys.path += "  # the template's search-path line, replaced by the exact dir
BUNDLE_LINE = '_BUNDLE = ""'  # the template's bundle line, replaced by the bundle's path
MARKER = "# The `pyruntime` command"  # in the template and the stub: a launcher of ours
# Extension modules outside the package that create/run/exec/state load (indexed by file).
HOT_EXTENSIONS = ("_json", "_cffi_backend")


def tuned_launcher(template: str, python: str, package_parent: str) -> str:
    """The launcher template's text for this installation, line for line (so that its
    compiled code's line numbers are the template's): a direct `#!python -IS` first line,
    the exact site directory and the bundle's path. ValueError if template is not ours."""
    lines = template.split("\n")
    where = [i for i, line in enumerate(lines) if line.startswith(PATH_LINE)]
    bundle_at = [i for i, line in enumerate(lines) if line == BUNDLE_LINE]
    if lines[0] != "#!/bin/sh" or len(where) != 1 or len(bundle_at) != 1:
        raise ValueError("not the pyruntime launcher template")
    lines[where[0]] = f"sys.path.append({package_parent!r})"
    bundle = os.path.join(package_parent, "pyruntime", preload.BUNDLE)
    lines[bundle_at[0]] = f"_BUNDLE = {bundle!r}"
    lines = ["" if line.startswith("_lib = ") else line for line in lines]
    lines[:2] = [f"#!{python} -IS", "# (tuned by python3 -m pyruntime.install)"]
    return "\n".join(lines)


def launcher_stub(python: str, bundle: str, template: str) -> str:
    """The installed launcher: runs the tuned launcher's code from the bundle's head (see
    bundler.build), or compiles the template when the bundle is not this interpreter's."""
    magic = preload.HEAD_AT - 8
    return f"""#!{python} -IS
{MARKER}, as `python3 -m pyruntime.install` wrote it: it runs the launcher
# template, tuned for this installation and compiled into the head of the module bundle, so
# that no call compiles it (0.1-0.2 ms); see pyruntime/preload.py and pyruntime/install.py.
import marshal, posix, sys

try:
    _fd = posix.open({bundle!r}, posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        _HEAD = marshal.loads(posix.pread(
            _fd, int.from_bytes(posix.pread(_fd, 8, {magic}), "little"), {preload.HEAD_AT}))
    finally:
        posix.close(_fd)
    _code = _HEAD[3] if _HEAD[0] == sys.hexversion else None
except (OSError, EOFError, ValueError, TypeError, IndexError):
    _code = None
if _code is None:  # a bundle from another build or interpreter: the template, compiled
    sys.path.append({os.path.dirname(os.path.dirname(bundle))!r})
    with open({template!r}, "rb") as _f:
        _code = compile(_f.read(), {template!r}, "exec")
exec(_code)
"""


def write_launcher(path: str, text: str) -> None:
    """Replace the launcher at path by text, atomically, executable."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def install_launcher(path: str, stub: str, fallback: str) -> bool:
    """Install stub as the launcher at path if `path --version` then works, else fallback;
    True for the stub."""
    import subprocess

    write_launcher(path, stub)
    got = subprocess.run([path, "--version"], capture_output=True, text=True)
    if got.returncode == 0 and got.stdout.startswith("pyruntime version"):
        return True
    write_launcher(path, fallback)
    return False


START_PYTHON = "pyruntime-python"  # the launcher's name for this interpreter (+ "._pth")
BOOT_DIR = "lib/pyruntime-boot"  # under sys.prefix: the modules every start-up imports
STANDARD_LINE = 'STANDARD = ""'  # boot_encodings.py's line for the standard encodings dir


def make_boot_encodings(boot: str, standard_dir: str) -> None:
    """boot/encodings: pyruntime/boot_encodings.py as its __init__ (told where the standard
    package is) and a copy of the standard utf_8 module, both compiled."""
    import py_compile

    from pyruntime import boot_encodings

    with open(boot_encodings.__file__, encoding="utf-8") as f:
        text = f.read()
    if text.count(f"\n{STANDARD_LINE}") != 1:
        raise ValueError(f"{boot_encodings.__file__}: no {STANDARD_LINE!r} line")
    text = text.replace(f"\n{STANDARD_LINE}", f"\nSTANDARD = {standard_dir!r}")
    with open(os.path.join(standard_dir, "utf_8.py"), encoding="utf-8") as f:
        files = {"__init__.py": text, "utf_8.py": f.read()}
    os.makedirs(os.path.join(boot, "encodings"))
    for name, content in files.items():
        path = os.path.join(boot, "encodings", name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
        py_compile.compile(path, doraise=True)


def make_start_interpreter(scripts: str, prefix: str, package_parent: str) -> str | None:
    """This interpreter under the name scripts/pyruntime-python with a `._pth` file; the
    name, or None (and nothing left behind) when that does not work here.

    Python reads `<name>._pth` next to the name it was started by: its lines become
    sys.path, exactly (isolated mode is implied). Ours starts with a directory holding only
    the `encodings` package every start-up imports (make_boot_encodings), so that start-up
    lists that directory instead of the standard library's ~200 entries and encodings' ~120
    (0.3 ms a call) and does not load the alias table (0.35 ms). The standard library's own
    directories and the package's parent follow, as before.
    """
    import encodings
    import shutil
    import subprocess

    real = os.path.realpath(sys.executable)
    probe = "import sys; print('\\n'.join(sys.path))"
    stdlib = [p for p in subprocess.run([real, "-I", "-S", "-c", probe], check=True,
                                        capture_output=True, text=True).stdout.splitlines()
              if os.path.isdir(p)]
    boot = os.path.join(prefix, BOOT_DIR)
    link = os.path.join(scripts, START_PYTHON)
    shutil.rmtree(boot, ignore_errors=True)
    make_boot_encodings(boot, os.path.dirname(os.path.abspath(encodings.__file__)))
    with open(link + "._pth", "w") as f:
        f.write("\n".join([boot, *stdlib, package_parent]) + "\n")
    tmp = link + ".tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(real, tmp)
    os.replace(tmp, link)
    check = ("import sys, encodings; print(sys.path[0], encodings.__file__,"
             " 'encodings.aliases' in sys.modules)")
    got = subprocess.run([link, "-I", "-S", "-c", check], capture_output=True, text=True)
    if got.returncode == 0 and got.stdout.split() == [
            boot, os.path.join(boot, "encodings", "__init__.py"), "False"]:
        return link
    for path in (link, link + "._pth"):
        if os.path.lexists(path):
            os.unlink(path)
    shutil.rmtree(boot, ignore_errors=True)
    return None


def main() -> int:
    """Tune this interpreter's installed launcher and build the bundle."""
    import pyruntime

    package_dir = os.path.dirname(os.path.abspath(pyruntime.__file__))
    parent = os.path.dirname(package_dir)
    scripts = sysconfig.get_path("scripts")
    launcher = os.path.join(scripts, "pyruntime")
    template = os.path.join(package_dir, "cli", "bin", "pyruntime")
    python = make_start_interpreter(scripts, sys.prefix, parent) or sys.executable
    with open(template) as f:
        tuned = tuned_launcher(f.read(), python, parent)
    n = bundler.build(package_dir, HOT_EXTENSIONS, compile(tuned, template, "exec"))
    print(f"pyruntime: {n} modules bundled in {os.path.join(package_dir, preload.BUNDLE)}")
    if os.path.exists(launcher):
        with open(launcher) as f:
            ours = MARKER in f.read()
        if ours:
            stub = launcher_stub(python, os.path.join(package_dir, preload.BUNDLE), template)
            how = "from the bundle" if install_launcher(launcher, stub, tuned) else "compiled"
            print(f"pyruntime: launcher {launcher} runs {python} -IS ({how})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
