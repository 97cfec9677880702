"""Writes a botocore service model the way crates/api/models keeps it.

Run with: python3 crates/api/models/strip.py SOURCE DEST
SOURCE is a botocore `service-2.json` or `service-2.json.gz`. The output is the same model,
minified, without its `documentation` strings (no code reads them); every other field is kept,
so a reader of the raw JSON sees what botocore has.
"""

import gzip
import json
import sys


def strip(value):
    if isinstance(value, dict):
        return {
            key: strip(inner)
            for key, inner in value.items()
            if not (key == "documentation" and isinstance(inner, str))
        }
    if isinstance(value, list):
        return [strip(inner) for inner in value]
    return value


def main(source, dest):
    opener = gzip.open if source.endswith(".gz") else open
    with opener(source, "rt", encoding="utf-8") as handle:
        model = json.load(handle)
    with open(dest, "w", encoding="utf-8") as handle:
        json.dump(strip(model), handle, separators=(",", ":"), ensure_ascii=False)
        handle.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
