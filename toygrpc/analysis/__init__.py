"""The analysis layer: plain functions of a timeline (``chains``, ``stages``, ``swimlane``)
and ``Run``, the captured run with its analysis, which every renderer takes."""
