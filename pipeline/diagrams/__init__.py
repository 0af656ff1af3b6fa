"""Architecture diagrams drawn from ``infra/template.yaml`` (the ``diagrams`` package)."""
