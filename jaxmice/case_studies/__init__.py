"""The tutorial's case studies, runnable end to end (``jaxmice demo popmis``, ``examples/``)."""
