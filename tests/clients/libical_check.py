"""Run by Debian's python3 (not the project's venv: the GObject bindings are Debian's own).
Parses each ICS file named on the command line with libical (gir1.2-ical-3.0 / ICalGLib),
runs its iTIP restriction check, and prints, per file, the X-LIC-ERROR lines libical added."""

import json
import sys

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib  # noqa: E402

out = {}
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        comp = ICalGLib.Component.new_from_string(f.read())
    if comp is None:
        out[path] = {"parsed": False, "errors": ["libical could not parse the file"]}
        continue
    parse_errors = comp.count_errors()
    comp.check_restrictions()
    text = comp.as_ical_string().replace("\r\n ", "").replace("\n ", "")
    errors = [line for line in text.splitlines() if line.startswith("X-LIC-ERROR")]
    events = text.count("BEGIN:VEVENT")
    out[path] = {"parsed": True, "parse_errors": parse_errors, "errors": errors, "events": events}
print(json.dumps(out))
