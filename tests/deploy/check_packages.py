#!/usr/bin/python3
"""The Debian package lists of scripts/install-deps.sh against docker/Dockerfile and the binaries.

check_packages.py lists SOURCE_DIR
    The Dockerfile's build stage installs exactly BUILD_PACKAGES and its runtime stage exactly
    RUNTIME_PACKAGES, and both images are built on the runtime stage.
check_packages.py libraries SOURCE_DIR BINARY...
    Every shared library the binaries load (ldd) belongs to a package that the runtime stage
    installs, directly or as a dependency (as installed here: dpkg's Depends and Pre-Depends), or
    to what the base image already has; and every runtime package ships a library they load,
    except ca-certificates (TLS trust roots are files, not libraries).
"""
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checks  # noqa: E402

BASE_IMAGE = {"libc6", "libgcc-s1", "libstdc++6"}  # in debian:12-slim (apt itself needs them)
NOT_LIBRARIES = {"ca-certificates"}


def script_arrays(path):
    """{array name: [packages]} of the `NAME=( ... )` blocks of a shell script."""
    arrays = {}
    for name, body in re.findall(r"^([A-Z_]+)=\(\n(.*?)^\)", open(path).read(), re.M | re.S):
        words = " ".join(line.split("#")[0] for line in body.splitlines()).split()
        arrays[name] = words
    return arrays


def dockerfile_stages(path):
    """{stage name: (FROM image, [packages apt-get installs])}."""
    text = open(path).read().replace("\\\n", " ")
    stages = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line.strip(), re.I)
        if match:
            current = match.group(2)
            stages[current] = (match.group(1), [])
        elif current and line.strip().startswith("RUN") and "apt-get install" in line:
            command = line.split("apt-get install", 1)[1].split("&&")[0]
            stages[current][1].extend(w for w in command.split() if not w.startswith("-"))
    return stages


def check_lists(checks, source_dir):
    arrays = script_arrays(os.path.join(source_dir, "scripts", "install-deps.sh"))
    stages = dockerfile_stages(os.path.join(source_dir, "docker", "Dockerfile"))
    for stage, array in (("build", "BUILD_PACKAGES"), ("runtime", "RUNTIME_PACKAGES")):
        script = arrays.get(array, [])
        image = stages.get(stage, ("", []))[1]
        checks.check(bool(script) and sorted(script) == sorted(image),
                     f"Dockerfile stage '{stage}' installs exactly {array}",
                     f"only in install-deps.sh: {sorted(set(script) - set(image))}\n"
                     f"only in the Dockerfile: {sorted(set(image) - set(script))}")
        checks.check(len(set(image)) == len(image), f"Dockerfile stage '{stage}' names each package once")
    for target in ("trainer", "inference"):
        checks.check(stages.get(target, ("",))[0] == "runtime", f"image '{target}' is built on the runtime stage")


def file_owners():
    """{path: package} from dpkg's file lists, read once (dpkg-query -S per file takes seconds).
    Keys drop a leading /usr: with the merged /usr, dpkg records /lib/... for some packages and
    /usr/lib/... for others, and ldd may print either."""
    owners = {}
    info = "/var/lib/dpkg/info"
    for name in os.listdir(info):
        if name.endswith(".list"):
            package = name[:-len(".list")].split(":")[0]
            for line in open(os.path.join(info, name), errors="replace"):
                owners[unmerged(line.rstrip("\n"))] = package
    return owners


def unmerged(path):
    return path[4:] if path.startswith("/usr/") else path


def installed_dependencies():
    """({package: [[alternative, ...], ...]}, {virtual name: {providers}}) of installed packages."""
    result = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Status}\t${Depends}\t"
                             "${Pre-Depends}\t${Provides}\n"], capture_output=True, text=True, check=True)
    depends, provides = {}, {}

    def names(field):
        return [[re.split(r"[\s(:]", alt.strip())[0] for alt in group.split("|")]
                for group in field.split(",") if group.strip()]
    for line in result.stdout.splitlines():
        package, status, dep, pre, prov = line.split("\t")
        if status != "installed":
            continue
        depends[package] = names(dep) + names(pre)
        for group in names(prov):
            provides.setdefault(group[0], set()).add(package)
    return depends, provides


def closure(roots, depends, provides):
    """Packages the roots pull in, taking the installed alternatives of each dependency."""
    seen, todo = set(), list(roots)
    while todo:
        package = todo.pop()
        if package in seen:
            continue
        seen.add(package)
        for group in depends.get(package, []):
            for alternative in group:
                for candidate in ({alternative} if alternative in depends else set()) | provides.get(alternative, set()):
                    todo.append(candidate)
    return seen


def check_libraries(checks, source_dir, binaries):
    runtime = script_arrays(os.path.join(source_dir, "scripts", "install-deps.sh")).get("RUNTIME_PACKAGES", [])
    files = file_owners()
    owners = {}
    for binary in binaries:
        result = subprocess.run(["ldd", binary], capture_output=True, text=True)
        if not checks.check(result.returncode == 0 and "not found" not in result.stdout,
                            f"ldd {os.path.basename(binary)}: every library resolves", result.stdout + result.stderr):
            continue
        for path in re.findall(r"=>\s*(/\S+)", result.stdout):
            owners[path] = files.get(unmerged(path)) or files.get(unmerged(os.path.realpath(path)))
    unowned = sorted(p for p, o in owners.items() if o is None)
    checks.check(not unowned, "every loaded library comes from a Debian package", "\n".join(unowned))

    depends, provides = installed_dependencies()
    available = closure(runtime, depends, provides) | closure(BASE_IMAGE, depends, provides)
    needed = {o for o in owners.values() if o}
    missing = sorted(needed - available)
    checks.check(not missing, f"the runtime packages bring all {len(needed)} packages the binaries load from",
                 "not installed by RUNTIME_PACKAGES or their dependencies: " + " ".join(missing))
    for package in runtime:
        if package not in NOT_LIBRARIES:
            checks.check(package in needed, f"runtime package {package} ships a library the binaries load")


def main():
    checks = Checks()
    if sys.argv[1] == "lists":
        check_lists(checks, sys.argv[2])
    else:
        check_libraries(checks, sys.argv[2], sys.argv[3:])
    checks.finish()


if __name__ == "__main__":
    main()
