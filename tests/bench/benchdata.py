"""What the unit tests of scripts/benchlib share: the package on sys.path, and the output
captured from the real tools on this machine (data/, one file per tool and case)."""
import csv
import io
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))


def read(name):
    """The text of data/name."""
    with open(os.path.join(HERE, "data", name), encoding="utf-8") as file:
        return file.read()


def rows(name):
    """data/name, a CSV file, as a list of dicts."""
    return list(csv.DictReader(io.StringIO(read(name))))
