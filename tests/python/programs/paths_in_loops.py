# Output names made in a loop next to the tasks, the way pipelines name
# calibrated files: os.path.join, basename, splitext, dirname, normpath,
# isabs, commonpath/commonprefix, pathlib's Path(...), `/`, with_suffix,
# stem, suffix, name, parent, relative_to, as_posix, str() and f-strings of
# paths, paths as dict keys and sorted; names parsed with re (match, search,
# sub with flags, split, findall, escape, a compiled pattern, a match's
# groups and span); a task's own string joined to a directory; a call that
# fails (a bad suffix, an int given to join) raised at its iteration, and a
# failing task before it coming first; and code of the program reached
# through a path (a PathLike whose __fspath__ prints, given or a task's
# result, a Path subclass whose `/` prints, a function of the program as
# re.sub's replacement), which runs at its turn. These run no code of the
# program for strings and pathlib's own paths, so the loop does not wait for
# its tasks at each name; the output must be plain Python's either way.
import os
import pathlib
import re

from pydron import functional, schedule


@functional
def calib(name):
    return sum(map(ord, str(name))) % 97


@functional
def fails_at(name, bad):
    if name == bad:
        raise ValueError(f"bad file {name}")
    return len(name)


@functional
def loud(name):
    return Loud(name)


@functional
def tag(name):
    return "t" + str(len(name))


class Loud(os.PathLike):
    """A PathLike of the program: its __fspath__ prints."""

    def __init__(self, p):
        self.p = p

    def __fspath__(self):
        print("fspath", self.p)
        return self.p


class MyPath(type(pathlib.Path())):
    """A Path subclass whose `/` prints."""

    def __truediv__(self, other):
        print("join", other)
        return super().__truediv__(other)


@schedule
def names_by_os_path(files, out):
    res = {}
    for f in files:
        v = calib(f)
        stem, ext = os.path.splitext(os.path.basename(f))
        res[os.path.join(out, stem + "_cal" + ext)] = v
        print(os.path.dirname(f), os.path.normpath(out + "/./x/.."), os.path.isabs(f),
              os.path.split(f)[1], os.fspath(f))
    return res


@schedule
def names_by_pathlib(files, out):
    base = pathlib.Path(out)
    res = {}
    for f in files:
        p = pathlib.Path(f)
        v = calib(f)
        target = base / p.with_suffix(".npy").name
        res[target] = v
        print(p.stem, p.suffix, p.parent, target.relative_to(base), target.as_posix(),
              str(target), f"{target}", target.with_stem(p.stem + "_b").name,
              base.joinpath("sub", p.name), pathlib.PurePosixPath(f).match("*.fits"))
    return sorted(res.items())


@schedule
def task_strings_joined(files, out):
    res = []
    for f in files:
        res.append(os.path.join(out, tag(f)))
        res.append(pathlib.Path(out) / tag(f))
    return res


@schedule
def common_paths(files):
    vals = []
    for f in files:
        vals.append(calib(f))
        print(os.path.commonpath([f, files[0]]), os.path.commonprefix((f, files[-1])))
    return vals


@schedule
def program_pathlike(files):
    res = []
    for f in files:
        v = calib(f)
        print("value", v)
        res.append((os.path.join("/out", Loud(f)), v))
        print("value", v)
        res.append(os.path.join("/out", loud(f)))   # a task's PathLike
    return res


@schedule
def path_subclass(files):
    res = []
    base = MyPath("/out")
    for f in files:
        v = calib(f)
        print("value", v)
        res.append((str(base / os.path.basename(f)), v))
    return res


@schedule
def names_by_re(files):
    res = {}
    pat = re.compile(r"/(\w+?)(\d*)\.fits$")
    for f in files:
        v = calib(f)
        m = pat.search(f)
        m2 = re.match(r"/data/(\w+)/", f)
        key = re.sub(r"\.FITS$", ".cal", os.path.basename(f), flags=re.IGNORECASE)
        res[key] = (v, m.group(1), m.groups(), m.span(), m2.group(1) if m2 else None,
                    re.split(r"/", f, maxsplit=2), re.findall(r"\d", f), re.escape(f)[:8])
    return res


@schedule
def re_with_a_function_of_the_program(files):
    out = []
    for f in files:
        v = calib(f)
        print("value", v)
        out.append(re.sub(r"\w+", lambda m: (print("repl", m.group(0)), m.group(0).upper())[1],
                          os.path.basename(f)))
    return out


@schedule
def failing_task_then_names(files, bad):
    res = {}
    for f in files:
        v = fails_at(f, bad)
        res[pathlib.Path(f).with_suffix(".out")] = v
        print("named", pathlib.Path(f).name)
    return res


@schedule
def bad_suffix(files, at):
    res = []
    for i, f in enumerate(files):
        v = calib(f)
        res.append((pathlib.Path(f).with_suffix("npy" if i == at else ".npy"), v))
        print("kept", i)
    return res


@schedule
def failing_task_before_bad_join(files, bad):
    res = []
    for i, f in enumerate(files):
        v = fails_at(f, bad)
        res.append(os.path.join("/out", f if f != bad else 3))
        print("joined", i, v)
    return res


files = ["/data/raw/m31.fits", "/data/raw/m33.fits", "/data/raw/ngc253.fits", "/data/ic10.fits"]
for round_ in range(2):   # the second time with result categories learned
    print("round", round_)
    print(names_by_os_path(files, "/data/cal"))
    print(names_by_pathlib(files, "/data/cal"))
    print(task_strings_joined(files, "/out"))
    print(common_paths(files))
    print(names_by_re(files))
    print(re_with_a_function_of_the_program(files))
    print(program_pathlike(files))
    print(path_subclass(files))
    for fn, args in ((failing_task_then_names, (files, files[2])), (bad_suffix, (files, 2)),
                     (failing_task_before_bad_join, (files, files[1]))):
        try:
            print(fn(*args))
        except Exception as e:
            print(fn.__name__, "raised", type(e).__name__, e)
