"""The saga simulator: the template's topology and state machines driven on SimPy time, with
the domain's step decisions replayed on cheap orders, Lambda concurrency, quotas, latency and
failure models, cost; runs of hours at thousands of orders a minute in seconds to minutes
(:mod:`pipeline.sim.run` is the entry point, :mod:`pipeline.sim.experiments` the sweeps)."""
