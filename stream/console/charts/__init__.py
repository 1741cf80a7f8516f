"""Charts of the patient page: server-rendered SVG geometry (``geometry``), the vitals, limits
and alerts of one patient (``vitals``) and nightly resting heart rate (``nights``)."""
