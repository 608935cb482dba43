"""Lockdep reports: read one as the kernel prints it (``parse``), draft a scenario (``draft``).

``parse`` is pure text in, data out; ``draft`` turns that data into the
text of a scenario, with every guess it had to make said at the top.
``mpsim import lockdep`` (``commands.import_lockdep``) joins the two and
checks the draft with the scenario loader.
"""
