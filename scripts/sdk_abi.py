#!/usr/bin/env python3
"""The plugin SDK's C++ ABI, read from the debug information of the object file of a TU that includes every
SDK header (tests/abi/CMakeLists.txt builds it with g++ -g).

For every type the SDK declares (oft::sdk::*, and the C descriptor types Oft*) it lists the size, the bases
and data members with their offsets, the enumerators, and every virtual function with its vtable slot and
signature (pure ones too, which g++'s -fdump-lang-class shows only as __cxa_pure_virtual). A plugin built
against one layout and loaded by a host with another breaks, so the layout of each ABI version
(OFT_PLUGIN_ABI_MAJOR.MINOR in plugin_abi.h) is committed as sdk/abi/abi-<major>.<minor>.txt and the test
sdk_abi_matches_baseline compares the build with it.

  sdk_abi.py layout OBJECT                                  print the layout
  sdk_abi.py check  OBJECT PLUGIN_ABI_H BASELINE_DIR        fail unless it equals the baseline of the version
  sdk_abi.py record OBJECT PLUGIN_ABI_H BASELINE_DIR [--force]
                                                            write that baseline (refuses to change an existing
                                                            one unless --force: a released version's layout is
                                                            frozen; bump the version instead)
"""
import difflib
import re
import subprocess
import sys
from pathlib import Path

DIE = re.compile(r"^\s*<(\d+)><([0-9a-f]+)>: Abbrev Number: (\d+)(?: \((DW_TAG_\w+)\))?")
ATTRIBUTE = re.compile(r"^\s*<[0-9a-f]+>\s+(DW_AT_\w+)\s*: (.*)$")
STRING = re.compile(r"^\((?:indirect|indexed)[^)]*\): (.*)$")
TYPE_TAGS = {"DW_TAG_class_type": "class", "DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union",
             "DW_TAG_enumeration_type": "enum"}
SCOPE_TAGS = {"DW_TAG_namespace", *TYPE_TAGS}
LONG_STRING = "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >"


class Entry:
    __slots__ = ("tag", "attrs", "parent", "children")

    def __init__(self, tag, parent):
        self.tag, self.attrs, self.parent, self.children = tag, {}, parent, []


def read_debug_info(object_file):
    """The DIE tree of the object's debug information, by offset."""
    text = subprocess.run(["readelf", "--debug-dump=info", str(object_file)], check=True,
                          capture_output=True, text=True).stdout
    entries, stack = {}, []  # stack[depth] = the open entry at that depth
    current = None
    for line in text.splitlines():
        die = DIE.match(line)
        if die:
            depth, offset, tag = int(die[1]), int(die[2], 16), die[4]
            del stack[depth:]
            if tag is None:  # a null entry closes the children of depth - 1
                current = None
                continue
            parent = stack[depth - 1] if depth > 0 and len(stack) >= depth else None
            current = Entry(tag, parent)
            if parent is not None:
                parent.children.append(current)
            entries[offset] = current
            stack.append(current)
            continue
        attribute = ATTRIBUTE.match(line)
        if attribute and current is not None:
            value = attribute[2].strip()
            named = STRING.match(value)
            current.attrs[attribute[1]] = named[1] if named else value
    return entries


def qualified_name(entry):
    parts = []
    while entry is not None and entry.tag in SCOPE_TAGS | {"DW_TAG_typedef", "DW_TAG_base_type"}:
        parts.append(entry.attrs.get("DW_AT_name", "(anonymous)"))
        entry = entry.parent
    return "::".join(reversed(parts))


def reference(value):
    match = re.match(r"<0x([0-9a-f]+)>", value)
    return int(match[1], 16) if match else None


def type_name(entries, value):
    entry = entries.get(reference(value)) if value else None
    if entry is None:
        return "void"
    inner = lambda: type_name(entries, entry.attrs.get("DW_AT_type"))
    suffix = {"DW_TAG_pointer_type": "*", "DW_TAG_reference_type": "&", "DW_TAG_rvalue_reference_type": "&&"}
    if entry.tag in suffix:
        return inner() + suffix[entry.tag]
    if entry.tag == "DW_TAG_const_type":
        return inner() + " const"
    if entry.tag == "DW_TAG_volatile_type":
        return inner() + " volatile"
    if entry.tag == "DW_TAG_subroutine_type":
        return "function"
    return qualified_name(entry)


def number(value):
    match = re.search(r"DW_OP_constu: (\d+)", value) or re.match(r"(-?\d+)", value)
    return int(match[1])


def demangle(names):
    if not names:
        return {}
    out = subprocess.run(["c++filt"], input="\n".join(names), check=True, capture_output=True, text=True).stdout
    return {name: out.replace(LONG_STRING, "std::string").replace(" >", ">") for name, out in zip(names, out.splitlines())}


def is_sdk_type(name):
    return (name.startswith("oft::sdk::") and not name.startswith("oft::sdk::detail::")) or name.startswith("Oft")


