"""The model layer: one typed event model every later stage reads, and nothing else.

- ``events``: the event kinds, each declared once;
- ``timeline``: the merged events of a run on one clock;
- ``manifest``: what was captured, how, by which processes;
- ``layout``: the run directory's files;
- ``types``: the domain's vocabularies (side, mode, role...).

It imports nothing of the project's other layers.
"""
