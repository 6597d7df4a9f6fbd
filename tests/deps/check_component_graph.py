#!/usr/bin/env python3
"""Checks that core/'s include graph is the component graph core/CMakeLists.txt declares.

core/CMakeLists.txt declares each component with promptintern_component(<name> DEPS ...), in
dependency order. This check fails when
  - a component's DEPS name a component declared after it (an edge that goes up, or a cycle),
  - a file of core/<name>/ includes "core/<other>/..." and <other> is not in <name>'s DEPS, or a
    component declares a dependency none of its files includes (the graph would overstate),
  - a file of core/ includes the service layers (server/, client/, proto/, gRPC, prometheus-cpp),
  - a file of core/ includes a task kind (tasks/): core names no task, the kinds register themselves,
  - docs/ARCHITECTURE.md's component table (between its components:begin/end markers) is not
    the declared graph.
Usage: check_component_graph.py SOURCE_DIR
"""
import os
import re
import sys

# Libraries of core/ that are not promptintern_component()s: what each may include of core/.
BASE_LIBRARIES = {"file": "util", "platform": "platform", "simd": "kernels/simd"}
FORBIDDEN_IN_CORE = re.compile(r'#\s*include\s*[<"](server/|client/|proto/|grpc|grpcpp/|prometheus/)')
TASK_IN_CORE = re.compile(r'#\s*include\s*[<"]tasks/')
INCLUDE = re.compile(r'^\s*#\s*include\s*"core/([^/"]+)/')


def declared_components(cmake_text):
    """[(name, [deps])] in declaration order."""
    components = []
    for match in re.finditer(r"^promptintern_component\(([^)]*)\)", cmake_text, re.MULTILINE):
        words = match.group(1).split()
        name, deps, section = words[0], [], None
        for word in words[1:]:
            if word in ("DEPS", "LIBS"):
                section = word
            elif section == "DEPS":
                deps.append(word)
        components.append((name, deps))
    return components


def included_components(folder):
    """{component: [file that includes it]} for the .cc and .h files of folder (subfolders too)."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            if not name.endswith((".cc", ".h")):
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    match = INCLUDE.match(line)
                    if match:
                        found.setdefault(match.group(1), []).append(path)
    return found


def documented_components(architecture_text):
    block = re.search(r"<!-- components:begin -->(.*?)<!-- components:end -->", architecture_text, re.DOTALL)
    if not block:
        return None
    rows = []
    for line in block.group(1).splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0] or set(cells[0]) <= set("-: ") or cells[0] == "component":
            continue
        rows.append((cells[0], [dep.strip("` ") for dep in cells[1].split(",") if dep.strip("` ") not in ("", "-")]))
    return rows


def main():
    source = sys.argv[1]
    core = os.path.join(source, "core")
    with open(os.path.join(core, "CMakeLists.txt"), encoding="utf-8") as handle:
        components = declared_components(handle.read())
    problems = []
    if not components:
        problems.append("core/CMakeLists.txt declares no promptintern_component()")
    names = [name for name, _ in components]
    folders = sorted(entry for entry in os.listdir(core) if os.path.isdir(os.path.join(core, entry)))
    for folder in folders:
        if folder not in names and folder not in BASE_LIBRARIES and folder != "pch":
            problems.append(f"core/{folder}/ is not declared as a component in core/CMakeLists.txt")

    for library, folder in BASE_LIBRARIES.items():
        if library == "platform":  # platform is a folder of its own; it may include only itself
            for other, files in sorted(included_components(os.path.join(core, folder)).items()):
                if other != "platform":
                    problems.append(f"{files[0]} includes core/{other}/ but core/platform/ may include nothing of core/")

    seen = set(BASE_LIBRARIES)
    for name, deps in components:
        for dep in deps:
            if dep not in seen:
                where = "declared after it" if dep in names else "not a component"
                problems.append(f"component '{name}' depends on '{dep}', {where}: a dependency must be declared above its user")
        seen.add(name)
        included = included_components(os.path.join(core, name))
        for other, files in sorted(included.items()):
            if other == name:
                continue
            if other == "kernels" and name == "kernels":
                continue
            if other not in deps:
                problems.append(f"{files[0]} includes core/{other}/ but component '{name}' does not declare DEPS {other}")
        for dep in deps:
            library_folder = BASE_LIBRARIES.get(dep)
            target = library_folder.split("/")[0] if library_folder else dep
            if target != name and target not in included:
                problems.append(f"component '{name}' declares DEPS {dep} but none of its files includes core/{target}/")

    for root, _, files in os.walk(core):
        for file_name in files:
            if file_name.endswith((".cc", ".h")):
                path = os.path.join(root, file_name)
                with open(path, encoding="utf-8") as handle:
                    for number, line in enumerate(handle, 1):
                        if FORBIDDEN_IN_CORE.search(line):
                            problems.append(f"{path}:{number}: core/ includes a service layer: {line.strip()}")
                        if TASK_IN_CORE.search(line):
                            problems.append(f"{path}:{number}: core/ includes a task kind: {line.strip()}")

    with open(os.path.join(source, "docs", "ARCHITECTURE.md"), encoding="utf-8") as handle:
        documented = documented_components(handle.read())
    if documented is None:
        problems.append("docs/ARCHITECTURE.md has no component table between <!-- components:begin --> and <!-- components:end -->")
    else:
        expected = [(name, sorted(deps)) for name, deps in components]
        actual = [(name, sorted(deps)) for name, deps in documented]
        if expected != actual:
            problems.append("docs/ARCHITECTURE.md's component table differs from core/CMakeLists.txt; it should read:\n" +
                            "\n".join(f"| `{name}` | {', '.join(deps) or '-'} |" for name, deps in expected))

    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"{len(components)} components, dependencies declared, acyclic and downward; docs agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
