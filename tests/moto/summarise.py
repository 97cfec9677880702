"""Summarises a moto run: counts, and failures compared with the suite's expected-failures-<suite>.txt.

Usage: summarise.py JUNIT_XML EXPECTED_FAILURES
Exit status 1 when a test that is not listed as expected to fail failed.
"""

import sys
import xml.etree.ElementTree as ET


def load_expected(path):
    expected = {}
    with open(path, encoding="utf-8") as listing:
        for line in listing:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            test, _, reason = line.partition(" ")
            expected[test] = reason.strip(" -")
    return expected


def main():
    junit, expected_path, suite = sys.argv[1], sys.argv[2], sys.argv[3]
    expected = load_expected(expected_path)
    passed, failed, skipped = [], [], []
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        name = f"{module}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        elif case.find("skipped") is not None:
            skipped.append(name)
        else:
            passed.append(name)
    total = len(passed) + len(failed) + len(skipped)
    print(f"moto test_{suite}: {len(passed)} passed, {len(failed)} failed, "
          f"{len(skipped)} skipped, {total} total")
    # A listed name without `[...]` covers every parametrization of that test (whose ids may
    # hold spaces, which a line of the listing cannot).
    listed = lambda name: name if name in expected else name.split("[", 1)[0]
    unexpected = [name for name in failed if listed(name) not in expected]
    fixed = [name for name in passed if listed(name) in expected]
    for name in sorted(failed):
        if listed(name) in expected:
            print(f"  expected failure: {name} ({expected[listed(name)]})")
    for name in fixed:
        print(f"  now passing (remove from the expected-failures list): {name}")
    for name in unexpected:
        print(f"  UNEXPECTED FAILURE: {name}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
