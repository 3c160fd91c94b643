"""Post-install tuning of the `pyruntime` launcher (run once by `.ci/setup`, never by the CLI).

`python3 -m pyruntime.install` with the interpreter pyruntime was installed for:

* the launcher gets a direct `#!<python> -IS` first line instead of pip's portable `/bin/sh`
  re-exec (one exec fewer on every call);
* the directory holding the installed package is written into the launcher, so that no
  path is computed or searched at start-up (and the launcher works from a venv, whose
  prefix isolated mode ignores), and so is the path of the module bundle;
* every module is compiled into that bundle (pyruntime.preload), which also indexes the
  extension modules the hot paths load.

Owns: those three steps. Must not touch: anything at run time.
"""

from __future__ import annotations

import os
import sys
import sysconfig

from pyruntime import preload

PATH_LINE = "sys.path += "  # the template's search-path line, replaced by the exact dir
BUNDLE_LINE = '_BUNDLE = ""'  # the template's bundle line, replaced by the bundle's path
# Extension modules outside the package that create/run/exec/state load (indexed by file).
HOT_EXTENSIONS = ("_json", "_cffi_backend")


def tune_launcher(launcher: str, python: str, package_parent: str) -> bool:
    """Rewrite launcher in place; False when it is not our template (left alone)."""
    with open(launcher) as f:
        lines = f.read().split("\n")
    if not lines or lines[0] != "#!/bin/sh":
        return False
    where = [i for i, line in enumerate(lines) if line.startswith(PATH_LINE)]
    bundle_at = [i for i, line in enumerate(lines) if line == BUNDLE_LINE]
    if len(where) != 1 or len(bundle_at) != 1:
        return False
    lines[where[0]] = f"sys.path.append({package_parent!r})"
    bundle = os.path.join(package_parent, "pyruntime", preload.BUNDLE)
    lines[bundle_at[0]] = f"_BUNDLE = {bundle!r}"
    lines = [line for line in lines if not line.startswith("_lib = ")]
    lines[:2] = [f"#!{python} -IS"]
    tmp = launcher + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.chmod(tmp, 0o755)
    os.replace(tmp, launcher)
    return True


def main() -> int:
    """Tune this interpreter's installed launcher and build the bundle."""
    import pyruntime

    package_dir = os.path.dirname(os.path.abspath(pyruntime.__file__))
    launcher = os.path.join(sysconfig.get_path("scripts"), "pyruntime")
    if os.path.exists(launcher) and tune_launcher(launcher, sys.executable,
                                                  os.path.dirname(package_dir)):
        print(f"pyruntime: launcher {launcher} runs {sys.executable} -IS")
    n = preload.build(package_dir, HOT_EXTENSIONS)
    print(f"pyruntime: {n} modules bundled in {os.path.join(package_dir, preload.BUNDLE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
