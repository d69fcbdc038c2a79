"""The telco directory: prefix → operator, from the seed's YAML file (seed 000)."""

from tokend.broker.directory.entry import Secret, TelcoEntry
from tokend.broker.directory.live import LiveDirectory
from tokend.broker.directory.lookup import Directory
from tokend.broker.directory.validation import DirectoryInvalid, EntryRules, Problem, entry_rules
from tokend.broker.directory.yaml_file import parse_directory, read_directory, render_directory

__all__ = [
    "Directory",
    "DirectoryInvalid",
    "EntryRules",
    "LiveDirectory",
    "Problem",
    "Secret",
    "TelcoEntry",
    "entry_rules",
    "parse_directory",
    "read_directory",
    "render_directory",
]
