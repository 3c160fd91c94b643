"""The launcher's module bundle: served while sources are unchanged, never stale code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyruntime import bundler, preload


def make_package(root: Path) -> Path:
    pkg = root / "bpkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("INIT = 'pkg'\n")
    (pkg / "a.py").write_text("VALUE = 'bundled a'\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from bpkg.a import VALUE\nB = VALUE + ' via b'\n")
    (pkg / "data.txt").write_text("next to the code\n")
    return pkg


def run_with_bundle(root: Path, code: str) -> str:
    """Run code in a fresh -I -S interpreter with the bundle for root/bpkg installed."""
    prelude = (f"import sys\nsys.path[:0] = [{str(root)!r}, {os.path.dirname(preload.__file__)!r}]\n"
               "import preload\n"
               f"assert preload.install({str(root / 'bpkg')!r})\n")
    return subprocess.run([sys.executable, "-I", "-S", "-c", prelude + code], check=True,
                          capture_output=True, text=True).stdout


def run_bundled(root: Path, modules: dict[str, str], code: str) -> str:
    """make_package plus `modules` ({file name: source}), bundled; code's output."""
    pkg = make_package(root)
    for name, source in modules.items():
        (pkg / name).write_text(source)
    bundler.build(str(pkg))
    return run_with_bundle(root, code)


