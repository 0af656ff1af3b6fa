"""Deploy ``infra/template.yaml`` as a CloudFormation stack, the way ``sam deploy`` does.

Package the handlers (:mod:`.artifacts`), translate SAM (:mod:`.sam`), create and show a
change set (:mod:`.changes`), execute it and follow the stack's events (:mod:`.progress`),
print the outputs, tear it down: the flow is :mod:`.flow`. The target (:mod:`.target`) is the
local cloud unless an AWS profile or region is named together with the explicit AWS flag;
the command is :mod:`pipeline.deploy_command`.
"""
