"""Order Pipeline Workbench: design, run, simulate, deploy and audit an order pipeline.

The packages, bottom to top (a module imports only from below; ``lint-imports`` checks it,
with the contract in ``pyproject.toml``):

* :mod:`pipeline.domain` (the order, its events and lifecycle, the saga's step decisions,
  the bus contract, the remediation policy, the invariants), :mod:`pipeline.asl` (the
  Step Functions interpreter) and :mod:`pipeline.seeds`: pure, importing nothing of ours;
* :mod:`pipeline.template` (``infra/template.yaml``, the one source of truth) and
  :mod:`pipeline.faults` (injected faults, typed);
* :mod:`pipeline.adapters` (tables, topics, buckets, the gateway and carrier) and the
  deployment's parts (:mod:`pipeline.deploy`);
* :mod:`pipeline.handlers` (the Lambda functions), :mod:`pipeline.analytics` (the audit lake
  and local Athena) and the deployment flow;
* :mod:`pipeline.local` (the local cloud and runtime), :mod:`pipeline.sim` (the simulator)
  and :mod:`pipeline.diagrams`, independent of each other;
* the commands: :mod:`pipeline.demo`, :mod:`pipeline.chaos`, :mod:`pipeline.sim_vs_local`,
  :mod:`pipeline.deploy_command` and :mod:`pipeline.cli`.
"""

__version__ = "0.1.0"
