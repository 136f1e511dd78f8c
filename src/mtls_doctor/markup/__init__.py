"""The HTML that the report and the dashboard share: small escaped builders (:mod:`.kit`),
server-side SVG charts (:mod:`.charts`), the page style (:mod:`.style`) and the sections of
a diagnosis (:mod:`.sections`). Below both ``report`` and ``web``, which never import each
other: each renders the same sections, the report with anchors, the dashboard with links
to its own pages."""
