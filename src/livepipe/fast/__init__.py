"""Where livepipe is fast on purpose: the tricks that keep a 10k-page site at Hugo's speed
and a burst of 1,000 sends on time, each with the plain way it replaces. The rest of the
code calls them and stays plain; every one holds byte-identical output to the plain way
(tests check each against it).

Here:

- ``pagecache``: pages read by an earlier run, reused when their file did not change (one
  pickle per site outside the site tree, read by an unpickler that builds only livepipe's
  value types). Used by ``site.load``.
- ``parallel``: reading and rendering in worker processes when the site is big enough to
  pay for them (``shared_map``: the work handed over by fork, not pickled). Used by
  ``site.load`` and ``build.build``.
- ``yaml_scan``: front matter in the YAML subset pages use, read without PyYAML's
  composer (which falls back to PyYAML for anything else). Used by ``sources.files``.
- ``gc``: the cyclic garbage collector paused while a site loads and builds.
- ``pickling``: frozen dataclasses pickled as tuples (workers, the page cache).

Elsewhere, marked where they are (each is one function beside its plain version):
``render.ics.ICSRenderer.vevent_bytes`` (VEVENTs written directly, checked against
icalendar's component classes), ``sources.revisions`` (git commit times of every page from
one ``git log``), ``writer.OutputDir`` (unchanged files not rewritten, a manifest instead of
re-reading dist/), ``serve.DistFiles`` (files with their gzip and ETag kept between
requests while unchanged),
``send.Sender`` (one connection pool per channel, only the message parts a channel reads).
"""