def test_build_counts_modules(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    assert bundler.build(str(pkg)) == 4
    assert (pkg / preload.BUNDLE).read_bytes().startswith(b"pyrt-bundle-4\n")


def test_modules_come_from_the_bundle_with_real_locations(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    bundler.build(str(pkg))
    out = run_with_bundle(tmp_path, (
        "import bpkg.sub.b as b, bpkg\n"
        "print(b.B, type(b.__loader__).__name__, b.__file__ == "
        f"{str(pkg / 'sub' / 'b.py')!r}, bpkg.__path__ == [{str(pkg)!r}])\n"
        "print(open(bpkg.__path__[0] + '/data.txt').read().strip())\n"))
    assert out.splitlines() == ["bundled a via b BundleFinder True True", "next to the code"]


def test_bundled_imports_keep_importlib_semantics(tmp_path: Path) -> None:
    """The finder loads bundled modules itself (BundleFinder.find_and_load): the module
    attributes, parent binding, circular imports and failures are importlib's."""
    out = run_bundled(tmp_path, {
        "cyc1.py": "import bpkg.cyc2\nX = 1\n",
        "cyc2.py": "import bpkg.cyc1 as c1\nSEEN = hasattr(c1, 'X')\n",
        "bad.py": "import bpkg.a\nraise RuntimeError('boom')\n",
        "swap.py": "import sys\nsys.modules[__name__] = 'replaced'\n"}, (
        "import importlib, bpkg.sub.b as b, bpkg.cyc1, bpkg.swap\n"
        "s = b.__spec__\n"
        "print(s.name, s.origin == b.__file__, s.loader is b.__loader__, b.__package__,"
        " bpkg.sub.__package__, bpkg.sub.__spec__.submodule_search_locations =="
        " bpkg.sub.__path__, bpkg.sub.b is b, s._initializing,"
        " type(importlib._bootstrap._find_and_load.__self__).__name__)\n"
        "print(bpkg.cyc2.SEEN, bpkg.swap, importlib.import_module('bpkg.a').VALUE)\n"
        "try:\n    import bpkg.bad\nexcept RuntimeError as e:\n"
        "    print(e, 'bpkg.bad' in sys.modules, hasattr(bpkg, 'bad'))\n"
        "sys.modules['bpkg.a'] = None\n"
        "try:\n    import bpkg.a\nexcept ModuleNotFoundError as e:\n    print(e.name)\n"))
    assert out.splitlines() == [
        "bpkg.sub.b True True bpkg.sub bpkg.sub True True False BundleFinder",
        "False replaced bundled a",
        "boom False False",
        "bpkg.a"]


def test_an_edited_source_is_imported_normally(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    bundler.build(str(pkg))
    (pkg / "a.py").write_text("VALUE = 'edited a, longer'\n")
    out = run_with_bundle(tmp_path, "import bpkg.a as a\nprint(a.VALUE, type(a.__loader__).__name__)\n")
    assert out.strip() == "edited a, longer SourceFileLoader"


def test_a_deleted_source_is_not_served(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    bundler.build(str(pkg))
    (pkg / "sub" / "b.py").unlink()
    out = run_with_bundle(tmp_path, (
        "try:\n    import bpkg.sub.b\nexcept ImportError:\n    print('gone')\n"))
    assert out.strip() == "gone"


@pytest.mark.parametrize("content", [b"", b"not a bundle", b"pyrt-bundle-4\n\x00garbage",
                                     b"pyrt-bundle-4\n\x05\0\0\0\0\0\0\0\xe9\0\0\0\0",
                                     b"pyrt-bundle-2\n\x05\0\0\0\0\0\0\0\xe9\0\0\0\0"])
def test_a_missing_or_damaged_bundle_is_ignored(tmp_path: Path, content: bytes) -> None:
    pkg = make_package(tmp_path)
    assert preload.install(str(pkg)) is False
    (pkg / preload.BUNDLE).write_bytes(content)
    before = list(sys.meta_path)
    assert preload.install(str(pkg)) is False
    assert sys.meta_path == before


def test_a_bundle_cut_short_fails_the_import_cleanly(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    bundler.build(str(pkg))
    path = pkg / preload.BUNDLE
    path.write_bytes(path.read_bytes()[:-10])  # the last module's code is cut short
    out = run_with_bundle(tmp_path, (
        "import sys\nlast = max(sys.meta_path[0].index.items(), key=lambda kv: kv[1][4])[0]\n"
        "try:\n    __import__(last)\nexcept ImportError as e:\n"
        "    print('truncated at ' + last in str(e), last in sys.modules)\n"))
    assert out.split() == ["True", "False"]


def test_no_fd_stays_open(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    bundler.build(str(pkg))
    out = run_with_bundle(tmp_path, "import os, bpkg.sub.b\nprint(sorted(os.listdir('/proc/self/fd')))\n")
    assert out.strip() == "['0', '1', '2', '3']"  # stdio, and listdir's own fd


def test_install_tunes_the_launcher_template_line_for_line() -> None:
    from pyruntime import install

    template = (Path(preload.__file__).parent / "cli" / "bin" / "pyruntime").read_text()
    text = install.tuned_launcher(template, "/usr/bin/python3.11", "/opt/x/site-packages")
    assert text.startswith("#!/usr/bin/python3.11 -IS\n")
    assert "sys.path.append('/opt/x/site-packages')\n" in text
    assert "_BUNDLE = '/opt/x/site-packages/pyruntime/modules.bundle'\n" in text
    assert "_lib" not in text and "/bin/sh" not in text
    assert text.count("\n") == template.count("\n")  # tracebacks name the template's lines
    compile(text, "launcher", "exec")
    with pytest.raises(ValueError):
        install.tuned_launcher(text, "/usr/bin/python3.11", "/y")  # a template only


def test_bundled_modules_drop_annotations_without_importing_future(tmp_path: Path) -> None:
    out = run_bundled(tmp_path, {"ann.py": (
        '"""doc"""\n\nfrom __future__ import annotations\n\n\n'
        "def f(x: Undefined, *a: U, k: U = 1, **kw: U) -> AlsoUndefined:\n    return x\n\n\n"
        "class C:\n    __slots__: tuple[str, ...] = ('a',)\n    a: Undefined\n\n\n"
        "class OnlyAnnotated:\n    a: int\n\n\n"
        "def line() -> int:\n    import sys\n    v: Undefined = sys._getframe().f_lineno\n"
        "    return v\n")}, (
        "import bpkg.ann as a\n"
        "print(a.f.__annotations__, a.C.__slots__, '__annotations__' in vars(a.C),"
        " a.OnlyAnnotated.__dict__.get('__annotations__'), a.line(),"
        " '__future__' in sys.modules)\n"))
    assert out.strip() == "{} ('a',) False None 21 False"


def test_one_read_buffer_serves_nested_and_larger_modules(tmp_path: Path) -> None:
    # big.py (larger than the finder's first buffer) imports small.py while it runs: each
    # module's code is unmarshalled before the next read reuses the buffer
    out = run_bundled(tmp_path, {
        "small.py": "S = 'small'\n",
        "big.py": ("from bpkg import small\n"
                   f"BLOB = {'x' * 200_000!r}\n"
                   "from bpkg import tail\n"),
        "tail.py": "T = 'tail'\n"}, (
        "import bpkg.big as b\n"
        "print(len(b.BLOB), b.small.S, b.tail.T, type(b.__loader__).__name__)\n"))
    assert out.split() == ["200000", "small", "tail", "BundleFinder"]


def test_bundled_modules_drop_docstrings_but_keep_asserts_and_lines(tmp_path: Path) -> None:
    out = run_bundled(tmp_path, {"doc.py": (
        '"""module doc"""\n\n\n'
        'class OnlyDoc(Exception):\n    """class doc"""\n\n\n'
        'def f(x):\n    """f doc"""\n    assert x, "no x"\n'
        "    import sys\n    return sys._getframe().f_lineno\n")}, (
        "import bpkg.doc as d\n"
        "try:\n    d.f(0)\nexcept AssertionError as e:\n    print(e)\n"
        "print(d.__doc__, d.OnlyDoc.__doc__, d.f.__doc__, d.f(1),"
        " issubclass(d.OnlyDoc, Exception))\n"))
    assert out.splitlines() == ["no x", "None None None 12 True"]


def test_extension_modules_load_from_their_indexed_file(tmp_path: Path) -> None:
    import _json

    pkg = make_package(tmp_path)
    shutil.copy(_json.__file__, pkg / os.path.basename(_json.__file__))
    assert bundler.build(str(pkg), ["_json", "no_such_module", "sys"]) == 6
    probe = ("import bpkg._json as j, _json\n"
             "print(type(j.__loader__).__name__, j.__file__.rsplit('/', 2)[-2],"
             " sys.meta_path[0].find_spec('_json') is not None)\n")
    assert run_with_bundle(tmp_path, probe).split() == ["ExtensionFileLoader", "bpkg", "True"]
    with open(pkg / os.path.basename(_json.__file__), "ab") as f:
        f.write(b"\0")  # changed since the build: found by the normal path search instead
    out = run_with_bundle(tmp_path, "import bpkg._json as j\n"
                                    "print(sys.meta_path[0].find_spec('bpkg._json'), j.__name__)\n")
    assert out.split() == ["None", "bpkg._json"]


def fake_installed_pyruntime(root: Path) -> tuple[Path, str, bytes]:
    """A `pyruntime` package whose entry() reports how it and the launcher's code were
    loaded; returns the launcher installed as pyruntime.install does, its fallback text and
    the bundle."""
    from pyruntime import install

    (root / "pyruntime" / "cli" / "bin").mkdir(parents=True)
    (root / "pyruntime" / "__init__.py").write_text("")
    (root / "pyruntime" / "cli" / "__init__.py").write_text("")
    shutil.copy(preload.__file__, root / "pyruntime" / "preload.py")
    (root / "pyruntime" / "cli" / "main.py").write_text(
        "import sys\n\n\ndef entry():\n"
        "    main = vars(sys.modules['__main__'])\n"
        "    head = main.get('_HEAD')\n"
        "    from_head = type(head) is tuple and main['_code'] is head[3:4][0]\n"
        "    print(type(sys.modules[__name__].__loader__).__name__,\n"
        "          'pyruntime.preload' in sys.modules, from_head)\n")
    template = root / "pyruntime" / "cli" / "bin" / "pyruntime"
    shutil.copy(Path(preload.__file__).parent / "cli" / "bin" / "pyruntime", template)
    tuned = install.tuned_launcher(template.read_text(), sys.executable, str(root))
    bundler.build(str(root / "pyruntime"), (), compile(tuned, str(template), "exec"))
    launcher = root / "launcher"
    bundle = root / "pyruntime" / preload.BUNDLE
    launcher.write_text(install.launcher_stub(sys.executable, str(bundle), str(template)))
    return launcher, tuned, bundle.read_bytes()


def run_launcher(launcher: Path) -> list[str]:
    return subprocess.run([sys.executable, "-I", "-S", str(launcher)], check=True,
                          capture_output=True, text=True).stdout.split()


def test_the_installed_launcher_runs_its_code_and_finder_from_the_bundle_head(
        tmp_path: Path) -> None:
    launcher, _tuned, _bundle = fake_installed_pyruntime(tmp_path)
    # the launcher's code comes compiled from the head; preload is never imported as a module
    assert run_launcher(launcher) == ["BundleFinder", "False", "True"]


def test_the_tuned_launcher_text_starts_the_finder_from_the_bundle_head(tmp_path: Path) -> None:
    launcher, tuned, _bundle = fake_installed_pyruntime(tmp_path)
    launcher.write_text(tuned)  # what install leaves when the stub does not work
    assert run_launcher(launcher) == ["BundleFinder", "False", "False"]


@pytest.mark.parametrize("damage", ["missing", "truncated", "other-python", "no-launcher"])
def test_the_installed_launcher_without_its_bundle_runs_the_template(
        tmp_path: Path, damage: str) -> None:
    import marshal

    launcher, _tuned, bundle = fake_installed_pyruntime(tmp_path)
    path = tmp_path / "pyruntime" / preload.BUNDLE
    at = preload.HEAD_AT
    version, index, boot, code = marshal.loads(bundle[at:])
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(b"pyrt-bundle-4\n\x05\0\0\0\0\0\0\0\xe9\0\0\0\0")
    else:
        head = (version + 1, index, boot, code) if damage == "other-python" else \
            (version, index, boot, None)
        path.write_bytes(bundle[:at] + marshal.dumps(head))
    # the template, compiled: it imports pyruntime normally
    assert run_launcher(launcher) == ["SourceFileLoader", "True", "False"]


def start_interpreter(tmp_path: Path) -> tuple[str, Path]:
    """install.make_start_interpreter under tmp_path; (the interpreter, its boot dir)."""
    from pyruntime import install

    (tmp_path / "bin").mkdir()
    (tmp_path / "site").mkdir()
    python = install.make_start_interpreter(str(tmp_path / "bin"), str(tmp_path),
                                            str(tmp_path / "site"))
    assert python == str(tmp_path / "bin" / "pyruntime-python")
    return python, tmp_path / "lib" / "pyruntime-boot"


def test_start_interpreter_gets_a_small_path_and_every_codec(tmp_path: Path) -> None:
    python, boot = start_interpreter(tmp_path)
    assert sorted(p.name for p in (boot / "encodings").glob("*.py")) == ["__init__.py", "utf_8.py"]
    out = subprocess.run([python, "-I", "-S", "-c", (
        "import sys, codecs, encodings\n"
        "start = sorted(m for m in sys.modules if m.startswith('encodings'))\n"
        "print(sys.path[0], sys.path[-1], encodings.__file__, sys.flags.isolated, start,"
        " codecs.lookup('latin1').name, codecs.lookup('cp1252').name, 'json' in sys.modules)\n"
        "import json\n")], check=True, capture_output=True, text=True).stdout.split()
    assert out == [str(boot), str(tmp_path / "site"), str(boot / "encodings" / "__init__.py"),
                   "1", "['encodings',", "'encodings.utf_8']", "iso8859-1", "cp1252", "False"]


@pytest.mark.parametrize("first_use", [
    "codecs.lookup('latin-1')",
    "encodings.normalize_encoding('x')",
    "encodings.aliases",
    "__import__('encodings.aliases')",
    "__import__('encodings.idna')",
])
def test_boot_encodings_become_the_standard_package_on_first_other_use(
        tmp_path: Path, first_use: str) -> None:
    python, _boot = start_interpreter(tmp_path)
    probe = (
        "import sys, codecs, encodings\n"
        f"{first_use}\n"
        "normalized = encodings.normalize_encoding('Latin 1')\n"
        "search = encodings.search_function\n"
        "print(search.__code__.co_filename, normalized,"
        " encodings.aliases.aliases['u8'], encodings._cache is not None,"
        " hasattr(encodings, 'no_such_name'), issubclass(encodings.CodecRegistryError,"
        " LookupError), 'é'.encode('u8') == b'\\xc3\\xa9')\n"
        "codecs.unregister(search)\n"
        "try:\n"
        "    codecs.lookup('cp1252')\n"
        "except LookupError:\n"
        "    print('one-search-function')\n")
    out = subprocess.run([python, "-I", "-S", "-c", probe], check=True, capture_output=True,
                         text=True).stdout.split()
    import encodings

    assert out == [encodings.__file__, "Latin_1", "utf_8", "True", "False", "True", "True",
                   "one-search-function"]


def test_install_keeps_the_stub_only_when_it_answers(tmp_path: Path) -> None:
    from pyruntime import install

    launcher = tmp_path / "pyruntime"
    assert install.install_launcher(str(launcher), "#!/bin/sh\necho pyruntime version 9\n",
                                    "fallback")
    assert launcher.read_text().startswith("#!/bin/sh") and os.access(launcher, os.X_OK)
    assert not install.install_launcher(str(launcher), "#!/bin/false\n", "fallback")
    assert launcher.read_text() == "fallback"
