"""Order Pipeline Workbench: design, run, simulate, deploy and audit an order pipeline."""

__version__ = "0.1.0"
