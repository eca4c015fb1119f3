"""Building knowledge bases at scale: PubMed-style sources read as their newest versions (``sources``), the same
build stages run in process or on a Ray cluster (``ray_build``), and a synthetic PubMed to try them on
(``synthetic``). Ray is imported only when a Ray build runs."""
