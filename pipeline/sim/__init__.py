"""The saga simulator: the template's topology driven on SimPy time (issue 4, in progress)."""