def layout(object_file):
    """The SDK types' layouts as text, one type after another, sorted by name."""
    entries = read_debug_info(object_file)
    types = {}
    for entry in entries.values():
        if entry.tag in TYPE_TAGS and "DW_AT_declaration" not in entry.attrs and "DW_AT_name" in entry.attrs:
            name = qualified_name(entry)
            if is_sdk_type(name):
                types.setdefault(name, entry)
    linkage = [c.attrs["DW_AT_linkage_name"] for e in types.values() for c in e.children
               if c.tag == "DW_TAG_subprogram" and "DW_AT_virtuality" in c.attrs and "DW_AT_linkage_name" in c.attrs]
    signature = demangle(linkage)
    lines = []
    for name in sorted(types):
        entry = types[name]
        lines.append(f"{TYPE_TAGS[entry.tag]} {name} size {entry.attrs.get('DW_AT_byte_size', '?')}")
        for child in entry.children:
            attrs = child.attrs
            if child.tag == "DW_TAG_inheritance":
                lines.append(f"  base {type_name(entries, attrs.get('DW_AT_type'))} at "
                             f"{number(attrs['DW_AT_data_member_location'])}")
            elif child.tag == "DW_TAG_member" and "DW_AT_data_member_location" in attrs:
                lines.append(f"  member {attrs.get('DW_AT_name', '(anonymous)')} at "
                             f"{number(attrs['DW_AT_data_member_location'])}: {type_name(entries, attrs.get('DW_AT_type'))}")
            elif child.tag == "DW_TAG_enumerator":
                lines.append(f"  {attrs['DW_AT_name']} = {number(attrs['DW_AT_const_value'])}")
            elif child.tag == "DW_TAG_subprogram" and "DW_AT_virtuality" in attrs:
                what = signature.get(attrs.get("DW_AT_linkage_name"), attrs.get("DW_AT_name"))
                slot = attrs.get("DW_AT_vtable_elem_location")
                # g++ gives destructors (two slots each) no slot number; their place follows from the others'.
                where = f"slot {number(slot)}" if slot else "destructor"
                lines.append(f"  virtual {where}: {what}")
    return "\n".join(lines) + "\n"


def abi_version(plugin_abi_h):
    text = Path(plugin_abi_h).read_text()
    version = [re.search(rf"#define OFT_PLUGIN_ABI_{part}\s+(\d+)", text) for part in ("MAJOR", "MINOR")]
    if not all(version):
        sys.exit(f"{plugin_abi_h}: no '#define OFT_PLUGIN_ABI_MAJOR <n>' and '#define OFT_PLUGIN_ABI_MINOR <n>'")
    return f"{version[0][1]}.{version[1][1]}"


def header(version):
    return (f"# The oft plugin SDK's C++ ABI {version} (OFT_PLUGIN_ABI_MAJOR.MINOR in sdk/include/oft/sdk/plugin_abi.h)\n"
            f"# as g++ lays it out for this LibTorch. Written by scripts/update_sdk_abi_baseline.sh; never edited.\n")


def main(argv):
    if len(argv) == 2 and argv[0] == "layout":
        sys.stdout.write(layout(argv[1]))
        return 0
    if len(argv) not in (4, 5) or argv[0] not in ("check", "record") or argv[4:] not in ([], ["--force"]):
        sys.exit(__doc__)
    command, object_file, plugin_abi_h, baseline_dir = argv[:4]
    version = abi_version(plugin_abi_h)
    baseline = Path(baseline_dir) / f"abi-{version}.txt"
    current = header(version) + layout(object_file)
    recorded = baseline.read_text() if baseline.exists() else None
    if command == "record":
        if recorded not in (None, current) and "--force" not in argv:
            sys.exit(f"{baseline} already records ABI {version} with another layout, and a plugin built for "
                     f"{version} would break: bump the version in {plugin_abi_h} as its rules say (--force only "
                     f"while {version} is unreleased).")
        baseline.write_text(current)
        print(f"recorded the SDK's ABI {version} in {baseline}")
        return 0
    if recorded is None:
        sys.exit(f"no baseline for the SDK's ABI {version}: {baseline} is missing. After an intended ABI bump, "
                 f"record it with scripts/update_sdk_abi_baseline.sh and commit it.")
    if recorded != current:
        diff = difflib.unified_diff(recorded.splitlines(), current.splitlines(), str(baseline), "this build",
                                    lineterm="")
        print("\n".join(diff))
        sys.exit(f"the SDK's C++ ABI differs from {baseline} (see the diff above) while plugin_abi.h still says "
                 f"{version}: plugins built for {version} would call the wrong virtuals or read the wrong offsets. "
                 f"If the change is intended, bump OFT_PLUGIN_ABI_MAJOR or _MINOR in {plugin_abi_h} as its rules "
                 f"say, then run scripts/update_sdk_abi_baseline.sh and commit the new baseline.")
    print(f"the SDK's C++ ABI equals {baseline}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
